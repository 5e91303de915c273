package gateway

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// poolRig is a rig with a real agent pool (returned) and agent 1001 ready
// in skill general.
func poolRig(t *testing.T, tweak func(o *Options)) (*rig, *acd.Pool) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	pool := acd.New(acd.Options{Redis: rdb, Keys: store.NewKeys("ow"), Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.NewUnregistered().ACD, Skills: []string{"general"}})
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		o.Pool = pool
		if tweak != nil {
			tweak(o)
		}
	}})
	ctx := context.Background()
	if _, err := pool.Login(ctx, "1001", []string{"general"}, 0); err != nil {
		t.Fatal(err)
	}
	return r, pool
}

func agentState(t *testing.T, pool *acd.Pool, ext string) acd.Agent {
	t.Helper()
	a, err := pool.Get(context.Background(), ext)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// An offer that reaches a call's owner as the call ends (queued behind the
// command that ends it) still runs, and gives the agent back: the agent
// never stays ringing for a call that is gone. And once the owner has
// ended, tell refuses every command (it used to queue some of them, at
// random, into a queue nobody reads).
func TestOfferQueuedAsTheCallEndsGivesTheAgentBack(t *testing.T) {
	r, pool := poolRig(t, nil)
	ctx := context.Background()
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	c, _ := r.svc.call("c1")
	held, release := make(chan struct{}), make(chan struct{})
	c.send(func(c *Call) { close(held); <-release; c.channelGone("hangup") })
	recv(t, "the owner to be held", held)
	// The pool claims 1001 for c1 while its owner is busy ending it.
	if _, err := pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	ext, err := pool.Claim(ctx, "general", "c1")
	if err != nil || ext != "1001" {
		t.Fatalf("claim: %q %v", ext, err)
	}
	if err := tell(ctx, c, func(c *Call) { c.offer(ext, "general") }); err != nil {
		t.Fatalf("tell while the owner lives: %v", err)
	}
	close(release)
	r.waitEnded("c1")
	waitFor(t, "agent 1001 given back", func() bool { return agentState(t, pool, "1001").State == acd.Ready })

	for i := range 50 {
		if err := tell(ctx, c, func(*Call) {}); !errors.Is(err, ErrOwnerGone) {
			t.Fatalf("tell #%d to an ended owner: %v, want ErrOwnerGone", i, err)
		}
	}
}

// The router never waits on a call's owner: with the owner's command
// queue full it gives the agent back and keeps the call waiting at once,
// instead of holding every other call of the skill for the ask timeout.
func TestRouterDoesNotWaitOnAStuckOwner(t *testing.T) {
	r, pool := poolRig(t, nil)
	ctx := context.Background()
	c := r.svc.newCall("x1", nil) // an owner that never runs: stuck
	c.entered = time.Now()
	for range cap(c.cmds) {
		c.cmds <- func(*Call) {}
	}
	if err := pool.Enqueue(ctx, "general", "x1", false, c.entered); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	rt := newRouter(pool, r.svc.log, r.m.Router, time.Hour)
	rt.add(c, "general")
	done := make(chan struct{})
	go func() { rt.match(ctx, "general"); close(done) }()
	recv(t, "the router's turn to end (ask timeout is "+r.svc.askTimeout().String()+")", done)
	if a := agentState(t, pool, "1001"); a.State != acd.Ready {
		t.Errorf("agent 1001 is %s after the stuck owner, want ready", a.State)
	}
	if len(rt.waiting["general"]) != 1 {
		t.Errorf("router's waiting list %v, want the call back in it", rt.waiting["general"])
	}
	if n, err := pool.Waiting(ctx, "general"); err != nil || n != 1 {
		t.Errorf("pool's waiting set: %d %v, want the call waiting again", n, err)
	}
}

// 110 pushes a reference while the call's owner is busy: the push fails
// (Unavailable at the edge, 110 retries) instead of keeping the reference
// for a later call from that number.
func TestPoliceReferenceToABusyOwnerFails(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryFrom110, "110")
	r.waitAction("moh c1 hold")
	c, _ := r.svc.call("c1")
	held, release := make(chan struct{}), make(chan struct{})
	c.send(func(c *Call) { close(held); <-release })
	recv(t, "the owner to be held", held)
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	id, err := r.svc.AttachPoliceRef(ctx, testCaller, "JJ-1")
	if !errors.Is(err, ErrOwnerBusy) || id != "" {
		t.Fatalf("AttachPoliceRef to a busy owner: %q, %v; want ErrOwnerBusy", id, err)
	}
}

// An outbound call that cannot start (the gateway began stopping) sets the
// agent it paused for it ready again.
func TestOriginateThatCannotStartSetsTheAgentReadyAgain(t *testing.T) {
	lim := &countingLimiter{}
	r, pool := poolRig(t, func(o *Options) { o.Limiter = lim })
	ctx := context.Background()
	if _, err := pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	r.svc.mu.Lock()
	r.svc.closing = true
	r.svc.mu.Unlock()
	defer func() { r.svc.mu.Lock(); r.svc.closing = false; r.svc.mu.Unlock() }()
	if _, _, err := r.svc.Originate(ctx, OriginateRequest{AgentExt: "1001", Number: mustNumber(t, "13800138000"), Purpose: "follow_up"}); !errors.Is(err, ErrAgentBusy) {
		t.Fatalf("Originate while stopping: %v, want ErrAgentBusy", err)
	}
	if a := agentState(t, pool, "1001"); a.State != acd.Ready {
		t.Errorf("agent 1001 is %s, want ready again", a.State)
	}
	if lim.Held() != 0 {
		t.Errorf("%d outbound slots held", lim.Held())
	}
}

// OnConnect runs on the ARI event loop: the bridge sweep and the reaper
// run beside it, so a slow sweep never holds up the events (nor trips
// health.stall_after), and OnConnect beats between its own steps.
func TestOnConnectLeavesTheSweepsOffTheEventLoop(t *testing.T) {
	release := make(chan struct{})
	sweeping := make(chan struct{}, 1)
	r := newRig(t, rigOptions{pbx: func(f *fakePBX) {
		f.appChannels = func(context.Context) ([]string, error) { return []string{"c9"}, nil }
		f.listBridges = func(ctx context.Context) ([]string, error) {
			sweeping <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		}
	}})
	defer close(release)
	beats := 0
	done := make(chan struct{})
	go func() {
		r.svc.OnConnect(context.Background(), ari.ConnectInfo{Progress: func() { beats++ }})
		close(done)
	}()
	recv(t, "OnConnect to return while the sweep is blocked", done)
	recv(t, "the sweep to run", sweeping)
	if beats < 2 {
		t.Errorf("OnConnect beat %d times, want after the resync and after each adoption", beats)
	}
}

// A talking call loses events, among them its agent's leaving the bridge:
// the resync re-reads the bridge and puts the agent back, instead of
// leaving the caller alone in it.
func TestResyncPutsALegBackInTheBridge(t *testing.T) {
	r := newRig(t, rigOptions{queueSize: 8, tweak: withPool(t), pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	leg := r.connect("c1")
	r.pbx.set(func(f *fakePBX) {
		f.bridgeChans = func(ctx context.Context, id string) ([]string, error) { return []string{"c1"}, nil }
	})
	before := len(r.pbx.about(leg))
	r.overflow("c1", func() {})
	waitFor(t, "the agent put back", func() bool {
		return slices.Contains(r.pbx.about(leg)[before:], "add_channel br-c1 "+leg)
	})
	if p := r.phase("c1"); p != phaseTalking {
		t.Errorf("phase %v, want talking", p)
	}
}

// The bridge cannot be mended (AddChannel keeps failing): the call ends
// with its ticket, never a silent talking call.
func TestResyncEndsACallWhoseBridgeCannotBeMended(t *testing.T) {
	r := newRig(t, rigOptions{queueSize: 8, tweak: withPool(t), pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.connect("c1")
	r.pbx.set(func(f *fakePBX) {
		f.bridgeChans = func(ctx context.Context, id string) ([]string, error) { return []string{"c1"}, nil }
		f.addChannel = func(ctx context.Context, b, ch string) error { return ari.ErrUnavailable }
	})
	r.overflow("c1", func() {})
	r.waitAction("hangup c1 congestion")
	r.hangup("c1")
	r.waitEnded("c1")
	if tk := r.ticket("c1"); tk.GetEndReason() == "" || tk.GetEndReason() == "completed" {
		t.Errorf("ticket end reason %q, want the bridge failure", tk.GetEndReason())
	}
}

// The overflow message's PlaybackFinished is lost: the resync hangs the
// caller up as after the message, instead of leaving it on a silent line.
func TestResyncAfterALostOverflowMessageHangsUp(t *testing.T) {
	r := newRig(t, rigOptions{queueSize: 8, tweak: withPool(t), pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.inspect("c1", func(c *Call) { c.overflowed, c.overflowPB = true, "ovf-c1" })
	r.overflow("c1", func() { r.playbackFinished("c1", "ovf-c1") })
	r.waitAction("stop_playback ovf-c1")
	r.waitAction("hangup c1 normal")
}
