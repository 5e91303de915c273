package count_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

var shanghai = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

type rig struct {
	c      *count.Counter
	m      *metrics.Calls
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t *testing.T, rdb redis.UniversalClient) *rig {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry()).Calls
	c := count.New(count.Options{
		Redis: rdb, Keys: store.NewKeys("hltest"), Location: shanghai,
		Logger: slog.New(slog.DiscardHandler), Metrics: m, PendingLimit: 10000, Timeout: time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{c: c, m: m, cancel: cancel, done: make(chan struct{})}
	go func() { c.Run(ctx); close(r.done) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *rig) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func day(t *testing.T, r *rig, d string) count.Totals {
	t.Helper()
	rg, err := count.ParseRange(d, d, shanghai, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tot, err := r.c.Query(context.Background(), rg)
	if err != nil {
		t.Fatal(err)
	}
	return tot
}

func TestCountsEachCallOnceEvenWhenReplayed(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	r := newRig(t, rdb)
	at := time.Date(2023, 1, 10, 9, 0, 0, 0, shanghai)
	for i := 0; i < 3; i++ { // the same events three times: replays
		r.c.Add(count.Op{CallID: "c1", Kind: count.Inbound, Line: "12333", At: at})
		r.c.Add(count.Op{CallID: "c2", Kind: count.Inbound, Line: "12345", At: at})
		r.c.Add(count.Op{CallID: "c1", Kind: count.Answered, Line: "12333", At: at, Value: 4000})
	}
	r.flush(t)
	tot := day(t, r, "2023-01-10")
	if got := tot.Sum(count.Inbound); got != 2 {
		t.Errorf("inbound = %d, want 2", got)
	}
	if got := tot.Get(count.Inbound, "12333"); got != 1 {
		t.Errorf("inbound 12333 = %d, want 1", got)
	}
	if got := tot.Ms(count.Answered, "12333"); got != 4000 {
		t.Errorf("answered wait ms = %d, want 4000", got)
	}
	if got := testutil.ToFloat64(r.m.Calls.WithLabelValues("inbound", "12333")); got != 1 {
		t.Errorf("hotline_calls_total{inbound,12333} = %v, want 1", got)
	}
}

func TestTwoCountersOnOneRedisCountOnce(t *testing.T) {
	srv := redistest.Start(t)
	a := newRig(t, redis.NewClient(&redis.Options{Addr: srv.Addr}))
	b := newRig(t, redis.NewClient(&redis.Options{Addr: srv.Addr}))
	at := time.Date(2023, 2, 1, 12, 0, 0, 0, shanghai)
	var wg sync.WaitGroup
	for _, r := range []*rig{a, b} {
		wg.Add(1)
		go func(r *rig) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				r.c.Add(count.Op{CallID: fmt.Sprintf("call-%d", i), Kind: count.Inbound, Line: "12315", At: at})
			}
		}(r)
	}
	wg.Wait()
	a.flush(t)
	b.flush(t)
	if got := day(t, a, "2023-02-01").Get(count.Inbound, "12315"); got != 500 {
		t.Fatalf("inbound 12315 = %d, want 500", got)
	}
	ma := testutil.ToFloat64(a.m.Calls.WithLabelValues("inbound", "12315"))
	mb := testutil.ToFloat64(b.m.Calls.WithLabelValues("inbound", "12315"))
	if ma+mb != 500 {
		t.Fatalf("metrics of both instances sum to %v, want 500", ma+mb)
	}
}

func TestDayBoundaryInShanghai(t *testing.T) {
	srv := redistest.Start(t)
	r := newRig(t, redis.NewClient(&redis.Options{Addr: srv.Addr}))
	r.c.Add(count.Op{CallID: "late", Kind: count.Inbound, Line: "12345", At: time.Date(2023, 1, 31, 23, 59, 59, 0, shanghai)})
	// 00:00:01 in Shanghai is still the previous day in UTC: the day must follow Shanghai.
	r.c.Add(count.Op{CallID: "early", Kind: count.Inbound, Line: "12345", At: time.Date(2023, 2, 1, 0, 0, 1, 0, shanghai).UTC()})
	r.flush(t)
	if got := day(t, r, "2023-01-31").Sum(count.Inbound); got != 1 {
		t.Errorf("2023-01-31 inbound = %d, want 1", got)
	}
	if got := day(t, r, "2023-02-01").Sum(count.Inbound); got != 1 {
		t.Errorf("2023-02-01 inbound = %d, want 1", got)
	}
	rg, _ := count.ParseRange("2023-01-01", "2023-02-28", shanghai, time.Now())
	tot, err := r.c.Query(context.Background(), rg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tot.Sum(count.Inbound); got != 2 {
		t.Errorf("Jan+Feb (month hashes) inbound = %d, want 2", got)
	}
}

func TestCountsSurviveRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	r := newRig(t, redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond}))
	at := time.Date(2023, 1, 5, 10, 0, 0, 0, shanghai)
	for i := 0; i < 50; i++ {
		r.c.Add(count.Op{CallID: fmt.Sprintf("before-%d", i), Kind: count.Inbound, Line: "12348", At: at})
	}
	r.flush(t)
	srv.Stop()
	for i := 0; i < 100; i++ {
		r.c.Add(count.Op{CallID: fmt.Sprintf("during-%d", i), Kind: count.Inbound, Line: "12348", At: at})
	}
	time.Sleep(2 * time.Second) // the counter retries against a dead server meanwhile
	if testutil.ToFloat64(r.m.CountRetries) == 0 {
		t.Error("no retries counted while Redis was down")
	}
	srv.Restart()
	r.flush(t)
	if got := day(t, r, "2023-01-05").Get(count.Inbound, "12348"); got != 150 {
		t.Fatalf("inbound 12348 after outage = %d, want 150", got)
	}
	if got := testutil.ToFloat64(r.m.CountDropped); got != 0 {
		t.Fatalf("dropped = %v", got)
	}
}

func TestCountsOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	r := newRig(t, redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cl.Addrs()}))
	at := time.Date(2023, 1, 20, 10, 0, 0, 0, shanghai)
	for i := 0; i < 200; i++ {
		r.c.Add(count.Op{CallID: fmt.Sprintf("cl-%d", i), Kind: count.Inbound, Line: "12345", At: at})
		r.c.Add(count.Op{CallID: fmt.Sprintf("cl-%d", i), Kind: count.Inbound, Line: "12345", At: at})
	}
	r.flush(t)
	if got := day(t, r, "2023-01-20").Get(count.Inbound, "12345"); got != 200 {
		t.Fatalf("cluster inbound = %d, want 200", got)
	}
}

func TestParseRangeRejects(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, shanghai)
	for _, tt := range []struct{ from, to string }{
		{"2023-02-28", "2023-01-01"},
		{"2023-13-01", "2023-12-31"},
		{"1999-12-31", "2000-01-01"},
		{"2020-01-01", "2023-01-01"},
		{"2026-01-01", "2099-01-01"},
		{"", "2023-01-01"},
	} {
		if _, err := count.ParseRange(tt.from, tt.to, shanghai, now); err == nil {
			t.Errorf("ParseRange(%q, %q) accepted", tt.from, tt.to)
		}
	}
	if _, err := count.ParseRange("2023-01-01", "2023-02-28", shanghai, now); err != nil {
		t.Errorf("valid range rejected: %v", err)
	}
}

// Counts are kept per hour beside the day: a day's 24 hours sum to the day,
// the hour follows Shanghai, and a replayed op counts once in its hour too.
func TestHoursSumToTheDay(t *testing.T) {
	srv := redistest.Start(t)
	r := newRig(t, redis.NewClient(&redis.Options{Addr: srv.Addr}))
	placed := map[int]int{0: 2, 9: 3, 14: 1, 23: 4}
	n := 0
	for h, k := range placed {
		for i := 0; i < k; i++ {
			at := time.Date(2023, 3, 7, h, 17, 0, 0, shanghai).UTC() // hours follow Shanghai, not the clock's zone
			for replay := 0; replay < 2; replay++ {
				r.c.Add(count.Op{CallID: fmt.Sprintf("h%d-%d", h, i), Kind: count.Inbound, Line: "12345", At: at})
				r.c.Add(count.Op{CallID: fmt.Sprintf("h%d-%d", h, i), Kind: count.Answered, Line: "12345", At: at, Value: 1500})
			}
			n++
		}
	}
	r.flush(t)
	rg, err := count.ParseRange("2023-03-07", "2023-03-07", shanghai, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hours, err := r.c.QueryHours(context.Background(), rg)
	if err != nil {
		t.Fatal(err)
	}
	var sum, sumMs int64
	for h, tot := range hours {
		if got := tot.Get(count.Inbound, "12345"); got != int64(placed[h]) {
			t.Errorf("hour %02d inbound = %d, want %d", h, got, placed[h])
		}
		sum += tot.Sum(count.Inbound)
		sumMs += tot.SumMs(count.Answered)
	}
	d := day(t, r, "2023-03-07")
	if sum != d.Sum(count.Inbound) || sum != int64(n) {
		t.Errorf("hours sum to %d inbound, the day has %d, placed %d", sum, d.Sum(count.Inbound), n)
	}
	if sumMs != d.SumMs(count.Answered) || sumMs != int64(n)*1500 {
		t.Errorf("hours sum to %d ms of wait, the day has %d, placed %d", sumMs, d.SumMs(count.Answered), n*1500)
	}
}

// A two-day range read day by day gives two days, each with its own calls,
// in order; the range's total is their sum.
func TestTwoDayRangeGivesTwoDays(t *testing.T) {
	srv := redistest.Start(t)
	r := newRig(t, redis.NewClient(&redis.Options{Addr: srv.Addr}))
	first := time.Date(2023, 4, 30, 22, 0, 0, 0, shanghai)
	for i := 0; i < 3; i++ {
		r.c.Add(count.Op{CallID: fmt.Sprintf("a%d", i), Kind: count.Inbound, Line: "12333", At: first})
	}
	for i := 0; i < 5; i++ {
		r.c.Add(count.Op{CallID: fmt.Sprintf("b%d", i), Kind: count.Inbound, Line: "12345", At: first.Add(3 * time.Hour)}) // 01:00 on 1 May
	}
	r.flush(t)
	rg, err := count.ParseRange("2023-04-30", "2023-05-01", shanghai, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	days, err := r.c.QueryDays(context.Background(), rg)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || days[0].Date != "2023-04-30" || days[1].Date != "2023-05-01" {
		t.Fatalf("days = %+v, want 2023-04-30 and 2023-05-01", days)
	}
	if got := days[0].Totals.Get(count.Inbound, "12333"); got != 3 {
		t.Errorf("2023-04-30 inbound 12333 = %d, want 3", got)
	}
	if got := days[1].Totals.Sum(count.Inbound); got != 5 {
		t.Errorf("2023-05-01 inbound = %d, want 5", got)
	}
	tot, err := r.c.Query(context.Background(), rg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tot.Sum(count.Inbound); got != 8 {
		t.Errorf("range inbound = %d, want 8", got)
	}
}

func TestHourRangeIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	r := newRig(t, redis.NewClient(&redis.Options{Addr: srv.Addr}))
	rg, err := count.ParseRange("2023-01-01", "2023-12-31", shanghai, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.QueryHours(context.Background(), rg); !errors.Is(err, count.ErrBadRange) {
		t.Fatalf("QueryHours over a year: %v, want ErrBadRange", err)
	}
}

// Counts go to Redis as EVALSHA, not as EVAL with the script's text; after
// SCRIPT FLUSH (or a restarted Redis) the NOSCRIPT answers are loaded and
// applied again, and every call is still counted once.
func TestCountsUseEvalShaAndSurviveScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	r := newRig(t, rdb)
	ctx := context.Background()
	at := time.Date(2023, 1, 10, 9, 0, 0, 0, shanghai)
	for i := range 20 {
		r.c.Add(count.Op{CallID: fmt.Sprintf("sha-%d", i), Kind: count.Inbound, Line: "12345", At: at})
	}
	r.flush(t)
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // 10 replays, 10 new
		r.c.Add(count.Op{CallID: fmt.Sprintf("sha-%d", i+10), Kind: count.Inbound, Line: "12345", At: at})
	}
	r.flush(t)
	if got := day(t, r, "2023-01-10").Sum(count.Inbound); got != 30 {
		t.Errorf("inbound = %d, want 30", got)
	}
	if got := testutil.ToFloat64(r.m.Calls.WithLabelValues("inbound", "12345")); got != 30 {
		t.Errorf("hotline_calls_total{inbound,12345} = %v, want 30 (each call observed once)", got)
	}
	stats := commandStats(t, rdb)
	if stats["eval"] != 0 {
		t.Errorf("%d EVAL commands, want none (EVALSHA only)", stats["eval"])
	}
	if stats["evalsha"] < 40 {
		t.Errorf("%d EVALSHA commands, want at least 40", stats["evalsha"])
	}
}

// commandStats returns INFO commandstats: command name → calls.
func commandStats(t *testing.T, rdb *redis.Client) map[string]int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls int
		if _, err := fmt.Sscanf(rest, "calls=%d", &calls); err != nil {
			t.Fatalf("INFO commandstats line %q: %v", line, err)
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = calls
	}
	return out
}

// Ops riding in a caller's pipeline (Pipe) are applied by that pipeline,
// once; after SCRIPT FLUSH (NOSCRIPT) and while Redis is down they go to
// the Counter's queue and are applied once Redis has the script or is back:
// none lost, none counted twice, each observed once.
func TestCountsInACallersPipeline(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	r := newRig(t, rdb)
	ctx := context.Background()
	at := time.Date(2023, 2, 1, 9, 0, 0, 0, shanghai)
	step := func(ids ...string) error {
		pipe := rdb.Pipeline()
		ping := pipe.Ping(ctx)
		var ops []count.Op
		for _, id := range ids {
			ops = append(ops, count.Op{CallID: id, Kind: count.Inbound, Line: "12345", At: at})
		}
		p := r.c.Pipe(ctx, pipe, ops...)
		_, _ = pipe.Exec(ctx) // NOSCRIPT answers included: Done reads each
		p.Done()
		return ping.Err()
	}
	r.c.Add(count.Op{CallID: "p-0", Kind: count.Outbound, Line: "12345", At: at}) // loads the script
	r.flush(t)
	if err := step("p-1", "p-2"); err != nil {
		t.Fatal(err)
	}
	// Applied by the pipeline itself: nothing left for the queue.
	if got := testutil.ToFloat64(r.m.CountPending); got != 0 {
		t.Errorf("pending after the pipeline = %v, want 0", got)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := step("p-2", "p-3"); err != nil { // p-2 again: counted once
		t.Fatal(err)
	}
	r.flush(t)
	srv.Stop()
	if err := step("p-4"); err == nil {
		t.Fatal("a pipeline to a stopped Redis succeeded")
	}
	srv.Restart()
	r.flush(t)
	if got := day(t, r, "2023-02-01").Get(count.Inbound, "12345"); got != 4 {
		t.Errorf("inbound = %d, want 4 (p-1..p-4 once each)", got)
	}
	if got := testutil.ToFloat64(r.m.Calls.WithLabelValues("inbound", "12345")); got != 4 {
		t.Errorf("hotline_calls_total{inbound,12345} = %v, want 4", got)
	}
}
