package gateway

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
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

// One routed call — the caller queued, agent 1001 ready at once and
// answering, the agent hanging up — through the fake PBX (every ARI REST
// request recorded) and a real redis-server (every round trip of the
// agent pool, registry and ticket outbox recorded by a hook; the counts go
// in their own batched pipelines, not per call). The caller is hung up
// once, the agent's leg that has already gone is not hung up, and there
// is no hold music for a call an agent takes at once.
func TestRoutedCallRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	hook := &tripCounter{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	rdb.AddHook(hook)
	t.Cleanup(func() { _ = rdb.Close() })
	keys := store.NewKeys("lean")
	pool := acd.New(acd.Options{Redis: rdb, Keys: keys, Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.NewUnregistered().ACD, Skills: []string{"general"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := pool.Login(ctx, "1001", []string{"general"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	var out *ticket.Outbox
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		o.Pool = pool
		o.Registry = store.CallRegistry{Redis: rdb, Keys: keys}
		out = ticket.NewOutbox(ticket.OutboxOptions{Redis: rdb, Keys: keys, Logger: slog.New(slog.DiscardHandler), Metrics: o.Metrics.Tickets})
		o.Outbox = out
		o.PollInterval = 20 * time.Millisecond
	}})
	// routed places one call through and returns once its ticket is queued.
	routed := func(id string) (trips []string) {
		t.Helper()
		// The dialplan answered the known line: the channel is Up.
		r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{EntryInbound, "12345"},
			Channel: ariv5.ChannelData{ID: id, State: "Up", Caller: &ariv5.CallerID{Number: testCaller}}})
		leg := dialplan.AgentLeg(id, 1)
		r.waitAction("originate " + leg + " PJSIP/agent1001")
		r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", id},
			Channel: ariv5.ChannelData{ID: leg, State: "Up"}})
		waitFor(t, "talking", func() bool { return r.phase(id) == phaseTalking })
		r.hangup(leg) // the agent hangs up: StasisEnd, then ChannelDestroyed
		r.waitAction("hangup " + id + " normal")
		r.hangup(id)
		r.waitEnded(id)
		if err := r.svc.FlushTickets(ctx); err != nil {
			t.Fatal(err)
		}
		trips = hook.take()
		waitFor(t, "agent 1001 ready again", func() bool {
			a, err := pool.Get(ctx, "1001")
			return err == nil && a.State == acd.Ready
		})
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
	t.Logf("Redis round trips per routed call (counts aside): %d %v", len(trips), trips)
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
	// registry HSET, ZADD, claim, its state publish, offer, answered with
	// its state and "connected", the registry HSET of the answered call
	// with its agent (what an adopting gateway needs to keep the call
	// connected after a crash), "ended" with the release, the release's
	// state publishes, ticket, registry HDEL (was 13).
	if len(trips) > 12 {
		t.Errorf("%d Redis round trips for one routed call, want at most 12: %q", len(trips), trips)
	}
	if len(rest) > 5 {
		t.Errorf("%d ARI REST requests for one routed call, want at most 5: %q", len(rest), r.pbx.Actions())
	}
}
