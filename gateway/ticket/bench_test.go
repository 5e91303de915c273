package ticket_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// BenchmarkOutboxToSink: b.N tickets in the Redis outbox (enqueued
// before the clock starts) delivered by a Deliverer over real loopback gRPC
// to the reference FileSink (write + fsync per group commit, on the temp
// dir's disk unless HOTLINE_BENCH_SINK_DIR says otherwise) and
// acknowledged; timed until the outbox is empty. path=single is one
// SubmitTicket per ticket (tickets.batch_size 1, the old path);
// path=batch is SubmitTickets with the default batch size (128) and
// linger; path=batch512 sends up to 512 tickets per SubmitTickets (the
// default for a while: fewer RPCs, but with 16 workers fewer batches in
// flight, and slower on a quiet machine).
func BenchmarkOutboxToSink(b *testing.B) {
	for _, c := range []struct {
		name           string
		workers, batch int
	}{
		{"path=single/workers=16", 16, 1},
		{"path=single/workers=64", 64, 1},
		{"path=batch512/workers=16", 16, 512},
		{"path=batch/workers=16", 16, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			rdb := benchRedis(b)
			m := newMetrics()
			ob := newOutbox(rdb, m)
			path := tmpFile(b)
			if dir := os.Getenv("HOTLINE_BENCH_SINK_DIR"); dir != "" { // e.g. /dev/shm: no disk fsync cost
				path = filepath.Join(dir, fmt.Sprintf("bench-tickets-%d.jsonl", time.Now().UnixNano()))
				b.Cleanup(func() { os.Remove(path) })
			}
			s := startSink(b, "127.0.0.1:0", path, "")
			enqueueParallel(b, ob, "e2e", b.N)
			goCPU, redisCPU := processCPU(b), redisCPUSeconds(b, rdb)
			b.ResetTimer()
			runDeliverer(b, ticket.Options{
				Redis: rdb, Consumer: "gw-bench", Sink: ticket.NewGRPCSink(dial(b, s.Addr), 5*time.Second, ""),
				Metrics: m, Workers: c.workers, SendBatch: c.batch,
			})
			flush(b, ob)
			b.StopTimer()
			if s.Sink.Len() != b.N {
				b.Fatalf("sink has %d tickets, want %d", s.Sink.Len(), b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
			b.ReportMetric(float64(s.Sink.Commits())/float64(b.N), "fsyncs/ticket")
			// CPU per ticket, which a machine shared with other work
			// distorts less than the rate: this process (deliverer, gRPC
			// both ends, sink) and Redis.
			b.ReportMetric((processCPU(b)-goCPU)*1e6/float64(b.N), "go-cpu-µs/ticket")
			b.ReportMetric((redisCPUSeconds(b, rdb)-redisCPU)*1e6/float64(b.N), "redis-cpu-µs/ticket")
		})
	}
}

// processCPU is this process's user+system CPU time so far, in seconds.
func processCPU(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// redisCPUSeconds is the Redis server's used_cpu_user + used_cpu_sys.
func redisCPUSeconds(b *testing.B, rdb redis.UniversalClient) float64 {
	info, err := rdb.Info(ctxT(b, 5*time.Second), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu %s: %v", k, err)
			}
			sum += f
		}
	}
	return sum
}
