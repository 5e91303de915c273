package callback_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A call-back ID reaches logs, desktops and tickets: it never carries the
// citizen's number (not even its last digits), nor do the store's logs or
// its Redis key names; one caller still has one task per day, on every
// instance.
func TestCallbackIDsAndLogsDoNotCarryTheNumber(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	clk := &clock{now: at(t, "2026-11-26 18:00:00")}
	var logs syncBuffer
	newLogged := func() *callback.Store {
		s, err := callback.New(callback.Options{
			Redis: rdb, Keys: store.NewKeys("hltest"), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Metrics: newMetrics(), Location: shanghai(t), Now: clk.Now, Timeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := newLogged(), newLogged() // two gateway instances
	ctx := testCtx(t)

	first, created := add(t, a, caller, "c1", at(t, "2026-11-26 09:00:00"))
	if !created {
		t.Fatal("first abandoned call made no task")
	}
	second, created := add(t, b, caller, "c2", at(t, "2026-11-26 10:00:00"))
	if created || second.ID != first.ID || second.Attempts != 2 {
		t.Fatalf("second abandoned call on the other instance: %+v created=%v, want task %s with 2 attempts", second, created, first.ID)
	}
	other, _ := add(t, a, "07395551234", "c3", at(t, "2026-11-26 11:00:00"))
	if other.ID == first.ID {
		t.Fatal("two callers share a task")
	}
	for _, id := range []string{first.ID, other.ID} {
		for _, digits := range []string{caller, caller[len(caller)-4:], "07395551234", "5551234"} {
			if strings.Contains(id, digits) {
				t.Errorf("call-back ID %q contains %q of the caller's number", id, digits)
			}
		}
	}
	if _, err := a.Claim(ctx, first.ID, "1001"); err != nil {
		t.Fatalf("claim by the new ID: %v", err)
	}
	if err := a.Complete(ctx, first.ID, "1001", "out-1", "connected"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, first.ID); err != nil || got.CallerNumber != caller {
		t.Fatalf("get %s: %+v, %v", first.ID, got, err)
	}
	if strings.Contains(logs.String(), caller) || strings.Contains(logs.String(), "07395551234") {
		t.Errorf("the store's logs carry a caller's number:\n%s", logs.String())
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, caller) || strings.Contains(k, "07395551234") {
			t.Errorf("Redis key %q carries a caller's number", k)
		}
	}
}
