package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// LiveCall is what the registry keeps of a call while it is live, enough
// to write its ticket if it ends while no gateway is watching it.
type LiveCall struct {
	ID       string    `json:"id"`
	Entry    string    `json:"entry"`
	Line     string    `json:"line"`
	Main     string    `json:"main"`
	Skill    string    `json:"skill"`
	Caller   string    `json:"caller"`
	DNIS     string    `json:"dnis"`
	Entered  time.Time `json:"entered"`
	Instance string    `json:"instance"`
	// Once an agent answered: who, on which leg (its attempt), and when, so
	// that a gateway adopting the call after a restart keeps it with its
	// agent and counts it once.
	Agent    string    `json:"agent,omitempty"`
	AgentLeg string    `json:"agent_leg,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Answered time.Time `json:"answered,omitzero"`
}

// CallRegistry is the durable list of live calls shared by the gateway
// instances (Redis hash "{prefix}:calls:live"). A call enters it when it
// is counted and leaves it once its ticket is in the outbox, so a call
// whose end no gateway saw (it ended while its gateway was down) is found
// later and still gets its ticket: no ticket is lost to a crash.
type CallRegistry struct {
	Redis redis.UniversalClient
	Keys  Keys
}

func (r CallRegistry) key() string { return LiveCallsKey(r.Keys) }

// LiveCallsKey is the registry's hash: a call's field is its ID.
func LiveCallsKey(k Keys) string { return k.Key("calls", "live") }

// Enter records a live call.
func (r CallRegistry) Enter(ctx context.Context, c LiveCall) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("call registry: %w", err)
	}
	if err := r.Redis.HSet(ctx, r.key(), c.ID, b).Err(); err != nil {
		return fmt.Errorf("call registry: enter %s: %w", c.ID, err)
	}
	return nil
}

// EnterIn queues Enter(c) in pipe, a pipeline on the registry's client
// (RedisClient); the returned command's error is Enter's once the
// pipeline ran.
func (r CallRegistry) EnterIn(ctx context.Context, pipe redis.Pipeliner, c LiveCall) (*redis.IntCmd, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("call registry: %w", err)
	}
	return pipe.HSet(ctx, r.key(), c.ID, b), nil
}

// RedisClient is the registry's client.
func (r CallRegistry) RedisClient() redis.UniversalClient { return r.Redis }

// LeaveKey is the hash a call's field leaves once its ticket is in Redis.
func (r CallRegistry) LeaveKey() string { return r.key() }

// Leave forgets a call whose ticket is written.
func (r CallRegistry) Leave(ctx context.Context, id string) error {
	if err := r.Redis.HDel(ctx, r.key(), id).Err(); err != nil {
		return fmt.Errorf("call registry: leave %s: %w", id, err)
	}
	return nil
}

// All returns every registered call; malformed entries are skipped.
func (r CallRegistry) All(ctx context.Context) ([]LiveCall, error) {
	m, err := r.Redis.HGetAll(ctx, r.key()).Result()
	if err != nil {
		return nil, fmt.Errorf("call registry: list: %w", err)
	}
	out := make([]LiveCall, 0, len(m))
	for _, v := range m {
		var c LiveCall
		if json.Unmarshal([]byte(v), &c) == nil && c.ID != "" {
			out = append(out, c)
		}
	}
	return out, nil
}

// Get returns the registered calls among ids (unknown and malformed
// entries are left out), in one round trip.
func (r CallRegistry) Get(ctx context.Context, ids ...string) (map[string]LiveCall, error) {
	out := make(map[string]LiveCall, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := r.Redis.HMGet(ctx, r.key(), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("call registry: get %d calls: %w", len(ids), err)
	}
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var c LiveCall
		if json.Unmarshal([]byte(s), &c) == nil && c.ID != "" {
			out[c.ID] = c
		}
	}
	return out, nil
}
