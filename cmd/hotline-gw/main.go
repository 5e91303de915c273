// Command hotline-gw is the 12345 hotline's telephony gateway: it controls
// the calls in Asterisk's Stasis application over ARI, counts them in Redis
// and serves gRPC and Prometheus.
//
//	hotline-gw -config configs/gateway.example.yaml
//
// SIGTERM or SIGINT drains: intake stops (health NOT_SERVING), live calls may
// finish for shutdown.drain_timeout, counts are flushed, then it exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/buildinfo"
	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/gateway/outbound"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/transfer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// run is the whole daemon; it returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hotline-gw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "configs/gateway.example.yaml", "configuration file (YAML)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Fprintln(os.Stdout, buildinfo.Line("hotline-gw"))
		return 0
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "hotline-gw: %s\n", oneLine(err))
		return 2
	}
	transfer.SetDefaults(&cfg.Transfer)
	if err := transfer.ValidateConfig(&cfg.Transfer); err != nil {
		fmt.Fprintf(stderr, "hotline-gw: %s\n", oneLine(err))
		return 2
	}
	if *check {
		fmt.Fprintln(stderr, "hotline-gw: configuration OK")
		return 0
	}
	log := newLogger(cfg.Log, stderr)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("hotline-gw stopped", "err", err)
		fmt.Fprintf(stderr, "hotline-gw: %s\n", oneLine(err))
		return 1
	}
	return 0
}

// oneLine joins a multi-error into one line for the operator.
func oneLine(err error) string {
	s := err.Error()
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	// Listen first: a port in use is a configuration error, reported before
	// anything connects.
	httpLn, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		return fmt.Errorf("listen.http: %w", err)
	}
	grpcLn, err := net.Listen("tcp", cfg.Listen.GRPC)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("listen.grpc: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	loc := cfg.Location()

	rdb := store.Open(cfg.Redis)
	defer rdb.Close()
	keys := store.NewKeys(cfg.Redis.KeyPrefix)
	counter := count.New(count.Options{
		Redis: rdb, Keys: keys, Location: loc, Logger: log, Metrics: m.Calls,
		PendingLimit: cfg.Redis.PendingLimit, Timeout: cfg.Redis.Timeout.D(),
	})

	ac, err := ari.New(ari.Config{
		URL: cfg.ARI.URL, Username: cfg.ARI.Username, Password: cfg.ARI.Password,
		Application: cfg.ARI.Application, RequestTimeout: cfg.ARI.RequestTimeout.D(),
		QueueSize: cfg.ARI.QueueSize,
	}, log.With("component", "ari"), m.ARI)
	if err != nil {
		return err
	}
	plan := line.New(cfg.Lines, cfg.Numbering)
	var skills []string
	for _, l := range plan.Lines() {
		skills = append(skills, l.Skill)
	}
	pool := acd.New(acd.Options{Redis: rdb, Keys: keys, Logger: log.With("component", "acd"), Metrics: m.ACD,
		Skills: skills, Timeout: cfg.Redis.Timeout.D()})
	tokens := map[string]string{}
	for _, a := range cfg.ACD.Agents {
		tokens[a.Extension] = a.Token
	}
	agentSrv, err := acd.NewServer(pool, tokens, log.With("component", "agents"))
	if err != nil {
		return err
	}
	xfers, err := transfer.New(cfg.Transfer, transfer.Deps{PBX: ac, Metrics: m.Transfers, Log: log.With("component", "transfer")})
	if err != nil {
		return err
	}
	xferStore := transfer.NewStore(rdb, keys, transfer.StoreOptions{})
	policeRefs := gateway.RedisPoliceRefs{Redis: rdb, Keys: keys}
	numbers, err := number.NewPolicy(cfg.Outbound.Numbers)
	if err != nil {
		return fmt.Errorf("outbound.numbers: %w", err)
	}
	limiter, err := outbound.New(outbound.Options{Rate: cfg.Outbound.Rate, Burst: cfg.Outbound.Burst,
		MaxConcurrent: cfg.Outbound.MaxConcurrent, Metrics: m.Outbound})
	if err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	callbacks, err := callback.New(callback.Options{Redis: rdb, Keys: keys, Logger: log.With("component", "callbacks"),
		Metrics: m.Outbound, Location: loc, ClaimTTL: cfg.Outbound.CallbackClaimTTL.D(), Timeout: cfg.Redis.Timeout.D()})
	if err != nil {
		return fmt.Errorf("callbacks: %w", err)
	}
	outbox := ticket.NewOutbox(ticket.OutboxOptions{Redis: rdb, Keys: keys, Logger: log, Metrics: m.Tickets, Timeout: cfg.Redis.Timeout.D()})
	var police *gateway.PoliceNotifier
	if addr := cfg.Transfer.PoliceLink; addr != "" {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("transfer.police_link: %w", err)
		}
		defer conn.Close()
		police = gateway.NewPoliceNotifier(hotlinev1.NewPoliceLinkClient(conn), cfg.Transfer.PoliceLinkToken, log.With("component", "police-link"))
	}
	svc := gateway.New(gateway.Options{
		PBX: ac, Dispatcher: ac.Dispatcher(), Plan: plan, Counter: counter, Metrics: m,
		Logger: log, Location: loc, AnswerTarget: cfg.AnswerTarget.D(), OpTimeout: cfg.ARI.RequestTimeout.D(),
		MOHClass: cfg.ACD.MOHClass, Pool: pool, Groups: cfg.ACD.GroupFor, AgentEndpoint: cfg.ACD.AgentEndpoint,
		RingTimeout: cfg.ACD.RingTimeout.D(), RequireDesktop: cfg.ACD.RequireDesktop, PollInterval: cfg.ACD.PollInterval.D(),
		Outbox: outbox, Instance: cfg.Instance, Registry: gateway.CallRegistry{Redis: rdb, Keys: keys},
		Transfers: xfers, TransferRecords: xferStore, From110DIDs: cfg.From110.DIDs, PoliceRefs: policeRefs,
		Police:  policeNotifier(police),
		Limiter: limiter, OutboundCallerID: cfg.Outbound.CallerID, OutboundDialTemplate: cfg.Outbound.DialTemplate,
		CitizenRingTimeout: cfg.Outbound.CitizenRingTimeout.D(), Numbers: numbers, Callbacks: callbacks, Survey: cfg.Survey,
	})
	ac.SetOnConnect(svc.OnConnect)
	ac.SetOnDisconnect(svc.OnDisconnect)
	ac.SetOnReplaced(svc.OnReplaced)

	// gRPC: health, reflection and the hotline's services.
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	hotlinev1.RegisterStatsServiceServer(gs, &gateway.StatsServer{Counter: counter, Plan: plan, Location: loc, AnswerTarget: cfg.AnswerTarget.D()})
	agentSrv.Register(gs)
	hotlinev1.RegisterCallServiceServer(gs, &gateway.CallServer{Service: svc, Auth: agentSrv, Numbers: numbers,
		Callbacks: callbacks, Outcome: m.Outbound.CallEnded})
	hotlinev1.RegisterTransferServiceServer(gs, &gateway.TransferServer{Service: svc, Auth: agentSrv, Records: xferStore, PoliceRefs: policeRefs})

	// HTTP: metrics and probes.
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ac.Ready() && svc.Accepting() {
			io.WriteString(w, "ready\n")
			return
		}
		http.Error(w, fmt.Sprintf("not ready: ari_ready=%t accepting=%t", ac.Ready(), svc.Accepting()), http.StatusServiceUnavailable)
	})
	if cfg.Listen.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	hsrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	errc := make(chan error, 3)
	go func() { errc <- ignoreClosed(hsrv.Serve(httpLn)) }()
	go func() { errc <- ignoreClosed(gs.Serve(grpcLn)) }()
	go counter.Run(bg)
	if police != nil {
		go police.Run(bg)
	}
	go pool.Run(bg, acd.RunOptions{Live: svc.CallLive, Interval: cfg.ACD.SweepInterval.D(), MinAge: cfg.ACD.SweepMinAge.D()})
	go every(bg, time.Minute, func(ctx context.Context) {
		if n, err := callbacks.Sweep(ctx, 1000); err != nil {
			log.Warn("call-back sweep failed", "err", err)
		} else if n > 0 {
			log.Info("call-back tasks reopened after their claim lapsed", "tasks", n)
		}
	})
	go every(bg, cfg.ACD.SweepInterval.D()*10, func(ctx context.Context) {
		if ac.Ready() {
			svc.SweepBridges(ctx)
			svc.ReapUnobserved(ctx)
		}
	})
	if cfg.Tickets.Sink != "" {
		conn, err := grpc.NewClient(cfg.Tickets.Sink, append(ticket.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			return fmt.Errorf("tickets.sink: %w", err)
		}
		defer conn.Close()
		del, err := ticket.NewDeliverer(ticket.Options{
			Redis: rdb, Keys: keys, Consumer: cfg.Instance, Logger: log.With("component", "tickets"), Metrics: m.Tickets,
			Sink:    ticket.NewGRPCSink(hotlinev1.NewTicketSinkClient(conn), cfg.Tickets.Timeout.D(), cfg.Tickets.Token),
			Workers: cfg.Tickets.Workers,
		})
		if err != nil {
			return err
		}
		go del.Run(bg)
	} else {
		log.Warn("tickets.sink not set: tickets stay in the Redis outbox until a sink is configured")
	}
	ariDone := make(chan struct{})
	go func() { defer close(ariDone); _ = ac.Run(bg) }()
	go watchHealth(bg, hs, func() bool { return ac.Ready() && svc.Accepting() })

	svc.Start()
	log.Info("hotline-gw started", "http", httpLn.Addr().String(), "grpc", grpcLn.Addr().String(),
		"ari", cfg.ARI.URL, "application", cfg.ARI.Application, "lines", len(cfg.Lines))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}

	// Phase 1: stop intake, let live calls finish.
	log.Info("shutting down: intake stopped, draining live calls", "active", svc.Active(), "timeout", cfg.Shutdown.DrainTimeout.D())
	hs.Shutdown()
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.DrainTimeout.D())
	left := svc.Drain(dctx)
	cancel()
	if left > 0 {
		log.Warn("drain timeout: calls left to Asterisk; a restarted gateway adopts them", "left", left)
	}
	// Phase 2: stop the owners still live (their calls stay in Asterisk for
	// a restarted gateway to adopt), flush counts and tickets, stop servers.
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := svc.Close(fctx); err != nil {
		log.Error("tickets not flushed", "err", err)
	}
	if err := counter.Flush(fctx); err != nil {
		log.Error("counts not flushed", "err", err)
	}
	cancel()
	stopBG()
	<-ariDone
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hsrv.Shutdown(sctx)
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		gs.Stop()
	}
	log.Info("hotline-gw stopped")
	return runErr
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// watchHealth mirrors readiness into the gRPC health service.
func watchHealth(ctx context.Context, hs *health.Server, ready func() bool) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if ready() {
			st = healthpb.HealthCheckResponse_SERVING
		}
		if st != last {
			hs.SetServingStatus("", st)
			hs.SetServingStatus("hotline.v1.StatsService", st)
			last = st
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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

// policeNotifier keeps a nil *PoliceNotifier a nil interface.
func policeNotifier(p *gateway.PoliceNotifier) interface {
	Notify(*hotlinev1.TransferRecord)
} {
	if p == nil {
		return nil
	}
	return p
}
