package gateway

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
	"github.com/hotline12345/hotline-gw/transfer"
)

// overflow holds the owner of id while more events than its mailbox holds
// arrive (lost among them: whatever dropped is), then lets it resync.
func (r *rig) overflow(id string, dropped func()) {
	r.t.Helper()
	c, ok := r.svc.call(id)
	if !ok {
		r.t.Fatalf("call %s is not live", id)
	}
	held, release := make(chan struct{}), make(chan struct{})
	c.send(func(*Call) { close(held); <-release })
	recv(r.t, "the owner to run the command", held)
	for range 10 {
		r.disp.Dispatch(&ariv5.ChannelVarset{EventData: eventData("ChannelVarset"), Channel: ariv5.ChannelData{ID: id}})
	}
	dropped()
	close(release)
}

// withPool gives the rig a real agent pool on its own redis-server.
func withPool(t *testing.T) func(o *Options) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	pool := acd.New(acd.Options{Redis: rdb, Keys: store.NewKeys("rs"), Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.NewUnregistered().ACD, Skills: []string{"general"}})
	return func(o *Options) { o.Pool = pool }
}

// connect offers c1 to agent 1001 and answers the agent's leg.
func (r *rig) connect(id string) string {
	r.t.Helper()
	r.inspect(id, func(c *Call) { c.offer("1001", c.skill) })
	leg := dialplan.AgentLeg(id, 1)
	r.waitAction("originate " + leg + " PJSIP/agent1001")
	r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", id},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	waitFor(r.t, "talking", func() bool { return r.phase(id) == phaseTalking })
	return leg
}

func channelsExcept(gone ...string) func(f *fakePBX) {
	return func(f *fakePBX) {
		f.channel = func(ctx context.Context, id string) (*ariv5.ChannelData, error) {
			for _, g := range gone {
				if id == g {
					return nil, notFound("channel", id)
				}
			}
			return &ariv5.ChannelData{ID: id, State: "Up"}, nil
		}
	}
}

// The greeting's PlaybackFinished is lost in an overflow: the resync stops
// what is left of it and queues the caller instead of leaving it there.
func TestResyncAfterALostPlaybackFinishedQueuesTheCaller(t *testing.T) {
	r := newRig(t, rigOptions{queueSize: 8, pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12315")
	r.waitAction("play c1 greet-c1 sound:welcome-12315")
	r.overflow("c1", func() { r.playbackFinished("c1", "greet-c1") })
	r.waitAction("moh c1 hold")
	if p := r.phase("c1"); p != phaseQueue {
		t.Fatalf("phase %v after the resync, want queue", p)
	}
	if !r.pbx.has("stop_playback greet-c1") {
		t.Errorf("greeting not stopped: %q", r.pbx.Actions())
	}
}

// The agent's StasisEnd is lost in an overflow: the resync finds the
// agent's leg gone and ends the call as the agent's hangup would, instead
// of leaving the caller alone in the bridge.
func TestResyncAfterALostAgentStasisEndEndsTheCall(t *testing.T) {
	r := newRig(t, rigOptions{queueSize: 8, tweak: withPool(t), pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	leg := r.connect("c1")
	r.pbx.set(channelsExcept(leg))
	r.overflow("c1", func() {
		r.disp.Dispatch(&ariv5.StasisEnd{EventData: eventData("StasisEnd"), Channel: ariv5.ChannelData{ID: leg}})
	})
	r.waitAction("hangup c1 normal")
	r.hangup("c1")
	r.waitEnded("c1")
	if got := r.ticket("c1").GetEndReason(); got != "completed" {
		t.Errorf("end reason %q, want completed", got)
	}
}

// A bridge that refuses the caller is tried again, then the call ends with
// a ticket; it is never a "talking" call with nobody bridged, nor counted
// answered.
func TestAddChannelFailingEndsTheCallWithATicket(t *testing.T) {
	r := newRig(t, rigOptions{tweak: withPool(t), pbx: func(f *fakePBX) {
		f.addChannel = func(ctx context.Context, b, ch string) error {
			if ch == "c1" {
				return errors.New("ari add channel: 500 internal error")
			}
			return nil
		}
	}})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.inspect("c1", func(c *Call) { c.offer("1001", c.skill) })
	leg := dialplan.AgentLeg("c1", 1)
	r.waitAction("originate " + leg + " PJSIP/agent1001")
	r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", "c1"},
		Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
	r.waitAction("hangup c1 congestion")
	if n := strings.Count(strings.Join(r.pbx.Actions(), "\n"), "add_channels br-c1 c1 "); n != addBridgeAttempts {
		t.Errorf("caller added %d times, want %d attempts", n, addBridgeAttempts)
	}
	if p := r.phase("c1"); p == phaseTalking {
		t.Fatal("call is talking with the caller out of the bridge")
	}
	r.hangup("c1")
	r.waitEnded("c1")
	if got := r.counts().Get(count.Answered, "12345"); got != 0 {
		t.Errorf("answered = %d for a call never bridged", got)
	}
	if got := r.ticket("c1").GetEndReason(); got != "bridge_failed" {
		t.Errorf("end reason %q, want bridge_failed", got)
	}
}

// policeRecorder is the 110 platform's PoliceLink: it keeps what it is told.
type policeRecorder struct {
	mu   sync.Mutex
	recs []*hotlinev1.TransferRecord
}

func (p *policeRecorder) Notify(r *hotlinev1.TransferRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs = append(p.recs, r)
}

func (p *policeRecorder) last() *hotlinev1.TransferRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recs) == 0 {
		return nil
	}
	return p.recs[len(p.recs)-1]
}

// Asterisk restarts while 110 is being dialled: the resync ends the call
// (none of its channels is left), and its transfer gets a final record,
// on the ticket and told to 110, instead of staying "dialing" forever.
func TestTransferOfACallEndedByAnAsteriskRestartGetsAFinalRecord(t *testing.T) {
	police := &policeRecorder{}
	pool := withPool(t)
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		pool(o)
		m, err := transfer.New(transfer.DefaultConfig(), transfer.Deps{PBX: o.PBX, Log: o.Logger})
		if err != nil {
			t.Fatal(err)
		}
		o.Transfers = m
		o.Police = police
	}, pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.connect("c1")
	res, err := r.svc.HandleTransfer(context.Background(), "c1", "1001", func() (transfer.Input, error) {
		return transfer.Request{Mode: transfer.ModeBlind, By: transfer.ByGRPC}, nil
	})
	if err != nil || !res.State.Active() {
		t.Fatalf("transfer request: %v, %v", res.State, err)
	}

	r.pbx.set(func(f *fakePBX) {
		f.appChannels = func(context.Context) ([]string, error) { return nil, nil }
		f.channel = func(ctx context.Context, id string) (*ariv5.ChannelData, error) { return nil, notFound("channel", id) }
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{Restarted: true})
	r.waitEnded("c1")
	tk := r.ticket("c1")
	if len(tk.GetTransfers()) != 1 {
		t.Fatalf("ticket transfers %v, want one", tk.GetTransfers())
	}
	final := tk.GetTransfers()[0]
	if final.GetEndedAt() == nil || final.GetOutcome() == "" {
		t.Errorf("ticket's transfer record %v has no end", final)
	}
	told := police.last()
	if told == nil || told.GetEndedAt() == nil || told.GetOutcome() != final.GetOutcome() {
		t.Errorf("110 was told %v, want the final record %v", told, final)
	}
}

// Two transfer requests race and the blind one wins: the agent is freed at
// once, and the loser hears that the call's transfer is taken
// (FailedPrecondition at the edge), not that it is someone else's call.
func TestLosingTransferRequestAfterABlindTransferIsWrongState(t *testing.T) {
	pool := withPool(t)
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		pool(o)
		m, err := transfer.New(transfer.DefaultConfig(), transfer.Deps{PBX: o.PBX, Log: o.Logger})
		if err != nil {
			t.Fatal(err)
		}
		o.Transfers = m
	}, pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.connect("c1")
	req := func(mode transfer.Mode) error {
		_, err := r.svc.HandleTransfer(context.Background(), "c1", "1001", func() (transfer.Input, error) {
			return transfer.Request{Mode: mode, By: transfer.ByGRPC}, nil
		})
		return err
	}
	if err := req(transfer.ModeBlind); err != nil {
		t.Fatalf("blind transfer: %v", err)
	}
	// 110 answers: the blind transfer frees the agent.
	var freed bool
	r.inspect("c1", func(c *Call) {
		res, err := c.xfer.Handle(c.ctx, transfer.PeerAnswered{})
		if err != nil {
			t.Errorf("110 answers: %v", err)
			return
		}
		c.applyTransfer(c.ctx, res)
		freed = c.agentExt == ""
	})
	if !freed {
		t.Fatal("the blind transfer did not free the agent at once")
	}
	err := req(transfer.ModeThreeParty)
	if !errors.Is(err, transfer.ErrWrongState) || errors.Is(err, ErrNotOnCall) {
		t.Fatalf("losing request: %v, want transfer.ErrWrongState (not ErrNotOnCall)", err)
	}
	if err := func() error {
		_, err := r.svc.HandleTransfer(context.Background(), "c1", "1002", func() (transfer.Input, error) {
			return transfer.Request{Mode: transfer.ModeBlind, By: transfer.ByGRPC}, nil
		})
		return err
	}(); !errors.Is(err, ErrNotOnCall) {
		t.Errorf("another agent's request: %v, want ErrNotOnCall", err)
	}
}
