// Package backoff is the gateway's one retry delay: exponential with
// jitter, each delay uniform in [cur/2, cur], cur doubling up to a ceiling.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields retry delays; the zero value is not usable, use New.
// It is not safe for concurrent use: each retry loop has its own.
type Backoff struct {
	min, max, cur time.Duration
}

// New returns a backoff starting at first and doubling up to ceiling.
func New(first, ceiling time.Duration) *Backoff {
	return &Backoff{min: first, max: max(first, ceiling), cur: first}
}

// Reset starts again from the first delay (after a success).
func (b *Backoff) Reset() { b.cur = b.min }

// Next returns the next delay and doubles the current one.
func (b *Backoff) Next() time.Duration {
	d := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(2*b.cur, b.max)
	return d
}

// Sleep waits for the next delay; it reports false if ctx ended first.
func (b *Backoff) Sleep(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
