package live_test

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/live"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

func plan() *line.Plan {
	return line.New([]line.Config{
		{Number: "12345", Name: "12345政务服务便民热线", Skill: "general"},
		{Number: "12333", Name: "人社", Skill: "renshe", MergedInto: "12345"},
		{Number: "12315", Name: "市场监管", Skill: "shichang", MergedInto: "12345"},
		{Number: "12348", Name: "法律服务", Skill: "falv", MergedInto: "12345"},
	}, line.Numbering{})
}

type rig struct {
	rdb     *redis.Client
	pool    *acd.Pool
	counter *count.Counter
	reg     store.CallRegistry
	m       *metrics.Metrics
	src     *live.Source
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	keys := store.NewKeys("livetest")
	m := metrics.New(prometheus.NewRegistry())
	p := plan()
	var skills []string
	for _, l := range p.Lines() {
		skills = append(skills, l.Skill)
	}
	log := slog.New(slog.DiscardHandler)
	r := &rig{rdb: rdb, m: m,
		pool:    acd.New(acd.Options{Redis: rdb, Keys: keys, Logger: log, Metrics: m.ACD, Skills: skills}),
		counter: count.New(count.Options{Redis: rdb, Keys: keys, Location: shanghai, Logger: log, Metrics: m.Calls}),
		reg:     store.CallRegistry{Redis: rdb, Keys: keys},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.counter.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	r.src = &live.Source{Board: r.pool, Counts: r.counter, Calls: r.reg, Plan: p, Location: shanghai,
		AnswerTarget: 15 * time.Second, ConnectRateTarget: 0.95}
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func (r *rig) count(t *testing.T, at time.Time, id, ln string, kinds ...count.Kind) {
	t.Helper()
	for _, k := range kinds {
		r.counter.Add(count.Op{CallID: id, Kind: k, Line: ln, At: at})
		r.counter.Add(count.Op{CallID: id, Kind: k, Line: ln, At: at}) // a replay: counted once
	}
	if err := r.counter.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func lineOf(s *hotlinev1.LiveSnapshot, n string) *hotlinev1.LiveFigures {
	for _, l := range s.Lines {
		if l.Line == n {
			return l.Figures
		}
	}
	return nil
}

func near(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 1e-9 }

// The snapshot's figures follow their definitions from what the gateway
// keeps in Redis: queues and agents (acd), the live-call registry and
// today's exactly-once counts.
func TestSnapshotFromRedis(t *testing.T) {
	r := newRig(t)
	c := ctx(t)
	now := time.Now()

	// Agents: 1001 (renshe) ready, 1002 (general) paused, 1003 logged out.
	for ext, sk := range map[string]string{"1001": "renshe", "1002": "general", "1003": "falv"} {
		if _, err := r.pool.Login(c, ext, []string{sk}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.pool.Logout(c, "1003"); err != nil {
		t.Fatal(err)
	}
	// c5 waits on 12333 and is claimed by 1001 (ringing for it); c1 then
	// waits with no ready agent, for 20 s already.
	if _, err := r.pool.SetReady(c, "1001"); err != nil {
		t.Fatal(err)
	}
	for id, entered := range map[string]time.Time{"c5": now.Add(-3 * time.Second), "c1": now.Add(-20 * time.Second)} {
		if err := r.reg.Enter(c, store.LiveCall{ID: id, Line: "12333", Main: "12345", Skill: "renshe", Entered: entered}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.pool.Enqueue(c, "renshe", "c5", false, now.Add(-3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ext, err := r.pool.Claim(c, "renshe", "c5"); err != nil || ext != "1001" {
		t.Fatalf("claim: %q %v", ext, err)
	}
	if err := r.pool.Enqueue(c, "renshe", "c1", false, now.Add(-20*time.Second)); err != nil {
		t.Fatal(err)
	}

	// Today on 12333: c1 and c5 in progress; c2 answered within the target,
	// c3 answered late, c4 abandoned in the queue, c6 left during the
	// greeting (not offered), c7 transferred to 110 and rated satisfied.
	// On 12345: c8 from 110, answered within the target.
	r.count(t, now, "c1", "12333", count.Inbound)
	r.count(t, now, "c5", "12333", count.Inbound)
	r.count(t, now, "c2", "12333", count.Inbound, count.Answered, count.AnsweredTarget)
	r.count(t, now, "c3", "12333", count.Inbound, count.Answered)
	r.count(t, now, "c4", "12333", count.Inbound, count.AbandonQueue)
	r.count(t, now, "c6", "12333", count.Inbound, count.AbandonGreeting)
	r.count(t, now, "c7", "12333", count.Inbound, count.Answered, count.AnsweredTarget, count.TransferTo110, count.Satisfied)
	r.count(t, now, "c8", "12345", count.Inbound, count.From110, count.Answered, count.AnsweredTarget, count.Unsatisfied)
	r.count(t, now.AddDate(0, 0, -1), "old", "12333", count.Inbound, count.Answered) // yesterday: not today's

	s, err := r.src.Compute(c, now)
	if err != nil {
		t.Fatal(err)
	}
	f := lineOf(s, "12333")
	if f.Inbound != 7 || f.AbandonedGreeting != 1 || f.Offered != 6 || f.Answered != 3 || f.AnsweredWithinTarget != 2 ||
		f.Abandoned != 2 || f.TransfersTo110 != 1 || f.Satisfied != 1 {
		t.Errorf("12333 counts = %+v", f)
	}
	if !near(f.TargetRate, 2.0/6) || !near(f.ConnectRate, 3.0/6) || !near(f.SatisfactionRate, 1) {
		t.Errorf("12333 rates: target %v connect %v satisfaction %v; want 2/6, 3/6, 1", f.TargetRate, f.ConnectRate, f.SatisfactionRate)
	}
	if f.Waiting != 1 || f.OldestWaitSeconds < 20 || f.OldestWaitSeconds > 21 || !f.Alarm {
		t.Errorf("12333 queue: waiting %d oldest %ds alarm %t; want 1, 20s, alarm", f.Waiting, f.OldestWaitSeconds, f.Alarm)
	}
	if g := lineOf(s, "12315"); g.Inbound != 0 || g.TargetRate != nil || g.ConnectRate != nil || g.Alarm {
		t.Errorf("12315 without calls: %+v; want no rates and no alarm", g)
	}
	tot := s.Total
	if tot.Inbound != 8 || tot.Offered != 7 || tot.Answered != 4 || tot.AnsweredWithinTarget != 3 || tot.From110 != 1 ||
		!near(tot.TargetRate, 3.0/7) || !near(tot.ConnectRate, 4.0/7) || !near(tot.SatisfactionRate, 0.5) || tot.Waiting != 1 {
		t.Errorf("total = %+v", tot)
	}
	if ac := s.AgentCounts; ac.LoggedIn != 2 || ac.Ringing != 1 || ac.Paused != 1 || ac.LoggedOut != 1 {
		t.Errorf("agent counts = %+v", ac)
	}
	if len(s.Agents) != 3 || s.Agents[0].Extension != "1001" || s.Agents[0].CallId != "c5" || s.Agents[0].Line != "12333" ||
		s.Agents[0].State != hotlinev1.AgentState_AGENT_STATE_RINGING {
		t.Errorf("agents = %v; want 1001 ringing for c5 on 12333 first", s.Agents)
	}
	for _, sk := range s.Skills {
		if sk.Skill == "renshe" && (sk.Waiting != 1 || sk.Agents.Ringing != 1 || sk.OldestWaitSeconds < 20) {
			t.Errorf("renshe = %+v", sk)
		}
	}
	h := s.Hours[now.In(shanghai).Hour()]
	if len(s.Hours) != 24 || h.Inbound != 8 || h.Answered != 4 || h.Abandoned != 2 || h.AnsweredWithinTarget != 3 {
		t.Errorf("this hour = %+v (of %d hours)", h, len(s.Hours))
	}
	if s.Day != now.In(shanghai).Format(time.DateOnly) || s.AnswerTargetSeconds != 15 {
		t.Errorf("day %q target %d", s.Day, s.AnswerTargetSeconds)
	}
	// The within-target count is mirrored once in Prometheus.
	if n := testutil.ToFloat64(r.m.Calls.AnsweredWithinTarget.WithLabelValues("12333")); n != 2 {
		t.Errorf("hotline_calls_answered_within_target_total{line=12333} = %v, want 2", n)
	}
}

// The hub pushes a changed snapshot to its subscribers within a refresh,
// sets the oldest-wait gauge, and closes the subscriptions when it stops.
func TestHubStreamsChanges(t *testing.T) {
	r := newRig(t)
	c := ctx(t)
	hub := live.NewHub(live.HubOptions{Source: r.src, Interval: 100 * time.Millisecond, Metrics: r.m.Live, Instance: "t1"})
	hctx, stop := context.WithCancel(c)
	done := make(chan struct{})
	go func() { hub.Run(hctx); close(done) }()
	updates, cancel := hub.Subscribe()
	defer cancel()
	next := func(what string, ok func(*hotlinev1.LiveSnapshot) bool) *hotlinev1.LiveSnapshot {
		t.Helper()
		deadline := time.After(3 * time.Second)
		for {
			select {
			case u := <-updates:
				if u.Err == nil && ok(u.Snapshot) {
					return u.Snapshot
				}
			case <-deadline:
				t.Fatalf("no snapshot with %s within 3s", what)
			}
		}
	}
	next("nothing waiting", func(s *hotlinev1.LiveSnapshot) bool { return s.Total.Waiting == 0 })
	if err := r.pool.Enqueue(c, "falv", "w1", false, time.Now().Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	s := next("one waiting", func(s *hotlinev1.LiveSnapshot) bool { return s.Total.Waiting == 1 })
	if s.Instance != "t1" || !s.Ready || lineOf(s, "12348").Waiting != 1 {
		t.Errorf("snapshot: instance %q ready %t 12348 waiting %d", s.Instance, s.Ready, lineOf(s, "12348").Waiting)
	}
	if g := testutil.ToFloat64(r.m.Live.OldestWait.WithLabelValues("falv")); g < 30 {
		t.Errorf("hotline_queue_oldest_wait_seconds{skill=falv} = %v, want ≥ 30", g)
	}
	stop()
	<-done
	for range updates { // drained, then closed
	}
}

// BenchmarkCompute: one refresh of the figures from a real redis-server
// with 100 agents logged in and 200 calls waiting over the four queues,
// what each instance does every live.refresh_interval.
func BenchmarkCompute(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rdb.Close() })
	keys := store.NewKeys("livebench")
	m := metrics.New(prometheus.NewRegistry())
	p := plan()
	skills := []string{"general", "renshe", "shichang", "falv"}
	log := slog.New(slog.DiscardHandler)
	pool := acd.New(acd.Options{Redis: rdb, Keys: keys, Logger: log, Metrics: m.ACD, Skills: skills})
	counter := count.New(count.Options{Redis: rdb, Keys: keys, Location: shanghai, Logger: log, Metrics: m.Calls})
	reg := store.CallRegistry{Redis: rdb, Keys: keys}
	c := context.Background()
	for i := range 100 {
		if _, err := pool.Login(c, strconv.Itoa(2000+i), []string{skills[i%4]}, 0); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now()
	for i := range 200 {
		id := "bench-" + strconv.Itoa(i)
		if err := reg.Enter(c, store.LiveCall{ID: id, Line: p.Lines()[i%4].Number, Entered: now}); err != nil {
			b.Fatal(err)
		}
		if err := pool.Enqueue(c, skills[i%4], id, false, now.Add(-time.Duration(i)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	src := &live.Source{Board: pool, Counts: counter, Calls: reg, Plan: p, Location: shanghai, AnswerTarget: 15 * time.Second, ConnectRateTarget: 0.95}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := src.Compute(c, now); err != nil {
			b.Fatal(err)
		}
	}
}

// The figures tell the day's refusals with congestion (shed) per line and
// in total, and those of about the last minute: 0 for refusals from before
// the hub first read the counts, the new ones while they are under a
// minute old, 0 again once a minute has passed without one.
func TestShedLastMinute(t *testing.T) {
	r := newRig(t)
	start := time.Now()
	now := start
	hub := live.NewHub(live.HubOptions{Source: r.src, Now: func() time.Time { return now }})
	snap := func(at time.Duration) *hotlinev1.LiveSnapshot {
		t.Helper()
		now = start.Add(at)
		s, err := hub.Snapshot(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(s *hotlinev1.LiveSnapshot, what string, total, recent, line12333, recent12333 uint32) {
		t.Helper()
		l := lineOf(s, "12333")
		if s.Total.Shed != total || s.Total.ShedLastMinute != recent || l.Shed != line12333 || l.ShedLastMinute != recent12333 {
			t.Errorf("%s: shed total %d (last minute %d), 12333 %d (%d); want %d (%d), %d (%d)", what,
				s.Total.Shed, s.Total.ShedLastMinute, l.Shed, l.ShedLastMinute, total, recent, line12333, recent12333)
		}
	}
	r.count(t, start, "old", "12345", count.Inbound, count.Shed) // before the hub's first reading
	check(snap(0), "at start", 1, 0, 0, 0)
	r.count(t, start, "s1", "12333", count.Inbound, count.Shed)
	r.count(t, start, "s2", "12345", count.Inbound, count.Shed)
	check(snap(2*time.Second), "two refusals", 3, 2, 1, 1)
	check(snap(30*time.Second), "30 s later", 3, 2, 1, 1)
	r.count(t, start, "s3", "12333", count.Inbound, count.Shed)
	check(snap(40*time.Second), "a third at 40 s", 4, 3, 2, 2)
	check(snap(63*time.Second), "a minute after the first two", 4, 1, 2, 1)
	check(snap(101*time.Second), "a minute after the last", 4, 0, 2, 0)
}
