package ticket_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

func benchRedis(b *testing.B) redis.UniversalClient {
	srv := redistest.Start(b) // appendfsync always: every write is on disk
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	b.Cleanup(func() { rdb.Close() })
	// HOTLINE_BENCH_AOF_EVERYSEC=1: Redis as usually run in production
	// (redistest fsyncs every write).
	if os.Getenv("HOTLINE_BENCH_AOF_EVERYSEC") != "" {
		rdb.ConfigSet(ctxT(b, time.Second), "appendfsync", "everysec")
	}
	return rdb
}

// enqueueParallel enqueues n tickets from 32 goroutines (calls hanging up
// concurrently).
func enqueueParallel(b *testing.B, ob *ticket.Outbox, prefix string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := ob.Enqueue(ctxT(b, 10*time.Second), mkTicket(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkEnqueue: tickets/s into the Redis outbox (dedup script + XADD).
func BenchmarkEnqueue(b *testing.B) {
	ob := newOutbox(benchRedis(b), newMetrics())
	b.ResetTimer()
	enqueueParallel(b, ob, "enq", b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
}

// BenchmarkOutboxToSink: b.N tickets enqueued concurrently while a
// Deliverer submits them over loopback gRPC to a file sink (fsync per
// group commit) and acknowledges them; timed until the outbox is empty.
func BenchmarkOutboxToSink(b *testing.B) {
	for _, workers := range []int{16, 64} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			rdb := benchRedis(b)
			m := newMetrics()
			ob := newOutbox(rdb, m)
			path := tmpFile(b)
			if dir := os.Getenv("HOTLINE_BENCH_SINK_DIR"); dir != "" { // e.g. /dev/shm: no disk fsync cost
				path = filepath.Join(dir, fmt.Sprintf("bench-tickets-%d.jsonl", time.Now().UnixNano()))
				b.Cleanup(func() { os.Remove(path) })
			}
			s := startSink(b, "127.0.0.1:0", path, "")
			runDeliverer(b, ticket.Options{
				Redis: rdb, Consumer: "gw-bench", Sink: ticket.NewGRPCSink(dial(b, s.Addr), 5*time.Second, ""),
				Metrics: m, Workers: workers,
			})
			b.ResetTimer()
			enqueueParallel(b, ob, "e2e", b.N)
			flush(b, ob)
			b.StopTimer()
			if s.Sink.Len() != b.N {
				b.Fatalf("sink has %d tickets, want %d", s.Sink.Len(), b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
		})
	}
}
