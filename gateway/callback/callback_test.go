package callback_test

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

	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

const caller = "13800138000"

func shanghai(t testing.TB) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// clock is a settable clock shared by the stores of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

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

func newStore(t testing.TB, rdb redis.UniversalClient, clk *clock, m *metrics.Outbound) *callback.Store {
	t.Helper()
	s, err := callback.New(callback.Options{
		Redis: rdb, Keys: store.NewKeys("hltest"), Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Location: shanghai(t), Now: clk.Now, ClaimTTL: 30 * time.Minute, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newMetrics() *metrics.Outbound { return metrics.New(prometheus.NewRegistry()).Outbound }

// at returns a time in Shanghai.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation(time.DateTime, s, shanghai(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func events(m *metrics.Outbound, e string) int {
	return int(testutil.ToFloat64(m.Callbacks.WithLabelValues(e)))
}

func add(t testing.TB, s *callback.Store, num, call string, when time.Time) (callback.Task, bool) {
	t.Helper()
	task, created, err := s.Add(testCtx(t), callback.Task{CallerNumber: num, Line: "12345", CallID: call, AbandonedAt: when})
	if err != nil {
		t.Fatal(err)
	}
	return task, created
}

func TestSecondMissedCallSameDayAddsAttempt(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 18:00:00")}
	m := newMetrics()
	s := newStore(t, client(t, srv), clk, m)

	first, created := add(t, s, caller, "c1", at(t, "2026-11-26 09:00:00"))
	if !created || !strings.HasPrefix(first.ID, "cb-20261126-") || first.Attempts != 1 || first.State != callback.Open {
		t.Fatalf("first: %+v created=%v", first, created)
	}
	second, created := add(t, s, caller, "c2", at(t, "2026-11-26 15:30:00"))
	if created || second.ID != first.ID || second.Attempts != 2 || second.LastCallID != "c2" || second.CallID != "c1" {
		t.Fatalf("second: %+v created=%v", second, created)
	}
	if !second.AbandonedAt.Equal(at(t, "2026-11-26 09:00:00")) || !second.LastAbandonedAt.Equal(at(t, "2026-11-26 15:30:00")) {
		t.Fatalf("times: %v %v", second.AbandonedAt, second.LastAbandonedAt)
	}
	// A replayed event, or a second instance seeing the same call, changes nothing.
	replay, created := add(t, s, caller, "c1", at(t, "2026-11-26 09:00:00"))
	if created || replay.Attempts != 2 || replay.LastCallID != "c2" {
		t.Fatalf("replay: %+v created=%v", replay, created)
	}
	// Another caller is another task.
	if _, created := add(t, s, "07395551234", "c3", at(t, "2026-11-26 10:00:00")); !created {
		t.Fatal("another caller merged")
	}
	list, err := s.List(testCtx(t), "2026-11-26", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].CallerNumber != caller || list[1].CallerNumber != "07395551234" {
		t.Fatalf("list (by first abandoned): %+v", list)
	}
	if got := events(m, "created"); got != 2 {
		t.Fatalf("created events: %d", got)
	}
}

func TestDayIsShanghaiDay(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-27 08:00:00")}
	s := newStore(t, client(t, srv), clk, newMetrics())

	late, _ := add(t, s, caller, "c1", at(t, "2026-11-26 23:59:59"))
	early, created := add(t, s, caller, "c2", at(t, "2026-11-27 00:00:01"))
	if !created || !strings.HasPrefix(late.ID, "cb-20261126-") || !strings.HasPrefix(early.ID, "cb-20261127-") {
		t.Fatalf("ids %s %s created=%v", late.ID, early.ID, created)
	}
	// 2026-11-26 16:00:30 UTC is already the 27th in Shanghai: same task as c2.
	utc, created := add(t, s, caller, "c3", time.Date(2026, 11, 26, 16, 0, 30, 0, time.UTC))
	if created || utc.ID != early.ID || utc.Attempts != 2 {
		t.Fatalf("UTC time not on the Shanghai day: %+v created=%v", utc, created)
	}
	today, err := s.List(testCtx(t), "", false) // "" = today by the injected clock
	if err != nil {
		t.Fatal(err)
	}
	if len(today) != 1 || today[0].ID != early.ID {
		t.Fatalf("today: %+v", today)
	}
	yesterday, err := s.List(testCtx(t), "2026-11-26", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(yesterday) != 1 || yesterday[0].ID != late.ID {
		t.Fatalf("yesterday: %+v", yesterday)
	}
}

// Two gateway instances (two clients), many agents at once: every task
// goes to exactly one agent.
func TestClaimRaceHasExactlyOneWinner(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	m := newMetrics()
	stores := []*callback.Store{newStore(t, client(t, srv), clk, m), newStore(t, client(t, srv), clk, m)}
	const tasks = 20
	var ids []string
	for i := range tasks {
		task, _ := add(t, stores[0], fmt.Sprintf("139%08d", i), fmt.Sprintf("c%d", i), at(t, "2026-11-26 09:00:00"))
		ids = append(ids, task.ID)
	}
	ctx := testCtx(t)
	var mu sync.Mutex
	winners := map[string][]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			<-start
			s, ext := stores[g%2], fmt.Sprintf("10%02d", g)
			for _, id := range ids {
				_, err := s.Claim(ctx, id, ext)
				switch {
				case err == nil:
					mu.Lock()
					winners[id] = append(winners[id], ext)
					mu.Unlock()
				case !errors.Is(err, callback.ErrAlreadyClaimed):
					t.Errorf("claim %s by %s: %v", id, ext, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, id := range ids {
		if len(winners[id]) != 1 {
			t.Errorf("task %s claimed by %v", id, winners[id])
		}
		task, err := stores[1].Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if task.State != callback.Claimed || len(winners[id]) == 1 && task.ClaimedBy != winners[id][0] {
			t.Errorf("task %s: %s by %s, winners %v", id, task.State, task.ClaimedBy, winners[id])
		}
	}
	if got := events(m, "claimed"); got != tasks {
		t.Fatalf("claimed events: %d", got)
	}
}

func TestClaimLapsesAndTaskIsOpenAgain(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	m := newMetrics()
	s := newStore(t, client(t, srv), clk, m)
	ctx := testCtx(t)
	task, _ := add(t, s, caller, "c1", at(t, "2026-11-26 09:00:00"))

	claimed, err := s.Claim(ctx, task.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if claimed.State != callback.Claimed || claimed.ClaimedBy != "1001" || !claimed.ClaimExpires.Equal(clk.Now().Add(30*time.Minute)) {
		t.Fatalf("claimed: %+v", claimed)
	}
	if _, err := s.Claim(ctx, task.ID, "1002"); !errors.Is(err, callback.ErrAlreadyClaimed) {
		t.Fatalf("second agent: %v", err)
	}
	open, err := s.List(ctx, "2026-11-26", true)
	if err != nil || len(open) != 0 {
		t.Fatalf("open while claimed: %+v %v", open, err)
	}

	clk.Advance(30 * time.Minute) // the claim lapses exactly now
	open, err = s.List(ctx, "2026-11-26", true)
	if err != nil || len(open) != 1 || open[0].State != callback.Open || !open[0].ClaimExpires.IsZero() {
		t.Fatalf("open after the claim lapsed: %+v %v", open, err)
	}
	if open[0].Proto().GetClaimedBy() != "" {
		t.Fatalf("lapsed claimant shown in the API: %v", open[0].Proto())
	}
	again, err := s.Claim(ctx, task.ID, "1002")
	if err != nil || again.ClaimedBy != "1002" {
		t.Fatalf("claim after lapse: %+v %v", again, err)
	}
	if got := events(m, "expired"); got != 1 {
		t.Fatalf("expired events: %d", got)
	}
	// The first agent lost it.
	if err := s.Complete(ctx, task.ID, "1001", "out-1", "connected"); !errors.Is(err, callback.ErrNotClaimant) {
		t.Fatalf("complete by the lapsed claimant: %v", err)
	}
	if err := s.Complete(ctx, task.ID, "1002", "out-2", "connected"); err != nil {
		t.Fatal(err)
	}
}

func TestClaimingAgainExtendsTheClaim(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	m := newMetrics()
	s := newStore(t, client(t, srv), clk, m)
	ctx := testCtx(t)
	task, _ := add(t, s, caller, "c1", time.Time{}) // AbandonedAt zero: now
	if !strings.HasPrefix(task.ID, "cb-20261126-") {
		t.Fatalf("id %s", task.ID)
	}
	if _, err := s.Claim(ctx, task.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(20 * time.Minute)
	ext, err := s.Claim(ctx, task.ID, "1001")
	if err != nil || !ext.ClaimExpires.Equal(clk.Now().Add(30*time.Minute)) {
		t.Fatalf("extend: %+v %v", ext, err)
	}
	clk.Advance(20 * time.Minute) // 40 min after the first claim, 20 after the extension
	if _, err := s.Claim(ctx, task.ID, "1002"); !errors.Is(err, callback.ErrAlreadyClaimed) {
		t.Fatalf("extended claim taken: %v", err)
	}
	if got := events(m, "claimed"); got != 1 {
		t.Fatalf("claimed events: %d (an extension is no new claim)", got)
	}
}

// A lapse is counted once across instances; the last claimant, still on
// the phone with the citizen, can complete as long as nobody else claimed.
func TestSweepOpensLapsedClaimsOnce(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	m := newMetrics()
	a, b := newStore(t, client(t, srv), clk, m), newStore(t, client(t, srv), clk, m)
	ctx := testCtx(t)
	t1, _ := add(t, a, caller, "c1", at(t, "2026-11-26 09:00:00"))
	t2, _ := add(t, a, "13900139000", "c2", at(t, "2026-11-26 09:05:00"))
	if _, err := a.Claim(ctx, t1.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	if _, err := a.Claim(ctx, t2.ID, "1002"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * time.Minute) // t1's claim lapsed, t2's not
	n1, err := a.Sweep(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := b.Sweep(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n1+n2 != 1 || events(m, "expired") != 1 {
		t.Fatalf("swept %d+%d, expired events %d", n1, n2, events(m, "expired"))
	}
	got, err := b.Get(ctx, t1.ID)
	if err != nil || got.State != callback.Open || got.ClaimedBy != "1001" {
		t.Fatalf("after sweep: %+v %v", got, err)
	}
	if got, _ := b.Get(ctx, t2.ID); got.State != callback.Claimed {
		t.Fatalf("live claim swept: %+v", got)
	}
	if err := b.Complete(ctx, t1.ID, "1001", "out-1", "connected"); err != nil {
		t.Fatalf("late completion by the last claimant: %v", err)
	}
	// Claiming an already-swept task does not count a second lapse.
	if _, err := a.Claim(ctx, t1.ID, "1003"); !errors.Is(err, callback.ErrAlreadyDone) {
		t.Fatalf("claim of a done task: %v", err)
	}
	if events(m, "expired") != 1 {
		t.Fatalf("expired counted twice")
	}
}

func TestCompleteOnlyByTheClaimingAgent(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	m := newMetrics()
	s := newStore(t, client(t, srv), clk, m)
	ctx := testCtx(t)
	task, _ := add(t, s, caller, "c1", at(t, "2026-11-26 09:00:00"))

	if err := s.Complete(ctx, task.ID, "1001", "out-1", "connected"); !errors.Is(err, callback.ErrNotClaimed) {
		t.Fatalf("complete unclaimed: %v", err)
	}
	if _, err := s.Claim(ctx, task.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, task.ID, "1002", "out-1", "connected"); !errors.Is(err, callback.ErrNotClaimant) {
		t.Fatalf("complete by another agent: %v", err)
	}
	if err := s.Complete(ctx, task.ID, "1001", "out-1", "connected"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, task.ID, "1001", "out-1", "connected"); err != nil {
		t.Fatalf("replayed completion: %v", err)
	}
	if err := s.Complete(ctx, task.ID, "1001", "out-2", "busy"); !errors.Is(err, callback.ErrAlreadyDone) {
		t.Fatalf("second completion: %v", err)
	}
	done, err := s.Get(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != callback.Done || done.OutboundCallID != "out-1" || done.Result != "connected" || !done.DoneAt.Equal(clk.Now()) {
		t.Fatalf("done: %+v", done)
	}
	p := done.Proto()
	if p.GetCallbackId() != task.ID || p.GetState() != "done" || p.GetClaimedBy() != "1001" || p.GetOutboundCallId() != "out-1" ||
		p.GetCallerNumber() != caller || p.GetLine() != "12345" || p.GetCallId() != "c1" || !p.GetAbandonedAt().AsTime().Equal(task.AbandonedAt) {
		t.Fatalf("proto: %v", p)
	}
	if _, err := s.Claim(ctx, task.ID, "1002"); !errors.Is(err, callback.ErrAlreadyDone) {
		t.Fatalf("claim done: %v", err)
	}
	if got := events(m, "completed"); got != 1 {
		t.Fatalf("completed events: %d", got)
	}
	open, _ := s.List(ctx, "2026-11-26", true)
	if len(open) != 0 {
		t.Fatalf("done task listed as open: %+v", open)
	}
}

func TestMissedAgainAfterCallBackReopens(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	s := newStore(t, client(t, srv), clk, newMetrics())
	ctx := testCtx(t)
	task, _ := add(t, s, caller, "c1", at(t, "2026-11-26 09:00:00"))
	if _, err := s.Claim(ctx, task.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, task.ID, "1001", "out-1", "no_answer"); err != nil {
		t.Fatal(err)
	}
	// A late event for a call abandoned before the completion changes nothing.
	if got, _ := add(t, s, caller, "c0", at(t, "2026-11-26 08:00:00")); got.State != callback.Done || got.CallID != "c0" {
		t.Fatalf("earlier call: %+v", got)
	}
	got, created := add(t, s, caller, "c2", at(t, "2026-11-26 14:00:00"))
	if created || got.State != callback.Open || got.Attempts != 3 || got.LastCallID != "c2" {
		t.Fatalf("missed again: %+v created=%v", got, created)
	}
	if _, err := s.Claim(ctx, task.ID, "1002"); err != nil {
		t.Fatalf("claim reopened task: %v", err)
	}
}

func TestUnknownAndMalformedAreRefused(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	s := newStore(t, client(t, srv), clk, newMetrics())
	ctx := testCtx(t)
	if _, err := s.Get(ctx, "cb-20261126-13800138000"); !errors.Is(err, callback.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	if _, err := s.Claim(ctx, "cb-20261126-13800138000", "1001"); !errors.Is(err, callback.ErrNotFound) {
		t.Fatalf("claim unknown: %v", err)
	}
	if err := s.Complete(ctx, "cb-20261126-13800138000", "1001", "o", "connected"); !errors.Is(err, callback.ErrNotFound) {
		t.Fatalf("complete unknown: %v", err)
	}
	for name, f := range map[string]func() error{
		"caller not canonical": func() error {
			_, _, err := s.Add(ctx, callback.Task{CallerNumber: "+86 138", Line: "12345", CallID: "c"})
			return err
		},
		"no call ID": func() error {
			_, _, err := s.Add(ctx, callback.Task{CallerNumber: caller, Line: "12345"})
			return err
		},
		"line with newline": func() error {
			_, _, err := s.Add(ctx, callback.Task{CallerNumber: caller, Line: "12345\n", CallID: "c"})
			return err
		},
		"id not a task id": func() error { _, err := s.Get(ctx, "{hltest}:cb:claims"); return err },
		"id with bad date": func() error { _, err := s.Get(ctx, "cb-20261332-13800138000"); return err },
		"agent not digits": func() error { _, err := s.Claim(ctx, "cb-20261126-13800138000", "10a1"); return err },
		"day not a date":   func() error { _, err := s.List(ctx, "26/11/2026", false); return err },
		"no outbound call": func() error { return s.Complete(ctx, "cb-20261126-13800138000", "1001", "", "connected") },
		"result too long": func() error {
			return s.Complete(ctx, "cb-20261126-13800138000", "1001", "o", string(make([]byte, 100)))
		},
		"day without zeros": func() error { _, err := s.List(ctx, "2026-1-2", false); return err },
	} {
		t.Run(name, func(t *testing.T) {
			if err := f(); !errors.Is(err, callback.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestKeysCarryTTLAndHashTag(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	clk := &clock{now: at(t, "2026-11-26 10:00:00")}
	s := newStore(t, rdb, clk, newMetrics())
	ctx := testCtx(t)
	task, _ := add(t, s, caller, "c1", at(t, "2026-11-26 09:00:00"))
	if _, err := s.Claim(ctx, task.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 { // task, calls, day, the caller's index, claims
		t.Fatalf("keys: %v", keys)
	}
	for _, k := range keys {
		if k[:8] != "{hltest}" {
			t.Errorf("key %s without the hash tag", k)
		}
		if k == "{hltest}:cb:claims" {
			continue // shared index, emptied by Complete and Sweep
		}
		ttl, err := rdb.TTL(ctx, k).Result()
		if err != nil || ttl <= 29*24*time.Hour || ttl > 30*24*time.Hour {
			t.Errorf("key %s TTL %v %v", k, ttl, err)
		}
	}
}

// A task tells why the citizen was missed: the reason of the day's first
// missed call and of the latest (a refusal with congestion, an abandoned
// wait, a requested call-back), each attempt counted once; the API message
// carries both and the attempts. A task stored without a reason (before
// reasons existed) reads as abandoned; an unknown reason is refused.
func TestTaskCarriesWhyTheCitizenWasMissed(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{now: at(t, "2026-11-26 18:00:00")}
	rdb := client(t, srv)
	s := newStore(t, rdb, clk, newMetrics())
	ctx := testCtx(t)
	addWhy := func(call, reason, when string) callback.Task {
		t.Helper()
		task, _, err := s.Add(ctx, callback.Task{CallerNumber: caller, Line: "12345", CallID: call, AbandonedAt: at(t, when), Reason: reason})
		if err != nil {
			t.Fatalf("add %s (%s): %v", call, reason, err)
		}
		return task
	}
	first := addWhy("s1", callback.ReasonShed, "2026-11-26 09:00:00")
	if first.Reason != callback.ReasonShed || first.LastReason != callback.ReasonShed || first.Attempts != 1 {
		t.Fatalf("first (shed): %+v", first)
	}
	second := addWhy("s2", callback.ReasonShed, "2026-11-26 09:00:05")
	if second.ID != first.ID || second.Attempts != 2 {
		t.Fatalf("second refusal: %+v, want the same task with 2 attempts", second)
	}
	third := addWhy("a1", "", "2026-11-26 10:00:00") // default: abandoned
	if third.Attempts != 3 || third.Reason != callback.ReasonShed || third.LastReason != callback.ReasonAbandoned || third.LastCallID != "a1" {
		t.Fatalf("after an abandoned call: %+v, want reason shed (first), last abandoned, 3 attempts", third)
	}
	// Out of order: an earlier requested call-back becomes the first.
	early := addWhy("r0", callback.ReasonRequested, "2026-11-26 08:00:00")
	if early.Reason != callback.ReasonRequested || early.CallID != "r0" || early.LastReason != callback.ReasonAbandoned || early.Attempts != 4 {
		t.Fatalf("earlier requested call-back: %+v", early)
	}
	p := early.Proto()
	if p.GetReason() != "requested" || p.GetLastReason() != "abandoned" || p.GetAttempts() != 4 {
		t.Errorf("proto reason %q, last %q, attempts %d; want requested, abandoned, 4", p.GetReason(), p.GetLastReason(), p.GetAttempts())
	}

	if _, _, err := s.Add(ctx, callback.Task{CallerNumber: caller, Line: "12345", CallID: "x", Reason: "bored"}); !errors.Is(err, callback.ErrInvalid) || !strings.Contains(err.Error(), "reason") {
		t.Errorf("unknown reason: %v, want ErrInvalid naming reason", err)
	}

	// A task written before reasons existed.
	other, _, err := s.Add(ctx, callback.Task{CallerNumber: "07395551234", Line: "12345", CallID: "o2", AbandonedAt: at(t, "2026-11-26 12:00:00")})
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.HDel(ctx, store.NewKeys("hltest").Key("cb", "task", other.ID), "reason", "last_reason").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != callback.ReasonAbandoned || got.LastReason != callback.ReasonAbandoned {
		t.Errorf("a task without a stored reason reads %q/%q, want abandoned", got.Reason, got.LastReason)
	}
}
