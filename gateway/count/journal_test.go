package count_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/internal/journal"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// Counts queued while Redis is down survive a SIGKILL: they are in the
// local journal, and the next process replays them; each call is counted
// once, including the ones the first process applied before Redis went away.
func TestCountsQueuedDuringOutageSurviveKill(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	path := filepath.Join(t.TempDir(), "counts.journal")
	newCounter := func(j *journal.Journal) *count.Counter {
		return count.New(count.Options{
			Redis: rdb, Keys: store.NewKeys("jtest"), Location: shanghai, Logger: slog.New(slog.DiscardHandler),
			Metrics: metrics.New(prometheus.NewRegistry()).Calls, PendingLimit: 1000, Timeout: 500 * time.Millisecond, Journal: j,
		})
	}
	at := time.Date(2023, 3, 5, 10, 0, 0, 0, shanghai)

	j1, _, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c1 := newCounter(j1)
	ctx1, kill := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c1.Run(ctx1); close(done) }()
	c1.Add(count.Op{CallID: "before", Kind: count.Inbound, Line: "12345", At: at})
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := c1.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	srv.Stop()
	for _, id := range []string{"o1", "o2", "o3"} {
		c1.Add(count.Op{CallID: id, Kind: count.Inbound, Line: "12345", At: at})
	}
	time.Sleep(300 * time.Millisecond) // the counter is retrying
	kill()                             // SIGKILL: no flush, the journal not closed
	<-done

	srv.Restart()
	j2, recs, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("journal replays %d counts, want the 3 queued during the outage", len(recs))
	}
	c2 := newCounter(j2)
	c2.Replay(recs)
	c2.Add(count.Op{CallID: "before", Kind: count.Inbound, Line: "12345", At: at}) // a replay from elsewhere
	ctx2, stop := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { c2.Run(ctx2); close(done2) }()
	t.Cleanup(func() { stop(); <-done2 })
	fctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c2.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	rg, err := count.ParseRange("2023-03-05", "2023-03-05", shanghai, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tot, err := c2.Query(fctx, rg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tot.Get(count.Inbound, "12345"); got != 4 {
		t.Errorf("inbound 12345 = %d, want 4 (each call once)", got)
	}
	if n := j2.Pending(); n != 0 {
		t.Errorf("journal still holds %d counts after they were applied", n)
	}
}
