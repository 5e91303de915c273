package ari

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// latencyTau is the time constant of the REST latency average: a sample
// weighs as much as the samples of the last latencyTau together, and an
// average that gets no sample decays towards zero over a few latencyTau
// (no request is no evidence of a slow Asterisk).
const latencyTau = 2 * time.Second

// Load is how busy the REST side of the connection is (see Client.Load).
type Load struct {
	// InFlight is the number of REST requests sent and not yet answered
	// (including those whose caller gave up: they still occupy Asterisk).
	InFlight int
	// Waiting is the number of requests waiting for a slot (ari.max_inflight).
	Waiting int
	// Latency is the time-weighted moving average of the requests' duration;
	// a request that timed out weighs in with its whole duration.
	Latency time.Duration
	// Timeouts counts requests that timed out since the client was built.
	Timeouts uint64
}

// limiter bounds the REST requests in flight and keeps their latency average.
type limiter struct {
	slots chan struct{}
	gauge interface {
		Inc()
		Dec()
	} // hotline_ari_requests_in_flight
	waiting  atomic.Int64
	timeouts atomic.Uint64

	mu   sync.Mutex
	avg  float64 // seconds
	last time.Time
}

func newLimiter(n int, gauge interface {
	Inc()
	Dec()
}) *limiter {
	return &limiter{slots: make(chan struct{}, n), gauge: gauge}
}

// acquire takes a slot, waiting at most until ctx is done.
func (l *limiter) acquire(ctx context.Context, op string) error {
	select {
	case l.slots <- struct{}{}:
		l.gauge.Inc()
		return nil
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		l.gauge.Inc()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for one of %d REST slots (ari.max_inflight) for %s: %w: %w",
			cap(l.slots), op, ErrUnavailable, ctx.Err())
	}
}

// release gives the slot back and notes how long the request took.
func (l *limiter) release(took time.Duration, timedOut bool) {
	<-l.slots
	l.gauge.Dec()
	if timedOut {
		l.timeouts.Add(1)
	}
	now := time.Now()
	l.mu.Lock()
	l.avg = l.decayed(now)
	w := 1.0
	if !l.last.IsZero() {
		w = 1 - math.Exp(-float64(now.Sub(l.last))/float64(latencyTau))
		w = max(w, 0.05) // many samples at once: each still counts
	}
	l.avg += w * (took.Seconds() - l.avg)
	l.last = now
	l.mu.Unlock()
}

// decayed is the average at now without a new sample; l.mu held.
func (l *limiter) decayed(now time.Time) float64 {
	if l.last.IsZero() {
		return 0
	}
	idle := now.Sub(l.last) - latencyTau // a sample holds for one tau
	if idle <= 0 {
		return l.avg
	}
	return l.avg * math.Exp(-float64(idle)/float64(latencyTau))
}

func (l *limiter) load() Load {
	l.mu.Lock()
	avg := l.decayed(time.Now())
	l.mu.Unlock()
	return Load{
		InFlight: len(l.slots),
		Waiting:  int(l.waiting.Load()),
		Latency:  time.Duration(avg * float64(time.Second)),
		Timeouts: l.timeouts.Load(),
	}
}

// Load reports the REST requests in flight and waiting, their latency
// average and the timeouts so far; the gateway's admission control reads it.
func (c *Client) Load() Load { return c.lim.load() }
