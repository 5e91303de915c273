package config

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
)

type nopSink struct{}

func (nopSink) Submit(context.Context, *hotlinev1.Ticket) (bool, error) { return false, nil }

// Defaults live in one place: a Deliverer or Counter built with zero
// options runs with exactly what the default configuration file gives.
func TestDomainFallbacksAreTheConfigDefaults(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	m := metrics.NewUnregistered()
	base := func() ticket.Options {
		return ticket.Options{Redis: rdb, Sink: nopSink{}, Logger: slog.New(slog.DiscardHandler), Metrics: m.Tickets, Consumer: "t"}
	}
	zero, err := ticket.NewDeliverer(base())
	if err != nil {
		t.Fatal(err)
	}
	fromCfg := base()
	cfg := Default()
	cfg.Tickets.Apply(&fromCfg)
	configured, err := ticket.NewDeliverer(fromCfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := zero.Options(), configured.Options()
	if a.Workers != b.Workers || a.RetryMax != b.RetryMax || a.MaxAttempts != b.MaxAttempts || a.MaxAge != b.MaxAge ||
		a.DeadLetterMaxAge != b.DeadLetterMaxAge || !slices.Equal(a.DeadLetterCodes, b.DeadLetterCodes) {
		t.Errorf("ticket deliverer defaults differ from the tickets: section's:\nzero options %+v\nconfig       %+v", a, b)
	}
	if cfg.Tickets.Timeout.D() != ticket.DefaultTimeout {
		t.Errorf("tickets.timeout default %v, ticket.DefaultTimeout %v", cfg.Tickets.Timeout.D(), ticket.DefaultTimeout)
	}

	c0 := count.New(count.Options{Redis: rdb, Keys: store.NewKeys("t"), Logger: slog.New(slog.DiscardHandler), Metrics: m.Calls})
	c1 := count.New(count.Options{Redis: rdb, Keys: store.NewKeys("t"), Logger: slog.New(slog.DiscardHandler), Metrics: m.Calls,
		PendingLimit: cfg.Redis.PendingLimit, Timeout: cfg.Redis.Timeout.D()})
	p0, t0 := c0.Limits()
	p1, t1 := c1.Limits()
	if p0 != p1 || t0 != t1 {
		t.Errorf("counter defaults (pending %d, timeout %v) differ from the redis: section's (%d, %v)", p0, t0, p1, t1)
	}
}
