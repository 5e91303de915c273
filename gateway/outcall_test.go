package gateway

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// countingLimiter counts the outbound slots held.
type countingLimiter struct {
	mu   sync.Mutex
	held int
}

func (l *countingLimiter) Acquire(ctx context.Context) (func(), error) {
	l.mu.Lock()
	l.held++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.held--
			l.mu.Unlock()
		})
	}, nil
}

func (l *countingLimiter) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// An outbound call handed over to another gateway (its owner stops without
// ending it) gives back its limiter slot and sets the agent it paused ready
// again, and the Originate waiting for it is answered.
func TestOutboundHandOverFreesSlotAndAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	lim := &countingLimiter{}
	var pool *acd.Pool
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		pool = acd.New(acd.Options{Redis: rdb, Keys: store.NewKeys("obtest"), Logger: slog.New(slog.DiscardHandler), Metrics: o.Metrics.ACD})
		o.Pool, o.Limiter = pool, lim
	}})
	if _, err := pool.Login(ctx, "1001", []string{"main"}, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	num := mustNumber(t, "13800138000")
	type res struct {
		result string
		err    error
	}
	done := make(chan res, 1)
	go func() {
		_, result, err := r.svc.Originate(ctx, OriginateRequest{AgentExt: "1001", Number: num, Purpose: "follow_up"})
		done <- res{result, err}
	}()
	waitFor(t, "the agent leg originated", func() bool {
		for _, a := range r.pbx.Actions() {
			if len(a) > 9 && a[:9] == "originate" {
				return true
			}
		}
		return false
	})
	if a, err := pool.Get(ctx, "1001"); err != nil || a.State != acd.Paused {
		t.Fatalf("agent during the call: %+v, %v; want paused", a, err)
	}
	r.svc.OnReplaced()
	got := recv(t, "Originate's answer", done)
	if got.err != nil || got.result != ResultFailed {
		t.Errorf("Originate = %q, %v; want %q", got.result, got.err, ResultFailed)
	}
	waitFor(t, "the limiter slot released", func() bool { return lim.Held() == 0 })
	waitFor(t, "the agent ready again", func() bool {
		a, err := pool.Get(ctx, "1001")
		return err == nil && a.State == acd.Ready
	})
}

func mustNumber(t testing.TB, raw string) number.Number {
	t.Helper()
	p, err := number.NewPolicy(number.Config{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.Outbound(raw)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
