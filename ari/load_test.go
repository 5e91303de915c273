package ari

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/metrics"
)

// Several channels go to a bridge in one request whose body carries them
// as a JSON array (a JSON string "a,b" is one channel ID to Asterisk).
func TestAddChannelsInOneRequest(t *testing.T) {
	f := newFakeARI(t)
	c, _, reg := newTestClient(t, f)
	ctx := context.Background()
	if err := c.AddChannels(ctx, "br-1", "caller.1", "agent.1"); err != nil {
		t.Fatalf("AddChannels: %v", err)
	}
	f.mu.Lock()
	bodies := append([]string(nil), f.bodies...)
	f.mu.Unlock()
	if len(bodies) != 1 || bodies[0] != `br-1 {"channel":["caller.1","agent.1"]}` {
		t.Fatalf("addChannel requests %q, want one with both channels in a JSON array", bodies)
	}
	if n := histogramCount(t, reg, "hotline_ari_request_duration_seconds", map[string]string{"op": "add_channels", "result": "ok"}); n != 1 {
		t.Errorf("%d add_channels samples, want 1", n)
	}
	// ARI's refusal keeps its status and message.
	err := c.AddChannels(ctx, "br-1", "caller.1", "gone")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "Channel not found") {
		t.Fatalf("AddChannels(gone) = %v, want ErrNotFound with ARI's 422 and its message", err)
	}
	// Asterisk 22 answers 400 "Channel not found" for a list with a
	// channel that has gone: not found too, so the caller does not retry.
	err = c.AddChannels(ctx, "br-1", "caller.1", "vanished")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "400") {
		t.Fatalf("AddChannels(vanished) = %v, want ErrNotFound with ARI's 400", err)
	}
	// Any other 400 is not.
	if err := c.AddChannels(ctx, "br-1", "caller.1", "malformed"); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "Bridge is malformed") {
		t.Fatalf("AddChannels(malformed) = %v, want a 400 that is not ErrNotFound", err)
	}
	// One channel is the library's request.
	if err := c.AddChannels(ctx, "br-1", "caller.2"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	last := strings.TrimSpace(f.bodies[len(f.bodies)-1])
	f.mu.Unlock()
	if last != `br-1 {"channel":"caller.2"}` {
		t.Fatalf("one channel sent as %q", last)
	}
	for _, bad := range [][]string{nil, {"a", "b/c"}, {""}} {
		if err := c.AddChannels(ctx, "br-1", bad...); err == nil {
			t.Errorf("AddChannels(%q) accepted", bad)
		}
	}
}

// At most max_inflight requests are sent at once; the next waits for a
// slot no longer than its context allows. Requests that time out count in
// the latency average and the timeouts.
func TestRequestsInFlightAreBounded(t *testing.T) {
	f := newFakeARI(t)
	cfg := testConfig(f.url())
	cfg.MaxInflight = 2
	m := metrics.NewUnregistered().ARI
	c, err := New(cfg, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _ = c.Answer(ctx, "slow") }) // held by the server until the 300ms deadline
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Load().InFlight != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("load %+v, want 2 in flight", c.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if n := testutil.ToFloat64(m.InFlight); n != 2 {
		t.Errorf("hotline_ari_requests_in_flight = %v, want 2", n)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = c.Answer(wctx, "1.1")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "ari.max_inflight") {
		t.Fatalf("third request with both slots taken = %v, want ErrUnavailable naming ari.max_inflight", err)
	}
	wg.Wait()
	l := c.Load()
	if l.InFlight != 0 || l.Waiting != 0 || l.Timeouts != 2 || l.Latency < 100*time.Millisecond {
		t.Fatalf("load after two timed-out requests %+v, want none in flight, 2 timeouts, latency near 300ms", l)
	}
	if err := c.Answer(ctx, "1.1"); err != nil {
		t.Fatalf("a slot free again: %v", err)
	}
	if n := testutil.ToFloat64(m.InFlight); n != 0 {
		t.Errorf("hotline_ari_requests_in_flight = %v after the requests, want 0", n)
	}
}
