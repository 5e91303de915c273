package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// PoliceRefs keeps the 110 case references pushed before their call
// arrives, by caller number, for TTL; any gateway instance takes them.
type PoliceRefs struct {
	Redis redis.UniversalClient
	Keys  Keys
	TTL   time.Duration
}

func (r PoliceRefs) key(num string) string { return r.Keys.Key("police-ref", num) }

// Put keeps ref for the next call from 110 with caller number num.
func (r PoliceRefs) Put(ctx context.Context, num, ref string) error {
	ttl := r.TTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	if err := r.Redis.Set(ctx, r.key(num), ref, ttl).Err(); err != nil {
		return fmt.Errorf("police reference for %s: %w", num, err)
	}
	return nil
}

// Take returns and forgets the reference kept for num ("" if none).
func (r PoliceRefs) Take(ctx context.Context, num string) (string, error) {
	ref, err := r.Redis.GetDel(ctx, r.key(num)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("police reference for %s: %w", num, err)
	}
	return ref, nil
}
