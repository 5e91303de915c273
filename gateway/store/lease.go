package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases are the gateway instances' heartbeats (Redis keys
// "{prefix}:lease:<instance>" with a TTL): an instance renews its lease
// every third of the TTL while it can reach Redis, so a lease that has
// lapsed means the instance is gone or cut off from Redis for longer than
// the TTL. The reaper only takes over calls of instances whose lease lapsed.
type Leases struct {
	Redis redis.UniversalClient
	Keys  Keys
	TTL   time.Duration // default 15s
}

func (l Leases) key(instance string) string { return l.Keys.Key("lease", instance) }

// Period is how often an instance renews its lease: a third of the TTL.
func (l Leases) Period() time.Duration { return l.ttl() / 3 }

func (l Leases) ttl() time.Duration {
	if l.TTL <= 0 {
		return 15 * time.Second
	}
	return l.TTL
}

// Renew takes or renews instance's lease for the TTL.
func (l Leases) Renew(ctx context.Context, instance string) error {
	if err := l.Redis.Set(ctx, l.key(instance), time.Now().UTC().Format(time.RFC3339Nano), l.ttl()).Err(); err != nil {
		return fmt.Errorf("renew the lease of instance %q: %w", instance, err)
	}
	return nil
}

// Alive reports, for each instance, whether its lease is current.
func (l Leases) Alive(ctx context.Context, instances []string) (map[string]bool, error) {
	out := make(map[string]bool, len(instances))
	if len(instances) == 0 {
		return out, nil
	}
	keys := make([]string, len(instances))
	for i, in := range instances {
		keys[i] = l.key(in)
	}
	vals, err := l.Redis.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("read the leases of %d instances: %w", len(instances), err)
	}
	for i, v := range vals {
		out[instances[i]] = v != nil
	}
	return out, nil
}
