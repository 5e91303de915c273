package edge_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// Helpers for the AgentService tests over a real Redis (as in package acd's tests).

const general = "general"

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func client(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func newPool(t testing.TB, rdb redis.UniversalClient) (*acd.Pool, *metrics.ACD) {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry()).ACD
	p := acd.New(acd.Options{
		Redis: rdb, Keys: store.NewKeys("hltest"), Logger: slog.New(slog.DiscardHandler),
		Metrics: m, Skills: []string{general, "labour"}, Timeout: 5 * time.Second,
	})
	return p, m
}

func login(t testing.TB, p *acd.Pool, ext string, wrap time.Duration, skills ...string) {
	t.Helper()
	if len(skills) == 0 {
		skills = []string{general}
	}
	if _, err := p.Login(testCtx(t), ext, skills, wrap); err != nil {
		t.Fatal(err)
	}
}

func ready(t testing.TB, p *acd.Pool, ext string) {
	t.Helper()
	if _, err := p.SetReady(testCtx(t), ext); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, p *acd.Pool, ext string) acd.Agent {
	t.Helper()
	a, err := p.Get(testCtx(t), ext)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// offer enqueues call (entering now) and claims an agent for it.
func offer(t testing.TB, p *acd.Pool, skill, call string) (string, error) {
	t.Helper()
	if err := p.Enqueue(testCtx(t), skill, call, false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return p.Claim(testCtx(t), skill, call)
}

func mustOffer(t testing.TB, p *acd.Pool, call, want string) {
	t.Helper()
	got, err := offer(t, p, general, call)
	if err != nil {
		t.Fatalf("claim for %s: %v", call, err)
	}
	if got != want {
		t.Fatalf("claim for %s: got agent %s, want %s", call, got, want)
	}
}
