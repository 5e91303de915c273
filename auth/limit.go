package auth

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// RateLimit is a token bucket per credential: PerSecond requests on
// average, up to Burst at once. A stream counts once, when it opens.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"` // 0: no limit
	Burst     int     `yaml:"burst"`
}

func (r RateLimit) validate(field string) error {
	switch {
	case r.PerSecond < 0 || math.IsNaN(r.PerSecond) || math.IsInf(r.PerSecond, 0):
		return fmt.Errorf("%s.per_second: %v must be a non-negative number", field, r.PerSecond)
	case r.PerSecond > 0 && r.Burst < 1:
		return fmt.Errorf("%s.burst: %d must be at least 1 when per_second is set", field, r.Burst)
	case r.Burst < 0:
		return fmt.Errorf("%s.burst: must not be negative", field)
	}
	return nil
}

type bucket struct {
	tokens float64
	last   time.Time
}

// limiter holds one bucket per principal. Its size is bounded by the
// number of configured credentials (retain drops the ones removed).
type limiter struct {
	cfg     RateLimit
	now     func() time.Time
	mu      sync.Mutex
	buckets map[Principal]*bucket
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	return &limiter{cfg: cfg, now: now, buckets: map[Principal]*bucket{}}
}

func (l *limiter) allow(p Principal) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.PerSecond <= 0 {
		return true
	}
	b, ok := l.buckets[p]
	if !ok {
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[p] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+el.Seconds()*l.cfg.PerSecond)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limits returns the limit in force.
func (l *limiter) limits() RateLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// set replaces the limit; buckets keep their tokens, capped at the new
// burst.
func (l *limiter) set(cfg RateLimit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = cfg
	for _, b := range l.buckets {
		b.tokens = math.Min(b.tokens, float64(cfg.Burst))
	}
}

// retain drops the buckets of principals no longer in t.
func (l *limiter) retain(t *Table) {
	keep := make(map[Principal]bool, t.Len())
	for _, e := range t.entries {
		keep[e.p] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.buckets {
		if !keep[p] {
			delete(l.buckets, p)
		}
	}
}
