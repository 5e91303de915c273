// Package store opens the gateway's Redis and names its keys. Every key
// carries the hash tag "{<prefix>}" so that every multi-key operation
// (scripts, transactions) lands on one slot and works on Redis Cluster.
package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Open returns a universal client: one address is a single node, several a
// Cluster, and a master name selects Sentinel — from configuration alone;
// over TLS as redis.tls says (plaintext when it is plaintext).
func Open(cfg Config) (redis.UniversalClient, error) {
	t := cfg.Timeout.D()
	tlsCfg, err := cfg.TLS.TLSConfig("redis.tls")
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		TLSConfig:       tlsCfg, // nil: plaintext
		Addrs:           cfg.Addrs,
		MasterName:      cfg.MasterName,
		Username:        cfg.Username,
		Password:        cfg.Password,
		DB:              cfg.DB,
		DialTimeout:     t,
		ReadTimeout:     t,
		WriteTimeout:    t,
		MaxRetries:      1,
		MinRetryBackoff: 50 * time.Millisecond,
		MaxRetryBackoff: 500 * time.Millisecond,
		PoolTimeout:     t,
	}), nil
}

// Ping checks that Redis answers within the context's deadline.
func Ping(ctx context.Context, c redis.UniversalClient) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Keys builds key names under one prefix and one hash tag.
type Keys struct{ tag string }

// NewKeys returns the key builder for prefix (e.g. "hl" → "{hl}:...").
func NewKeys(prefix string) Keys { return Keys{tag: "{" + prefix + "}"} }

// Key joins parts under the tag: Key("count", "day", "2026-11-26") = "{hl}:count:day:2026-11-26".
func (k Keys) Key(parts ...string) string {
	var b strings.Builder
	b.Grow(len(k.tag) + 8*len(parts))
	b.WriteString(k.tag)
	for _, p := range parts {
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}
