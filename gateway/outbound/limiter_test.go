package outbound_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/gateway/outbound"
	"github.com/hotline12345/hotline-gw/metrics"
)

// fakeClock moves only when told; After reports each new timer on waits.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []timer
	waits  chan time.Duration
}

type timer struct {
	at time.Time
	c  chan time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), waits: make(chan time.Duration, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, timer{c.now.Add(d), ch})
	c.mu.Unlock()
	c.waits <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.c <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newLimiter(t *testing.T, o outbound.Options) (*outbound.Limiter, *fakeClock, *metrics.Outbound) {
	t.Helper()
	clk := newClock()
	m := metrics.New(prometheus.NewRegistry()).Outbound
	o.Clock, o.Metrics = clk, m
	l, err := outbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk, m
}

func mustAcquire(t *testing.T, l *outbound.Limiter) func() {
	t.Helper()
	r, err := l.Acquire(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBurstThenRefusedUntilTokensRefill(t *testing.T) {
	l, clk, m := newLimiter(t, outbound.Options{Rate: 1, Burst: 2, MaxConcurrent: 10})
	mustAcquire(t, l)
	mustAcquire(t, l)
	if _, err := l.Acquire(testCtx(t)); !errors.Is(err, outbound.ErrRateLimited) {
		t.Fatalf("third call in the same instant: %v", err)
	}
	clk.Advance(999 * time.Millisecond)
	if _, err := l.Acquire(testCtx(t)); !errors.Is(err, outbound.ErrRateLimited) {
		t.Fatalf("before a token refilled: %v", err)
	}
	clk.Advance(time.Millisecond)
	mustAcquire(t, l)
	if got := testutil.ToFloat64(m.RateLimited); got != 2 {
		t.Fatalf("rate limited: %v", got)
	}
	if got := testutil.ToFloat64(m.Active); got != 3 {
		t.Fatalf("active gauge: %v", got)
	}
}

func TestConcurrentCapRefusesAtOnceEvenWithWaitAllowed(t *testing.T) {
	l, clk, m := newLimiter(t, outbound.Options{Rate: 100, Burst: 100, MaxConcurrent: 2, MaxWait: time.Minute})
	r1 := mustAcquire(t, l)
	mustAcquire(t, l)
	if _, err := l.Acquire(testCtx(t)); !errors.Is(err, outbound.ErrRateLimited) {
		t.Fatalf("over the cap: %v", err)
	}
	select {
	case d := <-clk.waits:
		t.Fatalf("waited %v over the concurrent cap", d)
	default:
	}
	r1()
	r1() // idempotent
	if l.Active() != 1 || testutil.ToFloat64(m.Active) != 1 {
		t.Fatalf("active after double release: %d / %v", l.Active(), testutil.ToFloat64(m.Active))
	}
	mustAcquire(t, l)
	if l.Active() != 2 {
		t.Fatalf("active: %d", l.Active())
	}
}

func TestShortWaitForTheNextToken(t *testing.T) {
	l, clk, _ := newLimiter(t, outbound.Options{Rate: 2, Burst: 1, MaxConcurrent: 10, MaxWait: time.Second})
	mustAcquire(t, l)
	type res struct {
		release func()
		err     error
	}
	done := make(chan res, 1)
	go func() {
		r, err := l.Acquire(testCtx(t))
		done <- res{r, err}
	}()
	if d := <-clk.waits; d != 500*time.Millisecond {
		t.Fatalf("wait for the next token: %v, want 500ms at 2 calls/s", d)
	}
	// A third caller would wait a whole second behind the second: allowed…
	go func() {
		r, err := l.Acquire(testCtx(t))
		done <- res{r, err}
	}()
	if d := <-clk.waits; d != time.Second {
		t.Fatalf("wait behind the reserved token: %v", d)
	}
	// …a fourth 1.5 s: refused at once.
	if _, err := l.Acquire(testCtx(t)); !errors.Is(err, outbound.ErrRateLimited) {
		t.Fatalf("wait over MaxWait: %v", err)
	}
	clk.Advance(500 * time.Millisecond)
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
	clk.Advance(500 * time.Millisecond)
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
	if l.Active() != 3 {
		t.Fatalf("active: %d", l.Active())
	}
}

func TestCancelledWaitGivesBackSlotAndToken(t *testing.T) {
	l, clk, m := newLimiter(t, outbound.Options{Rate: 1, Burst: 1, MaxConcurrent: 2, MaxWait: 2 * time.Second})
	mustAcquire(t, l)
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx)
		errc <- err
	}()
	<-clk.waits
	if l.Active() != 2 {
		t.Fatalf("waiting caller holds no slot: %d", l.Active())
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if l.Active() != 1 || testutil.ToFloat64(m.Active) != 1 {
		t.Fatalf("slot not given back: %d", l.Active())
	}
	// The token came back: the next caller waits 1 s again, not 2 s.
	go func() {
		_, err := l.Acquire(testCtx(t))
		errc <- err
	}()
	if d := <-clk.waits; d != time.Second {
		t.Fatalf("token not given back: wait %v", d)
	}
	clk.Advance(time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestDoneContextIsRefused(t *testing.T) {
	l, _, _ := newLimiter(t, outbound.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: %v", err)
	}
	if l.Active() != 0 {
		t.Fatalf("active %d", l.Active())
	}
}

func TestNewRefusesNegativeOptions(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry()).Outbound
	for name, o := range map[string]outbound.Options{
		"negative rate":     {Rate: -1, Metrics: m},
		"negative burst":    {Burst: -1, Metrics: m},
		"negative cap":      {MaxConcurrent: -1, Metrics: m},
		"negative max wait": {MaxWait: -time.Second, Metrics: m},
		"no metrics":        {},
	} {
		if _, err := outbound.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
