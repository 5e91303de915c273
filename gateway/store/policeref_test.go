package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Two references pushed for the same trunk number before either call
// arrives would go to whichever call arrives first: the second is refused
// (ErrPoliceRefPending) while the first waits, so no call gets the other's
// reference; pushing the same one again is harmless, and once the first
// call took its reference the second may be pushed.
func TestPoliceRefsRefuseASecondReferenceForTheSameNumber(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	refs := store.PoliceRefs{Redis: newRedis(t), Keys: store.NewKeys("prtest"), TTL: time.Minute}
	const num = "110"
	if err := refs.Put(ctx, num, "110-A"); err != nil {
		t.Fatalf("Put A: %v", err)
	}
	if err := refs.Put(ctx, num, "110-A"); err != nil {
		t.Fatalf("Put A again: %v", err)
	}
	if err := refs.Put(ctx, num, "110-B"); !errors.Is(err, store.ErrPoliceRefPending) {
		t.Fatalf("Put B while A waits: %v, want ErrPoliceRefPending", err)
	}
	if got, err := refs.Take(ctx, num); err != nil || got != "110-A" {
		t.Fatalf("first Take = %q, %v; want 110-A", got, err)
	}
	if err := refs.Put(ctx, num, "110-B"); err != nil {
		t.Fatalf("Put B after A was taken: %v", err)
	}
	if got, err := refs.Take(ctx, num); err != nil || got != "110-B" {
		t.Fatalf("second Take = %q, %v; want 110-B", got, err)
	}
}
