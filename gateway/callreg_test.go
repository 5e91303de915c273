package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// Gateway B is cut off from Redis while its call ends; gateway A (this
// rig) sees the call registered, its channel gone from Asterisk. While B's
// lease is current A's reaper leaves the call to B (whose full ticket is
// coming); once B's lease has lapsed A writes the stub, twice-seen as before.
func TestReaperLeavesCallsOfALiveInstance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	keys := store.NewKeys("reaptest")
	reg := store.CallRegistry{Redis: rdb, Keys: keys}
	leases := store.Leases{Redis: rdb, Keys: keys, TTL: 2 * time.Second}
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.Registry, o.Leases = reg, leases }})
	if err := reg.Enter(ctx, LiveCall{ID: "c-b", Entry: EntryInbound, Line: "12345", Main: "12345", Caller: testCaller,
		DNIS: "12345", Entered: time.Now().Add(-time.Minute), Instance: "gw-b"}); err != nil {
		t.Fatal(err)
	}
	if err := leases.Renew(ctx, "gw-b"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r.svc.ReapUnobserved(ctx)
	}
	if tks := r.tickets(); len(tks) != 0 {
		t.Fatalf("reaper wrote %d tickets for a call of a live instance, want none: %v", len(tks), tks)
	}
	if calls, err := reg.All(ctx); err != nil || len(calls) != 1 {
		t.Fatalf("registry = %v, %v; want the call still there", calls, err)
	}
	waitFor(t, "gw-b's lease lapsed", func() bool {
		alive, err := leases.Alive(ctx, []string{"gw-b", "gw-test"})
		return err == nil && !alive["gw-b"] && alive["gw-test"] // this rig renews its own
	})
	r.svc.ReapUnobserved(ctx)
	r.svc.ReapUnobserved(ctx)
	tks := r.tickets()
	if len(tks) != 1 || tks[0].GetTicketId() != "c-b" || tks[0].GetEndReason() != "ended_unobserved" {
		t.Fatalf("tickets after gw-b's lease lapsed = %v, want the stub of c-b", tks)
	}
}
