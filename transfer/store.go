package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/store"
)

// Store keeps transfer records in Redis. Keys (all under the gateway's hash
// tag, so the save script works on Cluster):
//
//	{hl}:transfer:rec:<transfer_id>  hash  v=<version> json=<record JSON>
//	{hl}:transfer:call:<call_id>     zset  transfer IDs by request time (ms)
//	{hl}:transfer:recent             zset  transfer IDs by request time, trimmed to RecentMax
//
// Save returns once Redis has applied the write; acknowledge a gRPC request
// only after it returned nil. Safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	keys store.Keys
	opt  StoreOptions
}

// StoreOptions tune the Store.
type StoreOptions struct {
	// Retention is how long a record (and its call's index) is kept after
	// its last save; default 400 days (a year of reports plus margin).
	Retention time.Duration
	// RecentMax bounds the recent index; default 10000.
	RecentMax int
}

// NewStore returns a Store on rdb with keys from keys (store.NewKeys(prefix)).
func NewStore(rdb redis.UniversalClient, keys store.Keys, opt StoreOptions) *Store {
	if opt.Retention <= 0 {
		opt.Retention = 400 * 24 * time.Hour
	}
	if opt.RecentMax <= 0 {
		opt.RecentMax = 10000
	}
	return &Store{rdb: rdb, keys: keys, opt: opt}
}

// Limits of List and Recent.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// saveScript writes the record unless a newer (or equal) version is stored,
// and indexes it. KEYS: rec, call index, recent index. ARGV: json, version,
// score, transfer ID, retention ms, recent max. Returns 1 if written.
var saveScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'json', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[6]) + 1))
return 1
`)

func (s *Store) recKey(id string) string      { return s.keys.Key("transfer", "rec", id) }
func (s *Store) callKey(callID string) string { return s.keys.Key("transfer", "call", callID) }
func (s *Store) recentKey() string            { return s.keys.Key("transfer", "recent") }

func checkCallID(callID string) error {
	if callID == "" || len(callID) > 128 {
		return fmt.Errorf("%w: call ID must be 1-128 bytes", ErrInvalid)
	}
	for _, r := range callID {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%w: call ID %q contains control or invalid characters", ErrInvalid, callID)
		}
	}
	return nil
}

// Save stores rec durably (as far as Redis is configured to be). An older
// version than the stored one is ignored (nil error).
func (s *Store) Save(ctx context.Context, rec *Record) error {
	if rec == nil || !isToken(rec.TransferID, 64, "-_") {
		return fmt.Errorf("%w: record without a valid transfer ID", ErrInvalid)
	}
	if err := checkCallID(rec.CallID); err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("transfer store: encode %s: %w", rec.TransferID, err)
	}
	score := rec.RequestedAt.UnixMilli()
	if rec.RequestedAt.IsZero() {
		score = 0
	}
	err = saveScript.Run(ctx, s.rdb,
		[]string{s.recKey(rec.TransferID), s.callKey(rec.CallID), s.recentKey()},
		data, rec.Version, score, rec.TransferID, s.opt.Retention.Milliseconds(), s.opt.RecentMax,
	).Err()
	if err != nil {
		return fmt.Errorf("transfer store: save %s: %w", rec.TransferID, err)
	}
	return nil
}

// Get returns one record, or (nil, nil) if it is unknown.
func (s *Store) Get(ctx context.Context, transferID string) (*Record, error) {
	if !isToken(transferID, 64, "-_") {
		return nil, fmt.Errorf("%w: transfer ID %q", ErrInvalid, transferID)
	}
	recs, err := s.load(ctx, []string{transferID})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs[0], nil
}

// List returns the last limit transfers of a call, oldest first (limit 0:
// DefaultListLimit; at most MaxListLimit).
func (s *Store) List(ctx context.Context, callID string, limit int) ([]*Record, error) {
	if err := checkCallID(callID); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	ids, err := s.rdb.ZRange(ctx, s.callKey(callID), int64(-limit), -1).Result()
	if err != nil {
		return nil, fmt.Errorf("transfer store: list %q: %w", callID, err)
	}
	return s.load(ctx, ids)
}

// Recent returns the most recent transfers of all calls, newest first.
func (s *Store) Recent(ctx context.Context, limit int) ([]*Record, error) {
	limit = clampLimit(limit)
	ids, err := s.rdb.ZRevRange(ctx, s.recentKey(), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("transfer store: recent: %w", err)
	}
	return s.load(ctx, ids)
}

func clampLimit(limit int) int {
	if limit <= 0 {
		return DefaultListLimit
	}
	return min(limit, MaxListLimit)
}

// load fetches records in the order of ids, skipping expired ones.
func (s *Store) load(ctx context.Context, ids []string) ([]*Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.recKey(id), "json")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("transfer store: load: %w", err)
	}
	out := make([]*Record, 0, len(ids))
	for i, c := range cmds {
		data, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("transfer store: load %s: %w", ids[i], err)
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("transfer store: decode %s: %w", ids[i], err)
		}
		out = append(out, &r)
	}
	return out, nil
}
