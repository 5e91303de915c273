package count_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// BenchmarkCount: count ops applied exactly once through a real Redis
// (redistest: appendfsync always). Each op is Counter.Add (non-blocking)
// plus its share of the batched, pipelined dedup script; the clock stops
// when every op is in Redis (Flush). A call produces 3-5 ops (inbound,
// answered, answered_target, talk, …).
func BenchmarkCount(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rdb.Close() })
	c := count.New(count.Options{
		Redis: rdb, Keys: store.NewKeys("hlbench"), Location: shanghai,
		Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(prometheus.NewRegistry()).Calls,
		PendingLimit: 1 << 20, Timeout: 10 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })

	kinds := []count.Kind{count.Inbound, count.Answered, count.AnsweredTarget, count.Talk}
	lines := []string{"12345", "12333", "12315", "12348"}
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op := count.Op{CallID: "bench-" + strconv.Itoa(i/len(kinds)), Kind: kinds[i%len(kinds)], Line: lines[(i/len(kinds))%len(lines)], At: at}
		if op.Kind == count.Answered || op.Kind == count.Talk {
			op.Value = int64(1000 + i%5000)
		}
		c.Add(op)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer fcancel()
	if err := c.Flush(fctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
