package callback_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// Every script and the pipelined list work on a three-master Cluster, from
// two instances.
func TestOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	newClient := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { c.Close() })
		return c
	}
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	m := newMetrics()
	a, b := newStore(t, newClient(), clk, m), newStore(t, newClient(), clk, m)
	ctx := testCtx(t)

	t1, created := add(t, a, caller, "c1", at(t, "2026-11-26 09:00:00"))
	if !created {
		t.Fatal("not created")
	}
	if got, created := add(t, b, caller, "c2", at(t, "2026-11-26 09:30:00")); created || got.Attempts != 2 {
		t.Fatalf("dedupe on the cluster: %+v %v", got, created)
	}
	t2, _ := add(t, b, "07395551234", "c3", at(t, "2026-11-26 09:10:00"))

	if _, err := a.Claim(ctx, t1.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, t1.ID, "1002"); !errors.Is(err, callback.ErrAlreadyClaimed) {
		t.Fatalf("double claim on the cluster: %v", err)
	}
	if _, err := b.Claim(ctx, t2.ID, "1002"); err != nil {
		t.Fatal(err)
	}
	list, err := b.List(ctx, "2026-11-26", false)
	if err != nil || len(list) != 2 || list[0].ID != t1.ID || list[1].ID != t2.ID {
		t.Fatalf("list on the cluster: %+v %v", list, err)
	}
	if err := b.Complete(ctx, t1.ID, "1001", "out-1", "connected"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Minute)
	if n, err := a.Sweep(ctx, 0); err != nil || n != 1 {
		t.Fatalf("sweep on the cluster: %d %v", n, err)
	}
	open, err := a.List(ctx, "", true)
	if err != nil || len(open) != 1 || open[0].ID != t2.ID {
		t.Fatalf("open on the cluster: %+v %v", open, err)
	}
}
