package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// tripCounter is a go-redis hook that records every round trip: a command,
// or a pipeline or transaction (one trip, its commands listed together).
type tripCounter struct {
	mu    sync.Mutex
	trips []string
}

func (h *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (h *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		h.add("pipeline(" + strings.Join(names, ",") + ")")
		return next(ctx, cmds)
	}
}

func (h *tripCounter) add(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trips = append(h.trips, s)
}

func (h *tripCounter) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.trips
	h.trips = nil
	return out
}

// leanRig is the rig of a routed call on a real redis-server whose
// client counts round trips: agent 1001 of skill general logged in and
// ready, the pool, registry, outbox and counter on that client.
type leanRig struct {
	*rig
	srv     *redistest.Server
	rdb     *redis.Client
	hook    *tripCounter
	keys    store.Keys
	pool    *acd.Pool
	out     *ticket.Outbox
	counter *count.Counter
}

func newLeanRig(t testing.TB, ctx context.Context, opts *redis.Options) *leanRig {
	t.Helper()
	srv := redistest.Start(t)
	hook := &tripCounter{}
	o := redis.Options{}
	if opts != nil {
		o = *opts
	}
	o.Addr = srv.Addr
	rdb := redis.NewClient(&o)
	rdb.AddHook(hook)
	t.Cleanup(func() { _ = rdb.Close() })
	keys := store.NewKeys("lean")
	pool := acd.New(acd.Options{Redis: rdb, Keys: keys, Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.NewUnregistered().ACD, Skills: []string{"general"}})
	if _, err := pool.Login(ctx, "1001", []string{"general"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	l := &leanRig{srv: srv, rdb: rdb, hook: hook, keys: keys, pool: pool}
	l.rig = newRig(t, rigOptions{tweak: func(o *Options) {
		l.counter = count.New(count.Options{Redis: rdb, Keys: keys, Location: o.Location, Logger: o.Logger,
			Metrics: o.Metrics.Calls, PendingLimit: 1000, Timeout: 5 * time.Second})
		o.Counter = l.counter
		o.Pool = pool
		o.Registry = store.CallRegistry{Redis: rdb, Keys: keys}
		l.out = ticket.NewOutbox(ticket.OutboxOptions{Redis: rdb, Keys: keys, Logger: slog.New(slog.DiscardHandler), Metrics: o.Metrics.Tickets})
		o.Outbox = l.out
		o.PollInterval = 20 * time.Millisecond
	}})
	cctx, ccancel := context.WithCancel(context.Background())
	counterDone := make(chan struct{})
	go func() { l.counter.Run(cctx); close(counterDone) }()
	t.Cleanup(func() { ccancel(); <-counterDone })
	l.rig.counter = l.counter
	return l
}

// routed places one call through — the agent answers, then hangs up — and
// returns the round trips it made, once its ticket is queued (or spooled)
// and its counts applied.
func (l *leanRig) routed(ctx context.Context, id string, mid func()) (trips []string) {
	t := l.t
	t.Helper()
	l.callerUp(id)
	leg := dialplan.AgentLeg(id, 1)
	l.waitAction("originate " + leg + " PJSIP/agent1001")
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", id},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	waitFor(t, "talking", func() bool { return l.phase(id) == phaseTalking })
	if mid != nil {
		mid()
	}
	l.hangup(leg) // the agent hangs up: StasisEnd, then ChannelDestroyed
	l.waitAction("hangup " + id + " normal")
	l.hangup(id)
	l.waitEnded(id)
	if err := l.svc.FlushTickets(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.counter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	trips = l.hook.take()
	return trips
}

// callerUp is a citizen's call to 12345 entering the application, Up:
// the dialplan answered the known line.
func (l *leanRig) callerUp(id string) {
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{EntryInbound, "12345"},
		Channel: ariv5.ChannelData{ID: id, State: "Up", Caller: &ariv5.CallerID{Number: testCaller}}})
}

// agentTakes waits for call id's agent leg (attempt 1) to be originated to
// agent 1001, answers it and waits for the call to be talking.
func (l *leanRig) agentTakes(id string) (leg string) {
	l.t.Helper()
	leg = dialplan.AgentLeg(id, 1)
	l.waitAction("originate " + leg + " PJSIP/agent1001")
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", id},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	waitFor(l.t, id+" talking", func() bool { return l.phase(id) == phaseTalking })
	return leg
}

func (l *leanRig) waitReady(ctx context.Context) {
	l.t.Helper()
	waitFor(l.t, "agent 1001 ready again", func() bool {
		a, err := l.pool.Get(ctx, "1001")
		return err == nil && a.State == acd.Ready
	})
}

// One routed call — the caller queued, agent 1001 ready at once and
// answering, the agent hanging up — through the fake PBX (every ARI REST
// request recorded) and a real redis-server (every round trip of the
// agent pool, registry, ticket outbox and counts recorded by a hook: the
// counts ride in the call's steps). The caller is hung up once, the
// agent's leg that has already gone is not hung up, and there is no hold
// music for a call an agent takes at once.
func TestRoutedCallRoundTrips(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, nil)
	r, rdb, keys, out, hook := l.rig, l.rdb, l.keys, l.out, l.hook
	routed := func(id string) []string {
		trips := l.routed(ctx, id, nil)
		l.waitReady(ctx)
		return trips
	}
	routed("c0") // scripts loaded (EVALSHA answers NOSCRIPT once in a fresh Redis)
	hook.take()
	r.pbx.set(func(f *fakePBX) { f.actions = nil })

	trips := routed("c1")
	if n, err := out.Backlog(ctx); err != nil || n != 2 {
		t.Fatalf("outbox holds %d tickets (%v), want the two calls' ones", n, err)
	}

	var rest []string
	for _, a := range r.pbx.Actions() {
		rest = append(rest, strings.Fields(a)[0])
	}
	t.Logf("ARI REST requests per routed call: %d %v", len(rest), rest)
	t.Logf("Redis round trips per routed call (counts included): %d %v", len(trips), trips)
	hangups := 0
	for _, a := range r.pbx.Actions() {
		if strings.HasPrefix(a, "hangup ") {
			hangups++
		}
	}
	if hangups != 1 {
		t.Errorf("%d hangup requests, want 1 (the caller, once; the agent's leg was gone): %q", hangups, r.pbx.Actions())
	}
	if r.pbx.has("moh c1 hold") || r.pbx.has("stop_moh c1") {
		t.Errorf("hold music for a call an agent took at once: %q", r.pbx.Actions())
	}
	// originate, create bridge, add caller and agent in one request, hang
	// up the caller, destroy the bridge (was 11: answer — the dialplan
	// answers —, MOH start and stop, a second addChannel, two more hangups).
	// enter (registry HSET, inbound count, enqueue-and-claim publishing
	// the ringing state), connect (answered publishing its state and
	// "connected", the registry HSET with the agent that an adopting
	// gateway needs, the answered counts), end (release publishing "ended"
	// and the agent's new state, talk count, the ticket taking the call
	// out of the registry): was 13 plus 3 count pipelines.
	if len(trips) > 3 {
		t.Errorf("%d Redis round trips for one routed call, want at most 3: %q", len(trips), trips)
	}
	tot := r.counts()
	for kind, want := range map[count.Kind]int64{count.Inbound: 2, count.Answered: 2, count.AnsweredTarget: 2, count.Talk: 2} {
		if got := tot.Sum(kind); got != want {
			t.Errorf("%s counted %d times for the two calls, want %d", kind, got, want)
		}
	}
	if n, err := rdb.HLen(ctx, keys.Key("calls", "live")).Result(); err != nil || n != 0 {
		t.Errorf("registry holds %d calls (%v) after both ended, want none", n, err)
	}
	if len(rest) > 5 {
		t.Errorf("%d ARI REST requests for one routed call, want at most 5: %q", len(rest), r.pbx.Actions())
	}
}

// A desk connected to agent 1001 hears a routed call's events in today's
// order — its ringing state, the screen pop, on_call, "connected",
// "ended", ready — from the steps' scripts, also right after SCRIPT FLUSH
// (every step answers NOSCRIPT once and runs with the script's text); the
// ticket, counts and registry come out as always.
func TestRoutedCallStepsDeskEventsAfterScriptFlush(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, nil)
	l.routed(ctx, "c0", nil)
	l.waitReady(ctx)
	es, err := l.pool.Events(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if err := l.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	l.routed(ctx, "c1", nil)
	l.waitReady(ctx)
	var got []string
	for len(got) < 6 {
		ev, err := es.Next(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		switch e := ev.Event.(type) {
		case *hotlinev1.AgentEvent_State:
			got = append(got, "state:"+e.State.GetState().String())
			if e.State.GetExtension() != "1001" || ev.GetAt() == nil {
				t.Errorf("state event %v: want agent 1001 with a time", ev)
			}
		case *hotlinev1.AgentEvent_Offer:
			got = append(got, "offer:"+e.Offer.GetCallId())
		case *hotlinev1.AgentEvent_Progress:
			got = append(got, "progress:"+e.Progress.GetKind().String()+":"+e.Progress.GetCallId())
		default:
			got = append(got, fmt.Sprintf("%T", e))
		}
	}
	want := []string{"state:AGENT_STATE_RINGING", "offer:c1", "state:AGENT_STATE_ON_CALL",
		"progress:KIND_CONNECTED:c1", "progress:KIND_ENDED:c1", "state:AGENT_STATE_READY"}
	if !slices.Equal(got, want) {
		t.Errorf("desk events\n got %q\nwant %q", got, want)
	}
	l.checkTwoCallsAccounted(ctx, count.Inbound, count.Answered, count.AnsweredTarget, count.Talk)
}

// Redis stops while the call is connected: its end step fails, and the
// per-operation paths take over — the ticket is spooled and reaches the
// outbox once Redis is back (restarted, so without its scripts), the call
// then leaves the registry, and the talk count is applied once.
func TestRoutedCallEndStepDuringRedisOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, &redis.Options{MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	l.routed(ctx, "c0", nil)
	l.waitReady(ctx)
	l.start("c1", EntryInbound, "12345")
	leg := dialplan.AgentLeg("c1", 1)
	l.waitAction("originate " + leg + " PJSIP/agent1001")
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", "c1"},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	waitFor(t, "talking", func() bool { return l.phase("c1") == phaseTalking })
	l.srv.Stop()
	l.hangup(leg)
	l.waitAction("hangup c1 normal")
	l.hangup("c1")
	l.waitEnded("c1")
	l.srv.Restart()
	if err := l.svc.FlushTickets(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := l.out.Backlog(ctx); err != nil || n != 2 {
		t.Errorf("outbox holds %d tickets (%v), want 2", n, err)
	}
	tot := l.counts()
	for _, kind := range []count.Kind{count.Inbound, count.Answered, count.Talk} {
		if got := tot.Sum(kind); got != 2 {
			t.Errorf("%s counted %d times, want 2", kind, got)
		}
	}
	waitFor(t, "the call to leave the registry", func() bool {
		n, err := l.rdb.HLen(ctx, l.keys.Key("calls", "live")).Result()
		return err == nil && n == 0
	})
}

// Redis is down as the call enters: the enter step fails, the call is
// queued again until Redis is back (restarted, without its scripts), then
// routed to the agent at once; counts and ticket come out once each.
func TestRoutedCallEnterStepDuringRedisOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, &redis.Options{MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	l.routed(ctx, "c0", nil)
	l.waitReady(ctx)
	l.srv.Stop()
	l.start("c1", EntryInbound, "12345")
	waitFor(t, "c1 queued", func() bool { return l.phase("c1") == phaseQueue })
	time.Sleep(300 * time.Millisecond) // the step fails meanwhile
	if l.pbx.has("originate " + dialplan.AgentLeg("c1", 1) + " PJSIP/agent1001") {
		t.Fatal("agent rung while Redis was down")
	}
	l.srv.Restart()
	leg := dialplan.AgentLeg("c1", 1)
	l.waitAction("originate " + leg + " PJSIP/agent1001")
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", "c1"},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	waitFor(t, "talking", func() bool { return l.phase("c1") == phaseTalking })
	l.hangup(leg)
	l.waitAction("hangup c1 normal")
	l.hangup("c1")
	l.waitEnded("c1")
	if err := l.svc.FlushTickets(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitReady(ctx)
	l.checkTwoCallsAccounted(ctx, count.Inbound, count.Answered, count.Talk)
}

// On a line with a greeting the call enters in two steps — its entry
// (registry and counts, one pipeline) as it is answered, the queue with
// the claim after the greeting — then connects and ends in one each.
func TestRoutedCallWithGreetingRoundTrips(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, nil)
	if _, err := l.pool.Login(ctx, "1002", []string{"shichang"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.pool.SetReady(ctx, "1002"); err != nil {
		t.Fatal(err)
	}
	l.routed(ctx, "c0", nil) // scripts loaded
	l.waitReady(ctx)
	l.hook.take()
	l.start("g1", EntryInbound, "12315")
	pb := dialplan.GreetingPlayback("g1")
	l.waitAction("play g1 " + pb + " sound:welcome-12315")
	if trips := l.hook.take(); len(trips) != 1 {
		t.Errorf("entry before the greeting: %d round trips %q, want 1", len(trips), trips)
	}
	l.playbackFinished("g1", pb)
	leg := dialplan.AgentLeg("g1", 1)
	l.waitAction("originate " + leg + " PJSIP/agent1002")
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", "g1"},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	waitFor(t, "talking", func() bool { return l.phase("g1") == phaseTalking })
	l.hangup(leg)
	l.waitAction("hangup g1 normal")
	l.hangup("g1")
	l.waitEnded("g1")
	if err := l.svc.FlushTickets(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.counter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	trips := l.hook.take()
	t.Logf("Redis round trips after the greeting: %d %v", len(trips), trips)
	if len(trips) != 3 {
		t.Errorf("%d round trips from the greeting's end to the ticket, want 3 (queue, connect, end): %q", len(trips), trips)
	}
	if n, err := l.out.Backlog(ctx); err != nil || n != 2 {
		t.Errorf("outbox holds %d tickets (%v), want 2", n, err)
	}
}

// checkTwoCallsAccounted checks that two routed calls left two tickets in
// the outbox, kinds counted once each, and nothing in the registry.
func (l *leanRig) checkTwoCallsAccounted(ctx context.Context, kinds ...count.Kind) {
	t := l.t
	t.Helper()
	if n, err := l.out.Backlog(ctx); err != nil || n != 2 {
		t.Errorf("outbox holds %d tickets (%v), want 2", n, err)
	}
	tot := l.counts()
	for _, kind := range kinds {
		if got := tot.Sum(kind); got != 2 {
			t.Errorf("%s counted %d times, want 2", kind, got)
		}
	}
	if n, err := l.rdb.HLen(ctx, l.keys.Key("calls", "live")).Result(); err != nil || n != 0 {
		t.Errorf("registry holds %d calls (%v), want none", n, err)
	}
}

// A caller whose agent's phone rings gets no hold music while the agent
// answers within ringMOHDelay (no MOH start and stop, no media stream);
// one whose agent rings longer gets it, and a caller whose agent missed
// the call gets it back in the queue.
func TestNoHoldMusicWhileTheAgentAnswersSoon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, nil)
	l.callerUp("c1")
	leg := dialplan.AgentLeg("c1", 1)
	l.waitAction("originate " + leg + " PJSIP/agent1001")
	time.Sleep(ringMOHDelay / 2) // well past MOHDelay, the agent's phone ringing
	if l.pbx.has("moh c1 hold") {
		t.Fatalf("hold music while the agent's phone rang for %s: %q", ringMOHDelay/2, l.pbx.Actions())
	}
	// The agent does not answer soon: the caller gets the music.
	l.waitAction("moh c1 hold")
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", "c1"},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	waitFor(t, "talking", func() bool { return l.phase("c1") == phaseTalking })
	l.hangup("c1")
	l.waitEnded("c1")
}

// Asterisk does not take the agent's leg in time (an originate timeout
// under a surge): the agent is not paused for it — they stay ready at their
// place — and the caller, still answered, is offered again after
// originateRetryDelay; the late leg, if Asterisk makes it, is hung up.
func TestOriginateTimeoutKeepsTheAgentReadyAndTheCaller(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, nil)
	leg1, leg2 := dialplan.AgentLeg("c1", 1), dialplan.AgentLeg("c1", 2)
	l.pbx.set(func(f *fakePBX) {
		f.originate = func(ctx context.Context, p ari.OriginateParams) error {
			if p.ChannelID == leg1 {
				return fmt.Errorf("ari originate %q: %w: context deadline exceeded", p.ChannelID, ari.ErrUnavailable)
			}
			return nil
		}
	})
	l.callerUp("c1")
	l.waitAction("originate " + leg1 + " PJSIP/agent1001")
	waitFor(t, "agent 1001 ready again", func() bool {
		a, err := l.pool.Get(ctx, "1001")
		return err == nil && a.State == acd.Ready
	})
	if l.pbx.has("originate " + leg2 + " PJSIP/agent1001") {
		t.Fatal("the next leg was originated at once, not after originateRetryDelay")
	}
	l.waitAction("hangup " + leg1 + " normal") // the late leg, in case Asterisk made it
	l.waitAction("originate " + leg2 + " PJSIP/agent1001")
	l.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", "c1"},
		Channel: ariv5.ChannelData{ID: leg2, State: "Up"}})
	waitFor(t, "talking", func() bool { return l.phase("c1") == phaseTalking })
	if l.pbx.has("hangup c1 congestion") {
		t.Fatalf("the answered caller was hung up: %q", l.pbx.Actions())
	}
	l.hangup("c1")
	l.waitEnded("c1")
	if got := l.counts().Get(count.Answered, "12345"); got != 1 {
		t.Errorf("answered = %d, want 1", got)
	}
}
