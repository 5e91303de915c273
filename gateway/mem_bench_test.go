package gateway

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/store"
	hmetrics "github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// BenchmarkCallMemory: what b.N live calls keep in this process, per call:
// heap in use and goroutine stacks after a GC, the Go runtime's memory
// (runtime/metrics /memory/classes/total:bytes minus what it released to
// the OS: the RSS the runtime accounts for) and the process's RSS
// (/proc/self/statm), each after minus before the calls; the same RSS
// readings again once the plateau has been held for memHold (held-*); and
// what one call allocates on its way.
//
//   - queued: every call waits in the queue with hold music;
//   - talking: 80 % of the calls are answered by an agent of a real agent
//     pool (on a real redis-server: the agent leg originated, entered the
//     application, bridged with the caller), the rest wait in the queue.
//
// The fake PBX's log of REST requests is cleared before the reading. Run
// with -benchtime 2000x and 5000x (b.N is the number of calls);
// HOTLINE_BENCH_HEAP_PROFILE=file writes a heap profile at the plateau.
func BenchmarkCallMemory(b *testing.B) {
	b.Run("queued", func(b *testing.B) { benchCallMemory(b, 0) })
	b.Run("talking", func(b *testing.B) { benchCallMemory(b, 0.8) })
}

func benchCallMemory(b *testing.B, talking float64) {
	agents := int(talking * float64(b.N))
	var pool *acd.Pool
	if agents > 0 {
		srv := redistest.Start(b)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
		b.Cleanup(func() { _ = rdb.Close() })
		pool = acd.New(acd.Options{Redis: rdb, Keys: store.NewKeys("mem"), Logger: slog.New(slog.DiscardHandler),
			Metrics: hmetrics.NewUnregistered().ACD, Skills: []string{"general"}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := range agents {
			ext := strconv.Itoa(20000 + i)
			if _, err := pool.Login(ctx, ext, []string{"general"}, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := pool.SetReady(ctx, ext); err != nil {
				b.Fatal(err)
			}
		}
	}
	r := newRig(b, rigOptions{quiet: true, tweak: func(o *Options) {
		if pool != nil {
			o.Pool = pool
		}
	}})
	// Keep only the originate requests (their leg IDs are answered
	// below); the rest are counted: the fake's log of 5,000 calls would be
	// heap of this process that the gateway does not have.
	r.pbx.set(func(f *fakePBX) { f.keepOnly = "originate" })
	id := func(i int) string { return "m" + strconv.Itoa(i) }
	if os.Getenv("HOTLINE_BENCH_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation of the calls
	}
	before := readMem(b)
	b.ResetTimer()
	for i := range b.N {
		r.start(id(i), EntryInbound, "12345")
	}
	if agents > 0 {
		waitForLong(b, "the agents' legs originated", func() bool { return r.pbx.count("originate") >= agents })
		// Answer every originated leg (whichever agent it went to).
		for _, a := range r.pbx.Actions() {
			f := strings.Fields(a)
			if len(f) < 2 || f[0] != "originate" {
				continue
			}
			call, ok := strings.CutSuffix(f[1], "-agent-1")
			if !ok {
				b.Fatalf("unexpected agent leg %q", f[1])
			}
			r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{"agent", call},
				Channel: ariv5.ChannelData{ID: f[1], State: "Up"}})
		}
	}
	waitForLong(b, "every call talking or queued", func() bool {
		talk, queue := 0, 0
		for i := range b.N {
			switch r.phase(id(i)) {
			case phaseTalking:
				talk++
			case phaseQueue:
				queue++
			}
		}
		return talk == agents && queue == b.N-agents
	})
	waitForLong(b, "hold music for every queued call", func() bool { return r.pbx.count("moh") >= b.N-agents })
	b.StopTimer()
	r.pbx.set(func(f *fakePBX) { f.actions = nil })
	after := readMem(b)
	if path := os.Getenv("HOTLINE_BENCH_HEAP_PROFILE"); path != "" { // the heap at the plateau
		// A heap profile is as of the GC before the last: one more GC so
		// that it shows the plateau, not the burst's in-flight requests.
		runtime.GC()
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
	}
	if path := os.Getenv("HOTLINE_BENCH_GOROUTINE_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(f, 1); err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
	}
	n := float64(b.N)
	b.ReportMetric(float64(after.heap-before.heap)/n, "heap-B/call")
	b.ReportMetric(float64(after.stack-before.stack)/n, "stack-B/call")
	b.ReportMetric(float64(after.goRSS-before.goRSS)/n, "go-rss-B/call")
	b.ReportMetric(float64(after.rss-before.rss)/n, "rss-B/call")
	b.ReportMetric(float64(after.rss)/(1<<20), "rss-MiB")               // the whole process at the plateau
	b.ReportMetric(float64(after.alloc-before.alloc)/n, "alloc-B/call") // the rig's fake PBX and polling included
	if b.N >= 1000 {
		// Held: the burst that built the plateau left free heap (the
		// in-flight setups' garbage) that the runtime's scavenger gives
		// back to the OS within seconds; calls talk for minutes.
		time.Sleep(memHold)
		held := readMem(b)
		b.ReportMetric(float64(held.rss-before.rss)/n, "held-rss-B/call")
		b.ReportMetric(float64(held.goRSS-before.goRSS)/n, "held-go-rss-B/call")
		b.Logf("%d calls: heap free %d → %d KiB, released to the OS %d → %d KiB, after %v held",
			b.N, after.free>>10, held.free>>10, after.released>>10, held.released>>10, memHold)
	}
	for i := range b.N {
		r.hangup(id(i))
		r.hangup(dialplan.AgentLeg(id(i), 1))
	}
	waitForLong(b, "every call ended", func() bool { return r.svc.Active() == 0 })
}

// memHold is how long the plateau is held before the held-* readings.
const memHold = 45 * time.Second

type memReading struct{ heap, stack, goRSS, rss, alloc, free, released int64 }

// readMem reads the process's memory after a GC (see BenchmarkCallMemory).
func readMem(b *testing.B) memReading {
	b.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	alloc := int64(ms.TotalAlloc)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(samples)
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(statm))
	if len(f) < 2 {
		b.Fatalf("/proc/self/statm: %q", statm)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		b.Fatalf("/proc/self/statm: %v", err)
	}
	return memReading{
		heap: int64(ms.HeapInuse), stack: int64(ms.StackInuse), alloc: alloc,
		goRSS:    int64(samples[0].Value.Uint64() - samples[1].Value.Uint64()),
		released: int64(samples[1].Value.Uint64()), free: int64(samples[2].Value.Uint64()),
		rss: pages * int64(os.Getpagesize()),
	}
}

// waitForLong is waitFor with a wait that grows with thousands of calls.
func waitForLong(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond) // each poll allocates: not too often
	}
}
