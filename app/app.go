// Package app assembles the gateway from its configuration and owns its
// lifecycle: New wires every component and opens the listeners, Run starts
// the servers and background loops, Drain stops intake and lets live calls
// finish, and Stop runs the named cleanups last-in-first-out and joins every
// goroutine the app started. The app never touches signals or os.Exit, so
// tests can run it in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/edge"
	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/live"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/gateway/outbound"
	"github.com/hotline12345/hotline-gw/gateway/recording"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/internal/journal"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/sdnotify"
	"github.com/hotline12345/hotline-gw/tlsconf"
	"github.com/hotline12345/hotline-gw/transfer"
)

// flushTimeout bounds stopping the call owners and flushing counts and
// tickets; serverStopTimeout bounds the graceful stop of the servers.
const (
	flushTimeout      = 10 * time.Second
	serverStopTimeout = 5 * time.Second
)

// App is one gateway process: its components, listeners and lifecycle.
type App struct {
	cfg *config.Config
	log *slog.Logger
	lc  *lifecycle

	httpLn, grpcLn net.Listener
	rdb            redis.UniversalClient
	journals       []*journal.Journal // spool.dir: counts and tickets not yet in Redis
	ari            *ari.Client
	svc            *gateway.Service
	counter        *count.Counter
	pool           *acd.Pool
	callbacks      *callback.Store
	police         *transfer.PoliceNotifier
	liveHub        *live.Hub
	webhook        *transfer.PoliceWebhook // transfer.police_webhook
	deliverer      *ticket.Deliverer
	recordings     *edge.RecordingsHTTP // GET /recordings/{ticket_id}
	recSweep       *recording.Sweeper   // recordings.retention
	grpc           *grpc.Server
	api            *localAPI // /api/v1/: HTTP/JSON over an in-process gRPC server
	health         *health.Server
	http           *http.Server
	guard          *auth.Guard
	grpcTLS        *tlsconf.ServerTLS
	httpTLS        *tlsconf.ServerTLS
	m              *metrics.Metrics
	plan           *line.Plan
	level          *slog.LevelVar // nil: the logger's level is fixed

	// live is the configuration whose live-reloadable settings are in
	// force (cfg at start, then each reload's); restart-only settings stay
	// those of cfg. reloadMu serialises reloads.
	live     atomic.Pointer[config.Config]
	reloadMu sync.Mutex

	started atomic.Bool
	bgWG    sync.WaitGroup // the background loops (stopped before Redis closes)
}

// New builds the gateway from a validated configuration. It opens the
// listeners first, so that a port in use is reported before anything
// connects; everything it opened is closed by Stop (also when New fails).
// Metrics go to reg, which also serves /metrics.
func New(cfg *config.Config, log *slog.Logger, reg *prometheus.Registry) (_ *App, err error) {
	lc := newLifecycle(log.With("component", "app"))
	a := &App{cfg: cfg, log: log, lc: lc, level: levelOf(log)}
	a.live.Store(cfg)
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), serverStopTimeout)
			defer cancel()
			_ = lc.stop(sctx)
		}
	}()
	// TLS material first: a missing or expired certificate stops the start.
	if a.grpcTLS, err = tlsconf.LoadServer("listen.grpc_tls", cfg.Listen.GRPCTLS); err != nil {
		return nil, err
	}
	if a.httpTLS, err = tlsconf.LoadServer("listen.http_tls", cfg.Listen.HTTPTLS); err != nil {
		return nil, err
	}
	if a.httpLn, err = net.Listen("tcp", cfg.Listen.HTTP); err != nil {
		return nil, fmt.Errorf("listen.http: %w", err)
	}
	a.lc.onStop("http listener", func(context.Context) error { return ignoreClosed(a.httpLn.Close()) })
	if a.grpcLn, err = net.Listen("tcp", cfg.Listen.GRPC); err != nil {
		return nil, fmt.Errorf("listen.grpc: %w", err)
	}
	a.lc.onStop("grpc listener", func(context.Context) error { return ignoreClosed(a.grpcLn.Close()) })

	a.httpLn = a.httpTLS.Listener(a.httpLn)

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	a.m = m
	m.Config.LastSuccess.SetToCurrentTime()
	loc := cfg.Location()

	creds, err := cfg.Credentials()
	if err != nil {
		return nil, err
	}
	ao := cfg.Auth.Options()
	ao.Registerer, ao.Log = reg, log.With("component", "auth")
	if a.guard, err = auth.NewGuard(creds, ao); err != nil {
		return nil, err
	}
	if a.rdb, err = store.Open(cfg.Redis); err != nil {
		return nil, err
	}
	a.lc.onStop("redis client", func(context.Context) error { return a.rdb.Close() })
	keys := store.NewKeys(cfg.Redis.KeyPrefix)
	countJ, countReplay, err := journal.OpenCompactAt(filepath.Join(cfg.Spool.Dir, "counts.journal"), cfg.Spool.CompactBytes)
	if err != nil {
		return nil, fmt.Errorf("spool.dir: %w", err)
	}
	a.lc.onStop("count journal", func(context.Context) error { return countJ.Close() })
	ticketJ, ticketReplay, err := journal.OpenCompactAt(filepath.Join(cfg.Spool.Dir, "tickets.journal"), cfg.Spool.CompactBytes)
	if err != nil {
		return nil, fmt.Errorf("spool.dir: %w", err)
	}
	a.lc.onStop("ticket journal", func(context.Context) error { return ticketJ.Close() })
	a.journals = []*journal.Journal{countJ, ticketJ}
	a.counter = count.New(count.Options{
		Redis: a.rdb, Keys: keys, Location: loc, Logger: log, Metrics: m.Calls,
		PendingLimit: cfg.Redis.PendingLimit, Timeout: cfg.Redis.Timeout.D(), Journal: countJ,
	})
	ariTLS, err := cfg.ARI.TLS.TLSConfig("ari.tls")
	if err != nil {
		return nil, err
	}
	a.counter.Replay(countReplay)
	if a.ari, err = ari.New(ari.Config{
		URL: cfg.ARI.URL, Username: cfg.ARI.Username, Password: cfg.ARI.Password,
		Application: cfg.ARI.Application, RequestTimeout: cfg.ARI.RequestTimeout.D(),
		QueueSize: cfg.ARI.QueueSize, MaxInflight: cfg.ARI.MaxInflight, PingInterval: cfg.ARI.PingInterval.D(), ReadTimeout: cfg.ARI.ReadTimeout.D(), TLS: ariTLS,
	}, log.With("component", "ari"), m.ARI); err != nil {
		return nil, err
	}
	a.lc.onStop("ari connections", func(context.Context) error { a.ari.CloseIdleConnections(); return nil })
	plan := line.New(cfg.Lines, cfg.Numbering)
	a.plan = plan
	var skills []string
	for _, l := range plan.Lines() {
		skills = append(skills, l.Skill)
	}
	a.pool = acd.New(acd.Options{Redis: a.rdb, Keys: keys, Logger: log.With("component", "acd"), Metrics: m.ACD,
		Skills: skills, Timeout: cfg.Redis.Timeout.D(), WrapUpMax: cfg.ACD.WrapUpCaps()})
	agentSrv := edge.NewAgentServer(a.pool, log.With("component", "agents"))
	xfers, err := transfer.New(cfg.Transfer, transfer.Deps{PBX: a.ari, Metrics: m.Transfers, Log: log.With("component", "transfer")})
	if err != nil {
		return nil, err
	}
	xferStore := transfer.NewStore(a.rdb, keys, transfer.StoreOptions{})
	policeRefs := store.PoliceRefs{Redis: a.rdb, Keys: keys}
	numbers, err := number.NewPolicy(cfg.Outbound.Numbers)
	if err != nil {
		return nil, fmt.Errorf("outbound.numbers: %w", err)
	}
	limiter, err := outbound.New(outbound.Options{Rate: cfg.Outbound.Rate, Burst: cfg.Outbound.Burst,
		MaxConcurrent: cfg.Outbound.MaxConcurrent, Metrics: m.Outbound})
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	if a.callbacks, err = callback.New(callback.Options{Redis: a.rdb, Keys: keys, Logger: log.With("component", "callbacks"),
		Metrics: m.Outbound, Location: loc, ClaimTTL: cfg.Outbound.CallbackClaimTTL.D(), Timeout: cfg.Redis.Timeout.D()}); err != nil {
		return nil, fmt.Errorf("callbacks: %w", err)
	}
	outbox := ticket.NewOutbox(ticket.OutboxOptions{Redis: a.rdb, Keys: keys, Logger: log, Metrics: m.Tickets, Timeout: cfg.Redis.Timeout.D()})
	if addr := cfg.Transfer.PoliceLink; addr != "" {
		creds, err := tlsconf.GRPCDialOption("transfer.police_link_tls", cfg.Transfer.PoliceLinkTLS)
		if err != nil {
			return nil, err
		}
		conn, err := grpc.NewClient(addr, creds)
		if err != nil {
			return nil, fmt.Errorf("transfer.police_link: %w", err)
		}
		a.lc.onStop("police-link client", func(context.Context) error { return conn.Close() })
		a.police = transfer.NewPoliceNotifier(hotlinev1.NewPoliceLinkClient(conn), cfg.Transfer.PoliceLinkToken, log.With("component", "police-link"))
	}
	if cfg.Transfer.PoliceWebhook.URL != "" {
		if a.webhook, err = transfer.NewPoliceWebhook(cfg.Transfer.PoliceWebhook, log.With("component", "police-webhook")); err != nil {
			return nil, err
		}
		a.webhook.UseOutbox(transfer.NewWebhookOutbox(a.rdb, keys))
	}
	if cfg.Tickets.Sink != "" {
		creds, err := tlsconf.GRPCDialOption("tickets.sink_tls", cfg.Tickets.SinkTLS)
		if err != nil {
			return nil, err
		}
		conn, err := grpc.NewClient(cfg.Tickets.Sink, append(ticket.DialOptions(), creds)...)
		if err != nil {
			return nil, fmt.Errorf("tickets.sink: %w", err)
		}
		a.lc.onStop("ticket-sink client", func(context.Context) error { return conn.Close() })
		topts := ticket.Options{
			Redis: a.rdb, Keys: keys, Consumer: cfg.Instance, Logger: log.With("component", "tickets"), Metrics: m.Tickets,
			Sink: ticket.NewGRPCSink(hotlinev1.NewTicketSinkClient(conn), cfg.Tickets.Timeout.D(), cfg.Tickets.Token),
		}
		cfg.Tickets.Apply(&topts)
		if a.deliverer, err = ticket.NewDeliverer(topts); err != nil {
			return nil, err
		}
	}
	// Each ticket's recording is noted in Redis as the ticket enters the
	// outbox: /recordings/{ticket_id} finds it after the call and after a
	// restart, and the retention sweep knows its age.
	recIndex := &recording.Index{Redis: a.rdb, Keys: keys, Retention: cfg.Recordings.Retention.D(), Timeout: cfg.Redis.Timeout.D()}
	a.recordings = &edge.RecordingsHTTP{Index: recIndex, Files: a.ari, Guard: a.guard, Log: log.With("component", "recordings"),
		Metrics: m.Recordings, LookupTimeout: cfg.ARI.RequestTimeout.D()}
	a.recSweep = &recording.Sweeper{Store: a.ari, Index: recIndex, Retention: cfg.Recordings.Retention.D(),
		Log: log.With("component", "recordings"), Metrics: m.Recordings, OpTimeout: cfg.ARI.RequestTimeout.D()}
	a.svc = gateway.New(gateway.Options{
		PBX: a.ari, Dispatcher: a.ari.Dispatcher(), Plan: plan, Counter: a.counter, Metrics: m,
		Logger: log, Location: loc, AnswerTarget: cfg.AnswerTarget.D(), OpTimeout: cfg.ARI.RequestTimeout.D(),
		MOHClass: cfg.ACD.MOHClass, Pool: a.pool, Groups: cfg.ACD.GroupFor, AgentEndpoint: cfg.ACD.AgentEndpoint,
		RingTimeout: cfg.ACD.RingTimeout.D(), RequireDesktop: cfg.ACD.RequireDesktop, ScreenPopLead: cfg.ACD.ScreenPopLead.D(), PollInterval: cfg.ACD.PollInterval.D(),
		Outbox: &recording.Outbox{Next: outbox, Index: recIndex}, Instance: cfg.Instance, Registry: store.CallRegistry{Redis: a.rdb, Keys: keys},
		Leases:        store.Leases{Redis: a.rdb, Keys: keys, TTL: cfg.Redis.InstanceLease.D()},
		TicketJournal: ticketJ, TicketReplay: ticketReplay,
		Transfers: xfers, TransferRecords: xferStore, From110DIDs: cfg.From110.DIDs, PoliceRefs: policeRefs,
		Police:  policeNotifiers(a.police, a.webhook),
		Limiter: limiter, OutboundCallerID: cfg.Outbound.CallerID, OutboundDialTemplate: cfg.Outbound.DialTemplate,
		CitizenRingTimeout: cfg.Outbound.CitizenRingTimeout.D(), Numbers: numbers, Callbacks: a.callbacks, Survey: cfg.Survey,
		Supervisor: cfg.Supervisor, DispositionWindow: cfg.Tickets.DispositionWindow.D(),
		Admission: cfg.Admission, Application: cfg.ARI.Application,
	})
	a.ari.SetOnConnect(a.svc.OnConnect)
	a.ari.SetOnDisconnect(a.svc.OnDisconnect)
	a.ari.SetOnReplaced(a.svc.OnReplaced)

	// gRPC: health, reflection and the hotline's services, every request
	// through the guard (auth.DefaultPolicy) and over listen.grpc_tls.
	rpcLog := log.With("component", "grpc")
	a.grpc = grpc.NewServer(append(a.guard.ServerOptions(), a.grpcTLS.GRPCServerOption())...)
	a.health = health.NewServer()
	registerHealth(a.grpc, a.health)
	reflectionOn := auth.RegisterReflection(a.grpc, cfg.Auth.Reflection)
	statsSrv := &edge.StatsServer{Counter: a.counter, Plan: plan, Location: loc, AnswerTarget: cfg.AnswerTarget.D(), Log: rpcLog}
	callSrv := &edge.CallServer{Service: a.svc, Auth: auth.Agents{}, Numbers: numbers,
		Callbacks: a.callbacks, Outcome: m.Outbound.CallEnded, Log: rpcLog}
	xferSrv := &edge.TransferServer{Service: a.svc, Auth: auth.Agents{}, Records: xferStore, PoliceRefs: policeRefs, Log: rpcLog}
	a.liveHub = live.NewHub(live.HubOptions{
		Source: &live.Source{Board: a.pool, Counts: a.counter, Calls: store.CallRegistry{Redis: a.rdb, Keys: keys}, Plan: plan,
			Location: loc, AnswerTarget: cfg.AnswerTarget.D(), ConnectRateTarget: cfg.Live.ConnectRateTarget},
		Interval: cfg.Live.RefreshInterval.D(), Ready: a.Ready, Instance: cfg.Instance, Metrics: m.Live,
		Logger: log.With("component", "live"),
	})
	liveSrv := &edge.LiveServer{Live: a.liveHub, Log: rpcLog}
	adminSrv := &edge.AdminServer{Pool: a.pool, Calls: store.CallRegistry{Redis: a.rdb, Keys: keys}, Dead: outbox, Log: rpcLog}
	superSrv := &edge.SupervisorServer{Service: a.svc, Agents: a.pool, Log: rpcLog}
	dispSrv := &edge.DispositionServer{Service: a.svc, Log: rpcLog}
	// registerServices registers the hotline's services on the gRPC
	// listener's server and on the in-process one behind /api/v1/.
	registerServices := func(s grpc.ServiceRegistrar) {
		hotlinev1.RegisterStatsServiceServer(s, statsSrv)
		agentSrv.Register(s)
		hotlinev1.RegisterCallServiceServer(s, callSrv)
		hotlinev1.RegisterTransferServiceServer(s, xferSrv)
		hotlinev1.RegisterLiveServiceServer(s, liveSrv)
		hotlinev1.RegisterAdminServiceServer(s, adminSrv)
		hotlinev1.RegisterSupervisorServiceServer(s, superSrv)
		hotlinev1.RegisterDispositionServiceServer(s, dispSrv)
	}
	registerServices(a.grpc)
	if err := a.newLocalAPI(registerServices); err != nil {
		return nil, err
	}

	log.Info("grpc and http security", "grpc_tls", !a.grpcTLS.Plaintext(), "grpc_mtls", a.grpcTLS.MutualTLS(),
		"http_tls", !a.httpTLS.Plaintext(), "reflection", reflectionOn, "credentials", len(creds))
	a.http = &http.Server{Handler: a.httpHandler(reg), ReadHeaderTimeout: 5 * time.Second}
	a.http.RegisterOnShutdown(a.api.http.Close) // event streams end, so Shutdown need not wait for them
	a.lc.onStop("servers", a.stopServers)
	return a, nil
}

// HTTPAddr and GRPCAddr are the addresses the app listens on (useful with
// port 0 in tests).
func (a *App) HTTPAddr() string { return a.httpLn.Addr().String() }

// GRPCAddr is the gRPC listener's address.
func (a *App) GRPCAddr() string { return a.grpcLn.Addr().String() }

// Ready reports whether ARI is connected and the gateway takes calls.
func (a *App) Ready() bool { return a.ari.Ready() && a.svc.Accepting() }

// Run starts the servers, the ARI connection and the background loops, and
// blocks until ctx ends (nil) or a server fails (its error). It does not
// stop anything: call Drain and/or Stop after it returns.
func (a *App) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("app: Run called twice")
	}
	cfg := a.cfg
	errc := make(chan error, 3)
	a.lc.goGroup("http server", nil, func() { errc <- ignoreClosed(a.http.Serve(a.httpLn)) })
	a.lc.goGroup("grpc server", nil, func() { errc <- ignoreClosed(a.grpc.Serve(a.grpcLn)) })
	a.lc.goGroup("http api grpc server", nil, func() { errc <- ignoreClosed(a.api.srv.Serve(a.api.lis)) })

	// Background loops run under bg, cancelled and joined by the
	// "background loops" cleanup, before Redis and the clients close.
	bg, stopBG := context.WithCancel(context.Background())
	a.lc.onStop("background loops", func(ctx context.Context) error {
		stopBG()
		return waitCtx(ctx, &a.bgWG)
	})
	goBG := func(name string, fn func(context.Context)) { a.lc.goGroup(name, &a.bgWG, func() { fn(bg) }) }
	goBG("counter", a.counter.Run)
	for _, j := range a.journals {
		goBG("journal sync", func(ctx context.Context) {
			j.Run(ctx, cfg.Spool.SyncEvery.D(), func(err error) { a.log.Error("spool journal not synced", "err", err) })
		})
	}
	if a.police != nil {
		goBG("police-link", a.police.Run)
	}
	if a.webhook != nil {
		goBG("police-webhook", a.webhook.Run)
	}
	goBG("agent sweep", func(ctx context.Context) {
		a.pool.Run(ctx, acd.RunOptions{Live: a.svc.CallLive, Interval: cfg.ACD.SweepInterval.D(), MinAge: cfg.ACD.SweepMinAge.D()})
	})
	goBG("call-back sweep", func(ctx context.Context) { every(ctx, time.Minute, a.sweepCallbacks) })
	goBG("bridge sweep", func(ctx context.Context) {
		every(ctx, cfg.ACD.SweepInterval.D()*10, func(ctx context.Context) {
			if a.ari.Ready() {
				a.svc.SweepBridges(ctx)
				a.svc.ReapUnobserved(ctx)
			}
		})
	})
	if a.deliverer != nil {
		goBG("ticket delivery", a.deliverer.Run)
	} else {
		a.log.Warn("tickets.sink not set: tickets stay in the Redis outbox until a sink is configured")
	}
	goBG("ari", func(ctx context.Context) { _ = a.ari.Run(ctx) })
	goBG("health", func(ctx context.Context) { watchHealth(ctx, a.health, a.Ready) })
	goBG("event loop watch", a.watchLoop)
	goBG("live figures", a.liveHub.Run)
	if cfg.Recordings.Retention > 0 {
		goBG("recording retention", func(ctx context.Context) { a.recSweep.Run(ctx, cfg.Recordings.SweepInterval.D()) })
	}

	a.svc.Start()
	a.lc.onStop("call owners", a.closeCalls)
	a.lc.onStop("intake", func(context.Context) error { a.health.Shutdown(); return nil })
	a.log.Info("hotline-gw started", "http", a.HTTPAddr(), "grpc", a.GRPCAddr(),
		"ari", cfg.ARI.URL, "application", cfg.ARI.Application, "lines", len(cfg.Lines))

	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// Drain stops intake (readiness and gRPC health go NOT_SERVING; a call that
// still arrives goes back to the dialplan) and waits for live calls to end,
// for shutdown.drain_timeout or until ctx ends. It returns the number of
// calls still live; Stop leaves them in Asterisk for the next gateway.
func (a *App) Drain(ctx context.Context) int {
	if !a.started.Load() {
		return 0
	}
	timeout := a.live.Load().Shutdown.DrainTimeout.D()
	a.log.Info("shutting down: intake stopped, draining live calls", "active", a.svc.Active(), "timeout", timeout)
	a.health.Shutdown()
	a.notify(sdnotify.Stopping, "STATUS=draining live calls")
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	left := a.svc.Drain(dctx)
	if left > 0 {
		a.log.Warn("drain timeout: calls left to Asterisk; a restarted gateway adopts them", "left", left)
	}
	return left
}

// Stop stops the app now: intake closed, call owners stopped (their calls
// stay in Asterisk for the next gateway to adopt), counts and tickets
// flushed to Redis, background loops and servers stopped, clients closed,
// and every goroutine joined, each step logged by name, all under ctx.
// It is safe to call more than once and after a failed Run.
func (a *App) Stop(ctx context.Context) error {
	if a.started.Load() {
		a.notify(sdnotify.Stopping)
	}
	err := a.lc.stop(ctx)
	if err != nil {
		a.log.Error("hotline-gw stopped with errors", "err", err)
		return err
	}
	a.log.Info("hotline-gw stopped")
	return nil
}

// closeCalls stops every call owner and flushes tickets and counts.
func (a *App) closeCalls(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	var errs []error
	if err := a.svc.Close(fctx); err != nil {
		errs = append(errs, fmt.Errorf("tickets not flushed: %w", err))
	}
	if err := a.counter.Flush(fctx); err != nil {
		errs = append(errs, fmt.Errorf("counts not flushed: %w", err))
	}
	return errors.Join(errs...)
}

// stopServers shuts the HTTP server down and stops gRPC gracefully, forcing
// it when the graceful stop takes longer than serverStopTimeout.
func (a *App) stopServers(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, serverStopTimeout)
	defer cancel()
	err := a.http.Shutdown(sctx)
	for _, s := range []*grpc.Server{a.api.srv, a.grpc} {
		stopped := make(chan struct{})
		go func() { s.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-sctx.Done():
			s.Stop()
			<-stopped
		}
	}
	if err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

func (a *App) sweepCallbacks(ctx context.Context) {
	if n, err := a.callbacks.Sweep(ctx, 1000); err != nil {
		a.log.Warn("call-back sweep failed", "err", err)
	} else if n > 0 {
		a.log.Info("call-back tasks reopened after their claim lapsed", "tasks", n)
	}
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// every runs fn every interval until ctx ends, with a deadline per run.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, interval/2)
			fn(rctx)
			cancel()
		}
	}
}

// policeNotifiers is what tells 110 of transfer records: PoliceLink,
// the webhook, both or none (a nil interface).
func policeNotifiers(p *transfer.PoliceNotifier, w *transfer.PoliceWebhook) interface {
	Notify(*hotlinev1.TransferRecord)
} {
	var ns multiNotifier
	if p != nil {
		ns = append(ns, p)
	}
	if w != nil {
		ns = append(ns, w)
	}
	if len(ns) == 0 {
		return nil
	}
	return ns
}

type multiNotifier []interface {
	Notify(*hotlinev1.TransferRecord)
}

func (m multiNotifier) Notify(rec *hotlinev1.TransferRecord) {
	for _, n := range m {
		n.Notify(rec)
	}
}
