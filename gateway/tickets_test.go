package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/internal/journal"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// A call ends while Redis is unreachable: its ticket only reaches the
// spool. The call stays in the live-call registry and the ticket is in the
// local journal, so a SIGKILL loses nothing: the next process (the journal
// reopened without a Close) enqueues the same ticket and only then the
// call leaves the registry.
func TestTicketSurvivesKillWhileOnlySpooled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	reg := store.CallRegistry{Redis: rdb, Keys: store.NewKeys("jtest")}
	path := filepath.Join(t.TempDir(), "tickets.journal")
	j1, _, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	r1 := newRig(t, rigOptions{
		tweak:  func(o *Options) { o.Registry, o.TicketJournal = reg, j1 },
		outbox: func(o *fakeOutbox) { o.fail = func(*hotlinev1.Ticket) error { return errIf(down.Load()) } },
	})
	t.Cleanup(func() { down.Store(false) }) // let r1's Close flush
	r1.start("c1", EntryInbound, "12345")
	r1.waitAction("moh c1 hold")
	r1.hangup("c1")
	r1.waitEnded("c1")
	waitFor(t, "the ticket journaled", func() bool { return j1.Pending() == 1 })
	if calls, err := reg.All(ctx); err != nil || len(calls) != 1 || calls[0].ID != "c1" {
		t.Fatalf("registry after the call ended with the ticket only spooled = %v, %v; want c1 still there", calls, err)
	}

	// SIGKILL: r1's memory is gone; a new process opens the journal.
	_, recs, err := journal.Open(path)
	if err != nil || len(recs) != 1 {
		t.Fatalf("journal replay = %d records, %v; want 1", len(recs), err)
	}
	j2, _, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r2 := newRig(t, rigOptions{tweak: func(o *Options) {
		o.Registry, o.TicketJournal, o.TicketReplay, o.Instance = reg, j2, recs, "gw-test-2"
	}})
	tks := r2.tickets()
	if len(tks) != 1 || tks[0].GetCallId() != "c1" || tks[0].GetEndReason() == "" || tks[0].GetLine() != "12345" {
		t.Fatalf("tickets of the restarted gateway = %v, want c1's full ticket", tks)
	}
	waitFor(t, "c1 unregistered", func() bool {
		calls, err := reg.All(ctx)
		return err == nil && len(calls) == 0
	})
	waitFor(t, "the journal emptied", func() bool { return j2.Pending() == 0 })
}

func errIf(b bool) error {
	if b {
		return errors.New("redis: connection refused")
	}
	return nil
}
