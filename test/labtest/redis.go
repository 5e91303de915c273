package labtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The gateway's Redis keys the tests read (key_prefix hl in the lab
// configuration; see gateway/store, gateway/count and gateway/ticket).
const (
	keyTag    = "{hl}"
	outboxKey = keyTag + ":tickets:outbox"
	deadKey   = keyTag + ":tickets:dead"
)

func redisClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
}

// CountedCalls returns the IDs of the calls the gateways counted as kind
// (e.g. "inbound") in the Redis at addr: the keys the count's exactly-once
// guard leaves, "{hl}:once:<call ID>:<kind>".
func CountedCalls(t testing.TB, addr, kind string) (map[string]bool, error) {
	t.Helper()
	c := redisClient(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prefix, suffix := keyTag+":once:", ":"+kind
	ids := map[string]bool{}
	iter := c.Scan(ctx, 0, prefix+"*"+suffix, 1000).Iterator()
	for iter.Next(ctx) {
		id := strings.TrimSuffix(strings.TrimPrefix(iter.Val(), prefix), suffix)
		ids[id] = true
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scan counted %s calls in redis %s: %w", kind, addr, err)
	}
	return ids, nil
}

// QueueWaiting returns how many calls wait in skill's queue in the Redis at
// addr ("{hl}:acd:wait:<skill>").
func QueueWaiting(t testing.TB, addr, skill string) (int64, error) {
	t.Helper()
	c := redisClient(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.ZCard(ctx, keyTag+":acd:wait:"+skill).Result()
	if err != nil {
		return 0, fmt.Errorf("ZCARD queue %s: %w", skill, err)
	}
	return n, nil
}

// OutboxSettled reports an error while the ticket outbox in the Redis at
// addr holds an entry (not yet acknowledged by the sink) or the dead-letter
// stream holds any.
func OutboxSettled(addr string) error {
	c := redisClient(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.XLen(ctx, outboxKey).Result()
	if err != nil {
		return fmt.Errorf("XLEN %s: %w", outboxKey, err)
	}
	dead, err := c.XLen(ctx, deadKey).Result()
	if err != nil {
		return fmt.Errorf("XLEN %s: %w", deadKey, err)
	}
	if n > 0 || dead > 0 {
		return fmt.Errorf("ticket outbox not settled: %d entries pending, %d dead", n, dead)
	}
	return nil
}

// Settled reports an error while any of the gateways has counts pending
// (hotline_count_pending) or live calls, or the outbox in the Redis at
// redisAddr holds tickets (redisAddr "": gateways without a ticket sink,
// whose tickets stay in the outbox by design).
func Settled(redisAddr string, gws ...*Gateway) error {
	for _, g := range gws {
		if !g.Running() {
			continue
		}
		fams, err := g.Metrics()
		if err != nil {
			return fmt.Errorf("scrape %s: %w", g.HTTP, err)
		}
		if n := Value(fams, "hotline_count_pending", nil); n != 0 {
			return fmt.Errorf("gateway %s: %v counts pending", g.HTTP, n)
		}
		if n := Value(fams, "hotline_active_calls", nil); n != 0 {
			return fmt.Errorf("gateway %s: %v calls still active", g.HTTP, n)
		}
	}
	if redisAddr == "" {
		return nil
	}
	return OutboxSettled(redisAddr)
}

// Hold fails the test unless fn keeps returning nil for d (polled): a
// counter that matched once may still grow (a late duplicate).
func Hold(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		if err := fn(); err != nil {
			t.Fatalf("no longer holds within %s of matching: %v", d, err)
		}
		if time.Now().After(end) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Settle waits (within) until the gateways and the outbox are settled
// (Settled), then checks fn, waits for it if needed, and holds it for 2 s.
func Settle(t testing.TB, within time.Duration, redisAddr string, gws []*Gateway, fn func() error) {
	t.Helper()
	Eventually(t, within, func() error { return Settled(redisAddr, gws...) })
	Eventually(t, within, fn)
	Hold(t, 2*time.Second, func() error {
		if err := Settled(redisAddr, gws...); err != nil {
			return err
		}
		return fn()
	})
}
