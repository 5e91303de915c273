package acd_test

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

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

const general = "general"

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func client(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func newPool(t testing.TB, rdb redis.UniversalClient) (*acd.Pool, *metrics.ACD) {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry()).ACD
	p := acd.New(acd.Options{
		Redis: rdb, Keys: store.NewKeys("hltest"), Logger: slog.New(slog.DiscardHandler),
		Metrics: m, Skills: []string{general, "labour"}, Timeout: 5 * time.Second,
	})
	return p, m
}

func login(t testing.TB, p *acd.Pool, ext string, wrap time.Duration, skills ...string) {
	t.Helper()
	if len(skills) == 0 {
		skills = []string{general}
	}
	if _, err := p.Login(testCtx(t), ext, skills, wrap); err != nil {
		t.Fatal(err)
	}
}

func ready(t testing.TB, p *acd.Pool, ext string) {
	t.Helper()
	if _, err := p.SetReady(testCtx(t), ext); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, p *acd.Pool, ext string) acd.Agent {
	t.Helper()
	a, err := p.Get(testCtx(t), ext)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// offer enqueues call (entering now) and claims an agent for it.
func offer(t testing.TB, p *acd.Pool, skill, call string) (string, error) {
	t.Helper()
	if err := p.Enqueue(testCtx(t), skill, call, false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return p.Claim(testCtx(t), skill, call)
}

func mustOffer(t testing.TB, p *acd.Pool, call, want string) {
	t.Helper()
	got, err := offer(t, p, general, call)
	if err != nil {
		t.Fatalf("claim for %s: %v", call, err)
	}
	if got != want {
		t.Fatalf("claim for %s: got agent %s, want %s", call, got, want)
	}
}

func TestClaimsLongestIdleAgentFirst(t *testing.T) {
	srv := redistest.Start(t)
	p, m := newPool(t, client(t, srv))
	ctx := testCtx(t)
	for _, e := range []string{"1001", "1002", "1003"} {
		login(t, p, e, 0)
		ready(t, p, e) // idle-since in this order: 1001 has waited longest
	}
	mustOffer(t, p, "c1", "1001")
	mustOffer(t, p, "c2", "1002")
	if err := p.Release(ctx, "1001", "c1", acd.Completed); err != nil { // no wrap-up: ready, idle since now
		t.Fatal(err)
	}
	mustOffer(t, p, "c3", "1003")
	mustOffer(t, p, "c4", "1001")
	// 1002's caller left while it rang: it is ready again and keeps its
	// place (it has been idle longest); 1003 completed its call.
	if err := p.Release(ctx, "1002", "c2", acd.Cancelled); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(ctx, "1003", "c3", acd.Completed); err != nil {
		t.Fatal(err)
	}
	mustOffer(t, p, "c5", "1002")
	mustOffer(t, p, "c6", "1003")
	if _, err := offer(t, p, general, "c7"); !errors.Is(err, acd.ErrNoAgent) {
		t.Fatalf("claim with every agent busy: %v, want ErrNoAgent", err)
	}
	if got := testutil.ToFloat64(m.Claims.WithLabelValues("claimed")); got != 6 {
		t.Errorf("claimed = %v, want 6", got)
	}
	if got := testutil.ToFloat64(m.Claims.WithLabelValues("no_agent")); got != 1 {
		t.Errorf("no_agent = %v, want 1", got)
	}
	a := get(t, p, "1003")
	if a.State != acd.Ringing || a.CallID != "c6" || a.Endpoint() != "PJSIP/agent1003" {
		t.Errorf("1003 = %+v, want ringing for c6", a)
	}
}

func TestClaimTakesAgentOutOfEverySkill(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	login(t, p, "1001", 0, general, "labour")
	ready(t, p, "1001")
	if _, err := offer(t, p, "labour", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := offer(t, p, general, "c2"); !errors.Is(err, acd.ErrNoAgent) {
		t.Fatalf("second claim of a multi-skill agent: %v, want ErrNoAgent", err)
	}
	if err := p.Release(testCtx(t), "1001", "c1", acd.Cancelled); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{general, "labour"} {
		if n, err := p.ReadyAgents(testCtx(t), s); err != nil || n != 1 {
			t.Errorf("ready agents in %s after release = %d, %v; want 1", s, n, err)
		}
	}
}

// Two gateway instances (two pools, two connections) claim concurrently:
// no agent is ever claimed twice until it is released, and only the calls
// at the head of the queue are served.
func TestConcurrentClaimersNeverShareAnAgent(t *testing.T) {
	srv := redistest.Start(t)
	pa, _ := newPool(t, client(t, srv))
	pb, _ := newPool(t, client(t, srv))
	pools := []*acd.Pool{pa, pb}
	ctx := testCtx(t)
	const agents, calls, workers = 20, 200, 16
	for i := range agents {
		e := fmt.Sprintf("2%03d", i)
		login(t, pa, e, 0)
		ready(t, pb, e)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	order := make([]string, calls)
	for i := range calls {
		order[i] = fmt.Sprintf("call-%03d", i)
		if err := pa.Enqueue(ctx, general, order[i], false, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}

	round := func(waiting []string) map[string]string { // ext → call
		var mu sync.Mutex
		claimed := map[string]string{}
		var errs []error
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := pools[w%2]
				var mine []string
				for i := w; i < len(waiting); i += workers {
					mine = append(mine, waiting[i])
				}
				done := map[string]bool{}
				for {
					for _, c := range mine {
						if done[c] {
							continue
						}
						ext, err := p.Claim(ctx, general, c)
						switch {
						case err == nil:
							done[c] = true
							mu.Lock()
							if prev, dup := claimed[ext]; dup {
								errs = append(errs, fmt.Errorf("agent %s claimed for %s and %s", ext, prev, c))
							}
							claimed[ext] = c
							mu.Unlock()
						case errors.Is(err, acd.ErrNoAgent):
							return
						case errors.Is(err, acd.ErrNotHead):
						default:
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		return claimed
	}

	check := func(claimed map[string]string, head []string) {
		t.Helper()
		if len(claimed) != agents {
			t.Fatalf("%d agents claimed, want %d", len(claimed), agents)
		}
		want := map[string]bool{}
		for _, c := range head {
			want[c] = true
		}
		for ext, c := range claimed {
			if !want[c] {
				t.Errorf("call %s was served before calls that waited longer", c)
			}
			delete(want, c)
			if a := get(t, pa, ext); a.State != acd.Ringing || a.CallID != c {
				t.Errorf("agent %s = %s %s, want ringing for %s", ext, a.State, a.CallID, c)
			}
		}
	}

	first := round(order)
	check(first, order[:agents])
	if n, _ := pa.Waiting(ctx, general); n != calls-agents {
		t.Fatalf("waiting = %d, want %d", n, calls-agents)
	}
	// Release everyone (from both instances, concurrently) and go again.
	var wg sync.WaitGroup
	i := 0
	for ext, c := range first {
		wg.Add(1)
		go func(p *acd.Pool) {
			defer wg.Done()
			if err := p.Release(ctx, ext, c, acd.Completed); err != nil {
				t.Error(err)
			}
		}(pools[i%2])
		i++
	}
	wg.Wait()
	second := round(order[agents:])
	check(second, order[agents:2*agents])
}

func TestMissedPausesAndCompletedWrapsUpThenReady(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	ctx := testCtx(t)
	login(t, p, "1001", 0)
	login(t, p, "1002", 50*time.Millisecond)
	ready(t, p, "1001")
	ready(t, p, "1002")

	// Missed: paused with reason missed_call, until the agent sets ready.
	mustOffer(t, p, "c1", "1001")
	if err := p.Release(ctx, "1001", "c1", acd.Missed); err != nil {
		t.Fatal(err)
	}
	if a := get(t, p, "1001"); a.State != acd.Paused || a.Reason != acd.ReasonMissedCall || a.CallID != "" {
		t.Fatalf("after missed: %+v", a)
	}
	mustOffer(t, p, "c2", "1002")
	if _, err := offer(t, p, general, "c3"); !errors.Is(err, acd.ErrNoAgent) {
		t.Fatalf("a paused agent was offered a call: %v", err)
	}
	if err := p.Dequeue(ctx, general, "c3"); err != nil {
		t.Fatal(err)
	}
	ready(t, p, "1001")

	// Completed: on_call, then wrap-up, then ready.
	if err := p.Answered(ctx, "1002", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := p.Answered(ctx, "1002", "c2"); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := p.Answered(ctx, "1002", "other"); !errors.Is(err, acd.ErrWrongCall) {
		t.Fatalf("answered for another call: %v", err)
	}
	if a := get(t, p, "1002"); a.State != acd.OnCall || a.CallID != "c2" {
		t.Fatalf("after answer: %+v", a)
	}
	if err := p.Release(ctx, "1002", "c2", acd.Missed); err != nil { // answered: completes anyway
		t.Fatal(err)
	}
	a := get(t, p, "1002")
	if a.State != acd.WrapUp || a.WrapUpEnds.IsZero() || a.CallID != "c2" {
		t.Fatalf("after completed: %+v", a)
	}
	// A repeated or stale release changes nothing.
	if err := p.Release(ctx, "1002", "c2", acd.Completed); err != nil {
		t.Fatal(err)
	}
	if b := get(t, p, "1002"); b.State != acd.WrapUp || !b.Since.Equal(a.Since) {
		t.Fatalf("a repeated release changed the agent: %+v", b)
	}
	// The wrap-up ends by itself: any instance's sweep makes it ready, idle
	// since the end of its wrap-up.
	for {
		if _, err := p.Sweep(ctx, nil, 0); err != nil {
			t.Fatal(err)
		}
		b := get(t, p, "1002")
		if b.State == acd.Ready {
			if !b.IdleSince.Equal(a.WrapUpEnds) {
				t.Errorf("idle since %v, want the wrap-up end %v", b.IdleSince, a.WrapUpEnds)
			}
			break
		}
		if b.State != acd.WrapUp {
			t.Fatalf("during wrap-up: %+v", b)
		}
		select {
		case <-ctx.Done():
			t.Fatal("wrap-up never ended")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestWrapUpEndsEarlyOnReadyAndLazilyOnClaim(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	ctx := testCtx(t)
	login(t, p, "1001", time.Hour)
	login(t, p, "1002", 20*time.Millisecond)
	ready(t, p, "1001")
	ready(t, p, "1002")
	mustOffer(t, p, "c1", "1001")
	mustOffer(t, p, "c2", "1002")
	for _, x := range [][2]string{{"1001", "c1"}, {"1002", "c2"}} {
		if err := p.Release(ctx, x[0], x[1], acd.Completed); err != nil {
			t.Fatal(err)
		}
	}
	// 1001 ends its hour of wrap-up early.
	ready(t, p, "1001")
	if a := get(t, p, "1001"); a.State != acd.Ready {
		t.Fatalf("1001 = %+v", a)
	}
	mustOffer(t, p, "c3", "1001")
	// 1002's wrap-up ends while nobody sweeps: Claim finishes it.
	for {
		ext, err := offer(t, p, general, "c4")
		if err == nil {
			if ext != "1002" {
				t.Fatalf("claimed %s", ext)
			}
			break
		}
		if !errors.Is(err, acd.ErrNoAgent) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("wrap-up never ended")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestQueueOrderPriorityThenFIFO(t *testing.T) {
	srv := redistest.Start(t)
	p, m := newPool(t, client(t, srv))
	ctx := testCtx(t)
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		id       string
		priority bool
		at       time.Time
	}{
		{"n1", false, t0},
		{"n2", false, t0.Add(time.Second)},
		{"p1", true, t0.Add(2 * time.Second)}, // e.g. transferred from 110
		{"n3", false, t0.Add(3 * time.Second)},
		{"p0", true, t0.Add(-time.Second)},
	} {
		if err := p.Enqueue(ctx, general, c.id, c.priority, c.at); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range []string{"p0", "p1", "n1", "n2", "n3"} {
		if pos, err := p.Position(ctx, general, id); err != nil || pos != i+1 {
			t.Errorf("position of %s = %d, %v; want %d", id, pos, err, i+1)
		}
	}
	if n, err := p.Waiting(ctx, general); err != nil || n != 5 {
		t.Fatalf("waiting = %d, %v", n, err)
	}

	login(t, p, "1001", 0)
	ready(t, p, "1001")
	before := get(t, p, "1001")
	// One ready agent: only the head may take it.
	if _, err := p.Claim(ctx, general, "p1"); !errors.Is(err, acd.ErrNotHead) {
		t.Fatalf("claim for the second call: %v, want ErrNotHead", err)
	}
	if _, err := p.Claim(ctx, general, "nope"); !errors.Is(err, acd.ErrNotWaiting) {
		t.Fatalf("claim for a call not waiting: %v, want ErrNotWaiting", err)
	}
	if a := get(t, p, "1001"); a.State != acd.Ready || !a.Since.Equal(before.Since) {
		t.Fatalf("a refused claim changed the agent: %+v", a)
	}
	if pos, _ := p.Position(ctx, general, "p1"); pos != 2 {
		t.Fatalf("a refused claim moved the call to %d", pos)
	}
	if ext, err := p.Claim(ctx, general, "p0"); err != nil || ext != "1001" {
		t.Fatalf("claim for the head: %q, %v", ext, err)
	}
	if _, err := p.Position(ctx, general, "p0"); !errors.Is(err, acd.ErrNotWaiting) {
		t.Fatalf("claimed call still waiting: %v", err)
	}
	// A caller re-queued with priority after a failed transfer goes before
	// every normal call, and among priority calls by entry time.
	if err := p.Enqueue(ctx, general, "n3", true, t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"p1", "n3", "n1", "n2"} {
		if pos, err := p.Position(ctx, general, id); err != nil || pos != i+1 {
			t.Errorf("after re-queue: position of %s = %d, %v; want %d", id, pos, err, i+1)
		}
	}
	if err := p.Dequeue(ctx, general, "p1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Dequeue(ctx, general, "p1"); err != nil { // idempotent
		t.Fatal(err)
	}
	if pos, _ := p.Position(ctx, general, "n3"); pos != 1 {
		t.Errorf("after dequeue: n3 at %d", pos)
	}
	if got := testutil.ToFloat64(m.Claims.WithLabelValues("not_head")); got != 1 {
		t.Errorf("not_head = %v", got)
	}
	if err := p.RefreshMetrics(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Waiting.WithLabelValues(general)); got != 3 {
		t.Errorf("waiting gauge = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.Agents.WithLabelValues("ringing")); got != 1 {
		t.Errorf("ringing agents gauge = %v, want 1", got)
	}
}

func TestRefusedChangesLeaveStateAlone(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	ctx := testCtx(t)
	login(t, p, "1001", 0)
	a := get(t, p, "1001")
	if _, err := p.Login(ctx, "1001", []string{"labour"}, time.Minute); !errors.Is(err, acd.ErrAlreadyLoggedIn) {
		t.Fatalf("second login: %v", err)
	}
	if b := get(t, p, "1001"); b.SessionID != a.SessionID || b.Skills[0] != general || b.WrapUp != 0 {
		t.Fatalf("a refused login changed the agent: %+v", b)
	}
	ready(t, p, "1001")
	mustOffer(t, p, "c1", "1001")
	a = get(t, p, "1001")
	for name, f := range map[string]func() error{
		"ready":  func() error { _, err := p.SetReady(ctx, "1001"); return err },
		"pause":  func() error { _, err := p.Pause(ctx, "1001", "break"); return err },
		"logout": func() error { _, err := p.Logout(ctx, "1001"); return err },
	} {
		if err := f(); !errors.Is(err, acd.ErrNotAllowed) {
			t.Errorf("%s while ringing: %v, want ErrNotAllowed", name, err)
		}
	}
	if b := get(t, p, "1001"); b.State != acd.Ringing || !b.Since.Equal(a.Since) {
		t.Fatalf("refused changes changed the agent: %+v", b)
	}
	if _, err := p.SetReady(ctx, "1999"); !errors.Is(err, acd.ErrUnknownAgent) {
		t.Errorf("unknown agent: %v", err)
	}
	var fe *acd.FieldError
	if _, err := p.Login(ctx, "1a", []string{general}, 0); !errors.As(err, &fe) || fe.Field != "extension" {
		t.Errorf("bad extension: %v", err)
	}
	if _, err := p.Login(ctx, "1002", []string{general, "Bad"}, 0); !errors.As(err, &fe) || fe.Field != "skills[1]" {
		t.Errorf("bad skill: %v", err)
	}
	if err := p.Release(ctx, "1001", "c1", acd.Completed); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Logout(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetReady(ctx, "1001"); !errors.Is(err, acd.ErrNotAllowed) {
		t.Errorf("ready while logged out: %v", err)
	}
	login(t, p, "1001", 0) // a new session after logout
}

func TestSweepFreesAgentsOfDeadCalls(t *testing.T) {
	srv := redistest.Start(t)
	p, m := newPool(t, client(t, srv))
	ctx := testCtx(t)
	for _, e := range []string{"1001", "1002", "1003"} {
		login(t, p, e, time.Hour)
		ready(t, p, e)
	}
	mustOffer(t, p, "dead-ringing", "1001")
	mustOffer(t, p, "dead-talking", "1002")
	mustOffer(t, p, "alive", "1003")
	for _, x := range [][2]string{{"1002", "dead-talking"}, {"1003", "alive"}} {
		if err := p.Answered(ctx, x[0], x[1]); err != nil {
			t.Fatal(err)
		}
	}
	live := func(_ context.Context, call string) (bool, error) { return call == "alive", nil }
	// Too young: a call being set up is never swept.
	if r, err := p.Sweep(ctx, live, time.Hour); err != nil || r.Freed != 0 {
		t.Fatalf("sweep of young calls: %+v, %v", r, err)
	}
	// Unsure: left alone.
	unsure := func(context.Context, string) (bool, error) { return false, errors.New("ARI down") }
	if r, err := p.Sweep(ctx, unsure, 0); err != nil || r.Freed != 0 {
		t.Fatalf("sweep without an answer: %+v, %v", r, err)
	}
	if r, err := p.Sweep(ctx, live, 0); err != nil || r.Freed != 2 {
		t.Fatalf("sweep: %+v, %v", r, err)
	}
	if a := get(t, p, "1001"); a.State != acd.Ready {
		t.Errorf("stuck ringing agent is %s, want ready", a.State)
	}
	if a := get(t, p, "1002"); a.State != acd.WrapUp {
		t.Errorf("stuck talking agent is %s, want wrap_up", a.State)
	}
	if a := get(t, p, "1003"); a.State != acd.OnCall {
		t.Errorf("agent on a live call is %s", a.State)
	}
	if got := testutil.ToFloat64(m.Freed.WithLabelValues("on_call")); got != 1 {
		t.Errorf("freed on_call = %v", got)
	}
	// The late release by the crashed call's owner is a no-op.
	if err := p.Release(ctx, "1001", "dead-ringing", acd.Missed); err != nil {
		t.Fatal(err)
	}
	if a := get(t, p, "1001"); a.State != acd.Ready {
		t.Errorf("late release changed the agent to %s", a.State)
	}
}

func TestReadyNotificationReachesOtherInstances(t *testing.T) {
	srv := redistest.Start(t)
	pa, _ := newPool(t, client(t, srv))
	pb, _ := newPool(t, client(t, srv))
	ctx := testCtx(t)
	skills, err := pb.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	login(t, pa, "1001", 0, "labour")
	ready(t, pa, "1001")
	select {
	case s := <-skills:
		if s != "labour" {
			t.Fatalf("notified %q", s)
		}
	case <-ctx.Done():
		t.Fatal("no notification")
	}
}

func TestEventsFromAnotherInstance(t *testing.T) {
	srv := redistest.Start(t)
	pa, _ := newPool(t, client(t, srv))
	pb, _ := newPool(t, client(t, srv))
	ctx := testCtx(t)
	if err := pb.Offer(ctx, "1001", &hotlinev1.CallOffer{CallId: "c1"}); !errors.Is(err, acd.ErrNoDesktop) {
		t.Fatalf("offer without a desktop: %v", err)
	}
	es, err := pa.Events(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if err := pb.Offer(ctx, "1001", &hotlinev1.CallOffer{CallId: "c1", CallerNumber: "13800000000"}); err != nil {
		t.Fatal(err)
	}
	ev, err := es.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetOffer().GetCallId() != "c1" || ev.GetAt() == nil {
		t.Fatalf("got %v", ev)
	}
}

func BenchmarkClaimRelease(b *testing.B) {
	srv := redistest.Start(b)
	p, _ := newPool(b, client(b, srv))
	ctx := testCtx(b)
	for i := range 10 {
		e := fmt.Sprintf("10%02d", i)
		login(b, p, e, 0)
		ready(b, p, e)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		call := fmt.Sprintf("bench-%d", i)
		i++
		if err := p.Enqueue(ctx, general, call, false, time.Time{}); err != nil {
			b.Fatal(err)
		}
		ext, err := p.Claim(ctx, general, call)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Release(ctx, ext, call, acd.Completed); err != nil {
			b.Fatal(err)
		}
	}
}

// ReleaseAfterEvent: the desktop gets the event, then the agent's new
// state; the agent is released as by Release; with the scripts flushed
// from Redis (NOSCRIPT) the release still happens and the event is sent
// once.
func TestReleaseAfterEventPublishesFirst(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	p, _ := newPool(t, rdb)
	ctx := testCtx(t)
	login(t, p, "1001", 0)
	es, err := p.Events(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	for i, flush := range []bool{false, true} {
		call := fmt.Sprintf("rae-%d", i)
		ready(t, p, "1001")
		if err := p.Enqueue(ctx, general, call, false, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if ext, err := p.Claim(ctx, general, call); err != nil || ext != "1001" {
			t.Fatalf("claim: %q, %v", ext, err)
		}
		if flush {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		ended := &hotlinev1.AgentEvent{Event: &hotlinev1.AgentEvent_Progress{Progress: &hotlinev1.CallProgress{
			CallId: call, Kind: hotlinev1.CallProgress_KIND_ENDED}}}
		if err := p.ReleaseAfterEvent(ctx, "1001", call, acd.Cancelled, ended); err != nil {
			t.Fatal(err)
		}
		a, err := p.Get(ctx, "1001")
		if err != nil || a.State != acd.Ready || a.CallID != "" {
			t.Fatalf("after the release: %+v, %v; want ready without a call", a, err)
		}
		var kinds []string
		for len(kinds) < 10 {
			ev, err := es.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if pr := ev.GetProgress(); pr != nil && pr.GetCallId() == call {
				kinds = append(kinds, "ended")
				continue
			}
			if st := ev.GetState(); st != nil && len(kinds) > 0 {
				kinds = append(kinds, "state")
				break
			}
		}
		if strings.Join(kinds, ",") != "ended,state" {
			t.Errorf("scripts flushed %v: events %v, want the ended event once, then the state", flush, kinds)
		}
	}
}

// AnsweredThenEvent: the agent goes on the call, and its desktop gets the
// new state, then the event.
func TestAnsweredThenEventPublishesAfterTheState(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	ctx := testCtx(t)
	login(t, p, "1001", 0)
	ready(t, p, "1001")
	if err := p.Enqueue(ctx, general, "ate-1", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ext, err := p.Claim(ctx, general, "ate-1"); err != nil || ext != "1001" {
		t.Fatalf("claim: %q, %v", ext, err)
	}
	es, err := p.Events(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	connected := &hotlinev1.AgentEvent{Event: &hotlinev1.AgentEvent_Progress{Progress: &hotlinev1.CallProgress{
		CallId: "ate-1", Kind: hotlinev1.CallProgress_KIND_CONNECTED}}}
	if err := p.AnsweredThenEvent(ctx, "1001", "ate-1", connected); err != nil {
		t.Fatal(err)
	}
	if a, err := p.Get(ctx, "1001"); err != nil || a.State != acd.OnCall {
		t.Fatalf("after answered: %+v, %v; want on call", a, err)
	}
	first, err := es.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := es.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetState() == nil || second.GetProgress().GetKind() != hotlinev1.CallProgress_KIND_CONNECTED {
		t.Errorf("events %v then %v; want the state, then connected", first, second)
	}
}

// A desk cannot ask for more wrap-up than its group's cap; the error names
// the field, the cap and the group, and nothing changes.
func TestLoginRefusesWrapUpAboveTheGroupCap(t *testing.T) {
	srv := redistest.Start(t)
	p := acd.New(acd.Options{
		Redis: client(t, srv), Keys: store.NewKeys("hltest"), Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.New(prometheus.NewRegistry()).ACD, Skills: []string{general, "labour"}, Timeout: 5 * time.Second,
		WrapUpMax: map[string]time.Duration{"labour": 60 * time.Second},
	})
	_, err := p.Login(testCtx(t), "1001", []string{general, "labour"}, 61*time.Second)
	var fe *acd.FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "wrap_up_seconds") || !strings.Contains(err.Error(), "60 s") || !strings.Contains(err.Error(), "labour") {
		t.Fatalf("Login with 61 s wrap-up over a 60 s cap: %v, want a wrap_up_seconds field error naming the cap and the group", err)
	}
	if _, err := p.Get(testCtx(t), "1001"); !errors.Is(err, acd.ErrUnknownAgent) {
		t.Fatalf("refused login left the agent: %v", err)
	}
	a, err := p.Login(testCtx(t), "1001", []string{general, "labour"}, 60*time.Second)
	if err != nil || a.WrapUp != 60*time.Second {
		t.Fatalf("Login at the cap: %+v %v", a, err)
	}
	if _, err := p.Login(testCtx(t), "1002", []string{general}, 30*time.Minute); err != nil {
		t.Fatalf("Login to an uncapped group: %v", err)
	}
}

// EnqueueClaimIn queues and claims in one script, which publishes the
// claimed agent's ringing state and then the offer — but nothing at all
// while nobody subscribes (no SPUBLISH runs) — and reports how many
// streams received the offer. A call behind another waits (ErrNotHead)
// in the queue.
func TestEnqueueClaimInOnePipeline(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	p, _ := newPool(t, rdb)
	ctx := testCtx(t)
	login(t, p, "1001", 0, "general")
	ready(t, p, "1001")
	step := func(call string) (string, int64, error) {
		pipe := rdb.Pipeline()
		st, err := p.EnqueueClaimIn(ctx, pipe, "general", call, false, time.Now(), &hotlinev1.CallOffer{CallId: call})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pipe.Exec(ctx)
		return st.Result(ctx)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	ext, n, err := step("c1")
	if err != nil || ext != "1001" || n != 0 {
		t.Fatalf("enqueue-claim c1 = %q, %d receivers, %v; want 1001, 0", ext, n, err)
	}
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(info, "cmdstat_spublish:") {
		t.Errorf("SPUBLISH ran with nobody subscribed:\n%s", info)
	}
	if a := get(t, p, "1001"); a.State != acd.Ringing || a.CallID != "c1" {
		t.Fatalf("agent after the claim: %+v", a)
	}
	// Again (a lost reply): the same agent, the call not queued again.
	if ext, _, err := step("c1"); err != nil || ext != "1001" {
		t.Fatalf("enqueue-claim c1 again = %q, %v", ext, err)
	}
	if w, err := p.Waiting(ctx, "general"); err != nil || w != 0 {
		t.Fatalf("waiting after the repeated claim = %d, %v; want 0", w, err)
	}
	if err := p.Release(ctx, "1001", "c1", acd.Cancelled); err != nil {
		t.Fatal(err)
	}
	es, err := p.Events(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if ext, n, err = step("c2"); err != nil || ext != "1001" || n != 1 {
		t.Fatalf("enqueue-claim c2 = %q, %d receivers, %v; want 1001, 1", ext, n, err)
	}
	ev, err := es.Next(ctx)
	if err != nil || ev.GetState().GetState() != hotlinev1.AgentState_AGENT_STATE_RINGING || ev.GetState().GetCallId() != "c2" || ev.GetAt() == nil {
		t.Fatalf("first event = %v, %v; want agent 1001 ringing for c2", ev, err)
	}
	if ev, err = es.Next(ctx); err != nil || ev.GetOffer().GetCallId() != "c2" {
		t.Fatalf("second event = %v, %v; want the offer of c2", ev, err)
	}
	// No agent left: the call waits in the queue.
	if _, _, err := step("c3"); !errors.Is(err, acd.ErrNoAgent) {
		t.Fatalf("enqueue-claim c3 = %v, want ErrNoAgent", err)
	}
	if pos, err := p.Position(ctx, "general", "c3"); err != nil || pos != 1 {
		t.Fatalf("c3 position = %d, %v; want 1", pos, err)
	}
}
