// Package gateway owns the hotline's calls: it classifies each call that
// enters the Stasis application, counts it, holds it, routes it and ends it.
// Each call has one owner goroutine (see call.go) that receives the call's
// ARI events in order; everything else talks to the owner by message.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/internal/journal"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/transfer"
)

// How a call entered (the Stasis argument; see package dialplan).
const (
	EntryInbound  = dialplan.EntryInbound
	EntryFrom110  = dialplan.EntryFrom110
	EntryOutbound = dialplan.EntryOutbound
)

// Options are the Service's collaborators and settings.
type Options struct {
	PBX          PBX
	Dispatcher   *ari.Dispatcher
	Plan         *line.Plan
	Counter      *count.Counter
	Metrics      *metrics.Metrics
	Logger       *slog.Logger
	Location     *time.Location
	AnswerTarget time.Duration
	// OpTimeout bounds each ARI request a call owner makes.
	OpTimeout time.Duration
	// MOHClass is the music-on-hold class for waiting callers ("default").
	MOHClass string

	// Routing; a nil Pool holds callers until they hang up.
	Pool           *acd.Pool
	Groups         func(skill string) acd.Group
	AgentEndpoint  string // "PJSIP/agent{ext}"
	RingTimeout    time.Duration
	RequireDesktop bool
	// MOHDelay is how long a queued caller waits before hold music starts:
	// a call an agent takes within it never gets (nor stops) music on
	// hold. Default DefaultMOHDelay; negative: at once.
	MOHDelay     time.Duration
	PollInterval time.Duration
	// ScreenPopLead: the agent's phone rings this long after a desktop
	// received the screen pop (acd.screen_pop_lead).
	ScreenPopLead time.Duration

	// One-key transfer; nil disables it.
	Transfers       *transfer.Manager
	TransferRecords TransferRecords
	// From110DIDs are dialled numbers that mark a call as transferred from 110.
	From110DIDs []string
	// PoliceRefs holds 110 case references pushed before the call arrived.
	PoliceRefs PoliceRefs
	// Police receives every change of a transfer record (the 110
	// platform's PoliceLink); nil when not configured.
	Police interface {
		Notify(*hotlinev1.TransferRecord)
	}

	// Outbound calls, call-backs and the survey.
	Limiter              Limiter
	OutboundCallerID     string
	OutboundDialTemplate string
	CitizenRingTimeout   time.Duration
	Numbers              *number.Policy
	Callbacks            CallbackTasks
	Survey               SurveyConfig
	// Supervisor rings supervisors' phones (supervise.go).
	Supervisor SupervisorConfig
	// DispositionWindow holds an agent call's ticket this long after the
	// call for its disposition (disposition.go); 0: dispositions only
	// while the call lasts.
	DispositionWindow time.Duration

	// Tickets; nil drops them (tests only).
	Outbox   TicketOutbox
	Instance string
	// TicketJournal keeps the tickets not yet in the outbox on local disk
	// (spool.dir); nil keeps them in memory only. TicketReplay are the ones
	// a previous process left in it (journal.Open), spooled again at Start.
	TicketJournal *journal.Journal
	TicketReplay  []journal.Record
	// Registry of live calls, so that calls ending unobserved still get
	// their ticket; nil disables it.
	Registry Registry
	// Admission is admission control (admission.go): limits of 0 are no
	// limit; AnswerAttempts 0 is the default.
	Admission AdmissionConfig
	// Application is the Stasis application, which names the dialplan's
	// admit flag (dialplan.AdmitGlobal); empty: no flag.
	Application string
	// Leases are the instances' heartbeats (store.Leases): this instance
	// renews its own, and the reaper leaves the calls of an instance whose
	// lease is current to that instance. Nil: every instance is taken for
	// gone (the reaper's behaviour before leases).
	Leases Leases
}

// Limiter bounds outbound calls (outbound.Limiter).
type Limiter interface {
	Acquire(ctx context.Context) (release func(), err error)
}

// CallbackTasks are the missed-call call-back tasks (callback.Store).
type CallbackTasks interface {
	Add(ctx context.Context, t callback.Task) (callback.Task, bool, error)
	Complete(ctx context.Context, id, agentExt, outboundCallID, result string) error
}

// Service holds the live calls and accepts new ones.
type Service struct {
	o   Options
	log *slog.Logger

	ctx    context.Context // parent of every call owner
	cancel context.CancelFunc
	// bg runs the router and the ticket spool; it outlives the owners so
	// that their last tickets are flushed.
	bg       context.Context
	bgCancel context.CancelFunc

	accepting atomic.Bool
	wg        sync.WaitGroup

	mu      sync.Mutex
	calls   map[string]*Call   // by call ID (the caller channel's ID)
	closing bool               // Close has begun: no new owners
	from110 map[string][]*Call // live calls from 110, by caller number (for 110's references)

	router  *router
	steps   steps // a call's Redis writes, one pipeline per step (steps.go)
	tickets *ticketSpool
	bgDone  chan struct{}
	held    heldTickets // tickets waiting for their disposition

	waits waitStats // recent answer waits per skill (announcements)

	reapMu   sync.Mutex
	suspects map[string]bool // registered calls found gone at the last reap

	adm admission // admission control (admission.go)
}

// New returns a Service; it accepts calls once Start is called.
// DefaultMOHDelay is the default of Options.MOHDelay.
const DefaultMOHDelay = 300 * time.Millisecond

func New(o Options) *Service {
	if o.OpTimeout <= 0 {
		o.OpTimeout = 3 * time.Second
	}
	if o.MOHClass == "" {
		o.MOHClass = "default"
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Groups == nil {
		o.Groups = func(skill string) acd.Group { return acd.Group{Skill: skill} }
	}
	if o.RingTimeout <= 0 {
		o.RingTimeout = 15 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.MOHDelay == 0 {
		o.MOHDelay = DefaultMOHDelay
	}
	if o.Supervisor.Endpoint == "" {
		o.Supervisor = DefaultSupervisorConfig()
	}
	if o.AgentEndpoint == "" {
		o.AgentEndpoint = "PJSIP/agent{ext}"
	}
	if o.Admission.AnswerAttempts <= 0 {
		o.Admission.AnswerAttempts = DefaultAdmissionConfig().AnswerAttempts
	}
	ctx, cancel := context.WithCancel(context.Background())
	bg, bgCancel := context.WithCancel(context.Background())
	s := &Service{o: o, log: o.Logger, ctx: ctx, cancel: cancel, bg: bg, bgCancel: bgCancel,
		calls: map[string]*Call{}, from110: map[string][]*Call{}, bgDone: make(chan struct{})}
	s.adm.cfg = o.Admission
	s.adm.kick = make(chan struct{}, 1)
	if o.Pool != nil {
		s.router = newRouter(o.Pool, o.Logger, o.Metrics.Router, o.PollInterval)
	}
	s.steps = newSteps(o)
	if o.Outbox != nil {
		s.tickets = newTicketSpool(o.Outbox, o.Logger, 100000)
		s.tickets.j = o.TicketJournal
		s.tickets.onEnqueued = s.unregister
	}
	o.Dispatcher.SetNewOwner(s.newOwner)
	return s
}

// Start opens intake and starts the router and the ticket spool; they stop
// with Close.
func (s *Service) Start() {
	var wg sync.WaitGroup
	if s.router != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.router.run(s.bg) }()
	}
	if s.tickets != nil {
		s.tickets.replay(s.o.TicketReplay)
		wg.Add(1)
		go func() { defer wg.Done(); s.tickets.run(s.bg) }()
	}
	if s.o.Leases != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.renewLease(s.bg) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.runFlag(s.bg) }()
	go func() { wg.Wait(); close(s.bgDone) }()
	s.accepting.Store(true)
}

// submitTicket writes a finished call's ticket to the outbox (a Redis
// stream) before the call's owner ends, so that a crash right after loses
// nothing; while Redis is unreachable the ticket goes to the local journal
// (durable across a SIGKILL, replayed at start) and the spool keeps
// retrying. The call leaves the live-call registry only once its ticket is
// in Redis.
func (s *Service) submitTicket(t *hotlinev1.Ticket) {
	if s.tickets == nil || s.holdForDisposition(t) {
		return
	}
	s.enqueueTicket(t, false)
}

// enqueueTicket is submitTicket's hand-off to the outbox; journaled: t is
// in the journal already (a held ticket, disposition.go).
func (s *Service) enqueueTicket(t *hotlinev1.Ticket, journaled bool) {
	s.countDisposition(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := s.o.Outbox.Enqueue(ctx, t)
	cancel()
	if err == nil {
		if journaled {
			s.tickets.enqueued(t) // marks it done in the journal and unregisters
		} else {
			s.unregister(t.GetCallId())
		}
		return
	}
	s.log.Warn("ticket not yet in the outbox; spooled for retry", "ticket_id", t.GetTicketId(), "err", err)
	s.tickets.journal(t)
	s.tickets.add(t)
}

// unregister removes a call from the registry once its ticket is in Redis.
func (s *Service) unregister(callID string) {
	if s.o.Registry == nil || callID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := s.o.Registry.Leave(ctx, callID); err != nil {
		s.log.Debug("call not unregistered (the reaper will)", "call_id", callID, "err", err)
	}
}

// FlushTickets waits until every finished call's ticket is in the outbox.
func (s *Service) FlushTickets(ctx context.Context) error {
	if s.tickets == nil {
		return nil
	}
	return s.tickets.flush(ctx)
}

// CallLive reports whether a call is live on this instance or its caller
// channel still exists in Asterisk (for the agent pool's sweeper).
func (s *Service) CallLive(ctx context.Context, callID string) (bool, error) {
	if _, ok := s.call(callID); ok {
		return true, nil
	}
	_, err := s.o.PBX.Channel(ctx, callID)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ari.ErrNotFound):
		return false, nil
	}
	return false, err
}

// Accepting reports whether new calls are taken (false while draining).
func (s *Service) Accepting() bool { return s.accepting.Load() }

// Active returns the number of live calls.
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// newOwner runs on the ARI reader goroutine for a StasisStart of a channel
// no call owns: it creates the call's owner. It must not block.
func (s *Service) newOwner(ev *ariv5.StasisStart) *ari.Mailbox {
	return s.newOwnerOf(ev, nil)
}

// newOwnerOf creates the owner of a call; a (not nil) is what a previous
// gateway left of a call adopted connected.
func (s *Service) newOwnerOf(ev *ariv5.StasisStart, a *adoption) *ari.Mailbox {
	ch := ev.Channel
	if ch.ID == "" {
		return nil
	}
	c := s.newCall(ch.ID, ev)
	c.adopted = a
	mb := s.o.Dispatcher.NewMailbox(ch.ID, 0)
	c.mb = mb
	if !s.spawn(c, func() { s.o.Dispatcher.Attach(ari.KindChannel, ch.ID, mb) }) {
		// Owners are being stopped: the channel stays in Asterisk for the
		// next gateway to adopt.
		return nil
	}
	return mb
}

// spawn registers c as a live call and starts its owner goroutine, the one
// way inbound and outbound calls begin; attach (if not nil) runs once c is
// registered, before its owner starts. It reports false, starting nothing,
// once Close has begun.
func (s *Service) spawn(c *Call, attach func()) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.calls[c.id] = c
	s.wg.Add(1) // under s.mu, so never concurrent with Close's Wait
	s.mu.Unlock()
	c.mb.SetWake(c.wake)
	if attach != nil {
		attach()
	}
	go s.own(c)
	return true
}

// own runs c's owner loop on this goroutine until the call ends or parks
// (Call.park; its next wake runs own again): s.wg counts the owner, not
// the goroutine.
func (s *Service) own(c *Call) {
	if c.run(s.ctx) {
		return
	}
	defer s.wg.Done()
	c.released() // admission control: one call fewer
	s.o.Dispatcher.DetachMailbox(c.mb)
	c.mb.Close()
	s.mu.Lock()
	delete(s.calls, c.id)
	s.forgetFrom110(c)
	s.mu.Unlock()
}

// call returns the live call with this ID.
func (s *Service) call(id string) (*Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.calls[id]
	return c, ok
}

// OnConnect resynchronises after every (re)connection to ARI: calls whose
// caller channel is no longer in the application are ended; channels in the
// application that no call owns (left by a gateway that stopped) are adopted.
func (s *Service) OnConnect(ctx context.Context, info ari.ConnectInfo) {
	defer func() { // the dialplan may answer for this gateway again
		s.adm.connected.Store(ctx.Err() == nil)
		s.admissionChanged()
	}()
	ids, err := s.o.PBX.AppChannels(ctx)
	if err != nil {
		s.log.Error("resync: cannot list the application's channels", "err", err)
		return
	}
	live := make(map[string]bool, len(ids))
	for _, id := range ids {
		live[id] = true
	}
	s.mu.Lock()
	all := make([]*Call, 0, len(s.calls))
	for _, c := range s.calls {
		all = append(all, c)
	}
	s.mu.Unlock()
	// Each owner checks its own legs; the asks run side by side and each is
	// bounded (ask), so a call that ends meanwhile or an owner stuck in a
	// slow request never holds the ARI loop.
	var (
		wg    sync.WaitGroup
		gone  atomic.Int64
		stuck atomic.Int64
	)
	for _, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ended, err := ask(ctx, c, func(c *Call) bool { return c.resyncLegs(live) })
			switch {
			case errors.Is(err, ErrOwnerBusy):
				stuck.Add(1)
				s.log.Warn("resync: call owner did not answer; it resynchronises on its next event", "call_id", c.id, "err", err)
			case err == nil && ended:
				gone.Add(1)
			}
		}()
	}
	wg.Wait()
	info.Beat()
	adopted := s.adoptAll(ctx, ids, info.Beat)
	s.log.Info("resynchronised with Asterisk", "restarted", info.Restarted, "in_app", len(ids), "ended", gone.Load(), "unanswered", stuck.Load(), "adopted", adopted)
	// The sweeps need not hold up the events: off the event loop.
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1) // joined by Close
	s.mu.Unlock()
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel) // Close ends it too
	go func() {
		defer s.wg.Done()
		defer stop()
		defer cancel()
		s.SweepBridges(sctx)
		s.ReapUnobserved(sctx)
	}()
}

// SweepBridges destroys the gateway's call bridges (dialplan.BridgeID) none of
// whose call's channels exists any more: bridges left by a gateway that
// crashed while its call ended. Any instance may run it: a bridge is only
// destroyed when its call has no channel anywhere in Asterisk.
func (s *Service) SweepBridges(ctx context.Context) {
	bridges, err := s.o.PBX.ListBridges(ctx)
	if err != nil {
		s.log.Warn("bridge sweep: cannot list bridges", "err", err)
		return
	}
	chans, err := s.o.PBX.ListChannels(ctx)
	if err != nil {
		s.log.Warn("bridge sweep: cannot list channels", "err", err)
		return
	}
	for _, b := range bridges {
		callID, ok := dialplan.CallOfBridge(b)
		if !ok {
			continue
		}
		orphan := true
		for _, ch := range chans {
			if dialplan.BelongsTo(ch, callID) {
				orphan = false
				break
			}
		}
		if !orphan {
			continue
		}
		if err := s.o.PBX.DestroyBridge(ctx, b); err != nil && !errors.Is(err, ari.ErrNotFound) {
			s.log.Warn("bridge sweep: destroy failed", "bridge", b, "err", err)
			continue
		}
		s.log.Info("bridge sweep: destroyed a bridge left by an ended call", "bridge", b)
	}
}

// OnDisconnect is called when the ARI connection is lost. Calls keep their
// state; OnConnect reconciles them.
func (s *Service) OnDisconnect() {
	s.log.Warn("ARI connection lost; calls keep their state until resync")
	s.adm.connected.Store(false)
	s.admissionChanged()
}

// OnReplaced is called when another gateway took over the Stasis
// application: this instance gets no more events, so its calls are handed
// over to the newer instance (which adopts them on its resync) without being
// counted here, and intake stops until a reconnection.
func (s *Service) OnReplaced() {
	s.adm.connected.Store(false)
	s.admissionChanged()
	s.mu.Lock()
	calls := make([]*Call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return // Close stops the owners; they hand their calls over
	}
	s.wg.Add(len(calls)) // joined by Close
	s.mu.Unlock()
	for _, c := range calls {
		go func() { // never wait on an owner here (the ARI loop)
			defer s.wg.Done()
			if err := tell(s.ctx, c, func(c *Call) { c.handOver() }); err != nil && !errors.Is(err, ErrOwnerGone) {
				s.log.Warn("hand-over: call owner did not take it", "call_id", c.id, "err", err)
			}
		}()
	}
	s.log.Warn("another gateway took over the application; live calls handed over", "calls", len(calls))
}

// Drain stops intake and waits for live calls to end, until ctx is done;
// then the remaining owners are stopped. It returns the number of calls
// still live when ctx ended.
func (s *Service) Drain(ctx context.Context) int {
	s.accepting.Store(false)
	s.admissionChanged()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	last := time.Now()
	for {
		n := s.Active()
		if n == 0 {
			return 0
		}
		if time.Since(last) >= 5*time.Second {
			s.log.Info("draining: waiting for live calls", "active", n)
			last = time.Now()
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			return s.Active()
		}
	}
}

// Close stops every call owner at once (their calls stay in Asterisk for
// a restarted gateway to adopt), hands the tickets of finished calls to the
// outbox until ctx ends, then stops the router and the ticket spool.
func (s *Service) Close(ctx context.Context) error {
	s.accepting.Store(false)
	s.admissionChanged()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	// Parked owners hand their calls over too (Call.run): wake them. One
	// that parks after this sees the cancelled context (Call.park).
	s.mu.Lock()
	for _, c := range s.calls {
		c.wake()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.releaseHeld()
	err := s.FlushTickets(ctx)
	s.bgCancel()
	select {
	case <-s.bgDone:
	case <-ctx.Done():
	}
	return err
}

func (s *Service) opCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.o.OpTimeout)
}
