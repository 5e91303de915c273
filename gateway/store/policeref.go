package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrPoliceRefPending is returned by PoliceRefs.Put when another reference
// already waits for a call from the same number: two calls from one trunk
// number cannot be told apart, so the second reference is refused rather
// than risk giving each call the other's reference. 110 pushes it again
// once the first call has arrived (and taken its reference).
var ErrPoliceRefPending = errors.New("another police reference already waits for a call from this number")

// PoliceRefs keeps the 110 case references pushed before their call
// arrives, by caller number, for TTL; any gateway instance takes them. At
// most one reference waits per number (see ErrPoliceRefPending).
type PoliceRefs struct {
	Redis redis.UniversalClient
	Keys  Keys
	TTL   time.Duration
}

func (r PoliceRefs) key(num string) string { return r.Keys.Key("police-ref", num) }

// putScript keeps a reference unless another one waits for the number.
// KEYS: the number's key. ARGV: reference, TTL in ms. Returns 1 when kept
// (or the same reference already waits), 0 when another one waits.
var putScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Put keeps ref for the next call from 110 with caller number num. Pushing
// the same reference again is accepted; a different one while the first
// still waits is refused with ErrPoliceRefPending.
func (r PoliceRefs) Put(ctx context.Context, num, ref string) error {
	ttl := r.TTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	ok, err := putScript.Run(ctx, r.Redis, []string{r.key(num)}, ref, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("police reference for %s: %w", num, err)
	}
	if ok == 0 {
		return fmt.Errorf("police reference for %s: %w", num, ErrPoliceRefPending)
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
