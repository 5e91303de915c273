// Package outbound limits the hotline's outbound calls (follow-up
// campaigns 回访, call-backs) so that they never starve inbound calls of
// trunks and agents: a token bucket bounds the rate at which calls are
// started, and a cap bounds the calls in progress.
//
// The limiter is per gateway instance: with N instances the hotline places
// at most N times the configured rate and concurrency; configure each
// instance's share.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hotline12345/hotline-gw/metrics"
)

// ErrRateLimited refuses an outbound call: too many in progress, or the
// call rate would need a longer wait than allowed. Retry later; Originate
// result "rejected".
var ErrRateLimited = errors.New("outbound call rate limited")

// Clock is the limiter's time source; tests inject a fake.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configure a Limiter.
type Options struct {
	// Rate is the sustained number of calls started per second; default 1.
	Rate float64
	// Burst is how many calls may start at once after a quiet period;
	// default 1.
	Burst int
	// MaxConcurrent caps the calls in progress (acquired, not yet
	// released); default 10. Over the cap Acquire refuses at once.
	MaxConcurrent int
	// MaxWait is the longest Acquire waits for the call rate; a longer wait
	// is refused at once. Default 0: never wait.
	MaxWait time.Duration
	// Clock defaults to the real clock.
	Clock   Clock
	Metrics *metrics.Outbound
}

// Limiter is a token bucket plus a concurrency cap. Safe for concurrent use.
type Limiter struct {
	rate    float64
	burst   float64
	maxConc int
	maxWait time.Duration
	clock   Clock
	m       *metrics.Outbound

	mu     sync.Mutex
	tokens float64
	last   time.Time
	active int
}

// New returns a Limiter with a full bucket.
func New(o Options) (*Limiter, error) {
	if o.Metrics == nil {
		return nil, errors.New("outbound limiter: Metrics is required")
	}
	if o.Rate == 0 {
		o.Rate = 1
	}
	if o.Burst == 0 {
		o.Burst = 1
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = 10
	}
	if o.Rate < 0 || o.Burst < 0 || o.MaxConcurrent < 0 || o.MaxWait < 0 {
		return nil, fmt.Errorf("outbound limiter: rate %v, burst %d, max concurrent %d and max wait %v must not be negative",
			o.Rate, o.Burst, o.MaxConcurrent, o.MaxWait)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	return &Limiter{
		rate: o.Rate, burst: float64(o.Burst), maxConc: o.MaxConcurrent, maxWait: o.MaxWait,
		clock: o.Clock, m: o.Metrics, tokens: float64(o.Burst), last: o.Clock.Now(),
	}, nil
}

// Acquire takes a slot for one outbound call. It returns ErrRateLimited at
// once when MaxConcurrent calls are in progress or when the call rate
// would need a wait longer than MaxWait; otherwise it waits (at most
// MaxWait, or until ctx ends) and returns release, which the caller must
// call when the call ends (calling it again does nothing).
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("outbound limiter: %w", err)
	}
	l.mu.Lock()
	if l.active >= l.maxConc {
		active := l.active
		l.mu.Unlock()
		l.m.RateLimited.Inc()
		return nil, fmt.Errorf("outbound limiter: %d calls in progress, at most %d: %w", active, l.maxConc, ErrRateLimited)
	}
	l.refill()
	var wait time.Duration
	if l.tokens < 1 {
		secs := (1 - l.tokens) / l.rate
		if secs > l.maxWait.Seconds() {
			l.mu.Unlock()
			l.m.RateLimited.Inc()
			return nil, fmt.Errorf("outbound limiter: over %g calls/s, next call in %.3gs (may wait %v): %w", l.rate, secs, l.maxWait, ErrRateLimited)
		}
		wait = time.Duration(secs * float64(time.Second))
	}
	l.tokens-- // reserved: a later caller waits behind this one
	l.active++
	l.mu.Unlock()
	l.m.Active.Inc()

	if wait > 0 {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.tokens = min(l.tokens+1, l.burst)
			l.active--
			l.mu.Unlock()
			l.m.Active.Dec()
			return nil, fmt.Errorf("outbound limiter: waiting %v for the call rate: %w", wait, ctx.Err())
		case <-l.clock.After(wait):
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.active--
			l.mu.Unlock()
			l.m.Active.Dec()
		})
	}, nil
}

// Active returns the calls in progress.
func (l *Limiter) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// refill adds the tokens earned since the last refill. l.mu is held.
func (l *Limiter) refill() {
	now := l.clock.Now()
	if el := now.Sub(l.last); el > 0 {
		l.tokens = min(l.burst, l.tokens+el.Seconds()*l.rate)
		l.last = now
	}
}
