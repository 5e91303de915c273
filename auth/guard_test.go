package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func getStats(t *testing.T, conn *grpc.ClientConn, tok string) error {
	t.Helper()
	_, err := hotlinev1.NewStatsServiceClient(conn).GetStats(withToken(t, tok), &hotlinev1.GetStatsRequest{})
	return err
}

func TestPrincipalReachesTheServer(t *testing.T) {
	ts := startServer(t, Options{})
	if err := getStats(t, ts.conn, tokenOf(t, RoleSupervisor)); err != nil {
		t.Fatal(err)
	}
	if p := <-ts.stats.seen; p != (Principal{Role: RoleSupervisor, Name: "duty-desk"}) {
		t.Errorf("server saw principal %+v", p)
	}
	a, err := hotlinev1.NewAgentServiceClient(ts.conn).GetAgent(withToken(t, "agent-1002-token-bbbbbbbb"), &hotlinev1.GetAgentRequest{Extension: "1001"})
	if err != nil {
		t.Fatal(err)
	}
	if a.GetExtension() != "1002" {
		t.Errorf("GetAgent saw extension %q, want the token's 1002", a.GetExtension())
	}
}

func TestRateLimitPerToken(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	ts := startServer(t, Options{RateLimit: RateLimit{PerSecond: 2, Burst: 3}, Now: clk.Now})
	sup := tokenOf(t, RoleSupervisor)
	for i := range 3 {
		if err := getStats(t, ts.conn, sup); err != nil {
			t.Fatalf("request %d within the burst: %v", i+1, err)
		}
	}
	err := getStats(t, ts.conn, sup)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("4th request at once: %v, want ResourceExhausted", err)
	}
	// Another token has its own bucket.
	if _, err := hotlinev1.NewAgentServiceClient(ts.conn).GetAgent(withToken(t, tokenOf(t, RoleAgent)), &hotlinev1.GetAgentRequest{}); err != nil {
		t.Fatalf("another token: %v", err)
	}
	clk.Add(500 * time.Millisecond) // one token back at 2/s
	if err := getStats(t, ts.conn, sup); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if err := getStats(t, ts.conn, sup); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second after a one-token refill: %v, want ResourceExhausted", err)
	}
	if got := testutil.ToFloat64(ts.guard.failures.WithLabelValues("supervisor", ReasonRateLimited)); got != 2 {
		t.Errorf("rate_limited failures = %v, want 2", got)
	}
	// Unauthenticated requests never touch a bucket.
	for range 5 {
		if err := getStats(t, ts.conn, ""); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("no token: %v", err)
		}
	}
	if got := testutil.ToFloat64(ts.guard.failures.WithLabelValues("supervisor", ReasonMissingToken)); got != 5 {
		t.Errorf("missing_token failures = %v, want 5", got)
	}
}

// openEvents opens an event stream and waits for its first event.
func openEvents(t *testing.T, conn *grpc.ClientConn, tok string) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(withToken(t, tok))
	st, err := hotlinev1.NewAgentServiceClient(conn).StreamEvents(ctx, &hotlinev1.StreamEventsRequest{})
	if err != nil {
		cancel()
		return nil, err
	}
	ev, err := st.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	if ev.GetState().GetExtension() == "" {
		cancel()
		t.Fatalf("first event carries no extension: %v", ev)
	}
	return cancel, nil
}

func TestEventStreamCapPerAgent(t *testing.T) {
	ts := startServer(t, Options{MaxEventStreamsPerAgent: 2})
	a1, a2 := tokenOf(t, RoleAgent), "agent-1002-token-bbbbbbbb"
	c1, err := openEvents(t, ts.conn, a1)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := openEvents(t, ts.conn, a1)
	if err != nil {
		t.Fatal(err)
	}
	defer c2()
	if _, err := openEvents(t, ts.conn, a1); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream of 1001: %v, want ResourceExhausted", err)
	}
	c3, err := openEvents(t, ts.conn, a2)
	if err != nil {
		t.Fatalf("1002's own stream: %v", err)
	}
	defer c3()
	if got := testutil.ToFloat64(ts.guard.open); got != 3 {
		t.Errorf("open streams gauge = %v, want 3", got)
	}
	// Closing one of 1001's streams frees its slot once the server sees it.
	c1()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := openEvents(t, ts.conn, a1)
		if err == nil {
			defer c()
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("after closing a stream: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(ts.guard.failures.WithLabelValues("agent", ReasonStreamCap)); got < 1 {
		t.Errorf("stream_cap failures = %v, want at least 1", got)
	}
}

func TestReloadSwapsTheTokenTable(t *testing.T) {
	ts := startServer(t, Options{})
	old := tokenOf(t, RoleSupervisor)
	if err := getStats(t, ts.conn, old); err != nil {
		t.Fatal(err)
	}
	const rotated = "supervisor-rotated-0123456789"
	if err := ts.guard.Reload([]Credential{{Role: RoleSupervisor, Name: "duty-desk", Token: rotated}}); err != nil {
		t.Fatal(err)
	}
	if err := getStats(t, ts.conn, old); status.Code(err) != codes.Unauthenticated {
		t.Errorf("old token after reload: %v, want Unauthenticated", err)
	}
	if err := getStats(t, ts.conn, rotated); err != nil {
		t.Errorf("new token after reload: %v", err)
	}
	// A bad reload keeps the table in force.
	if err := ts.guard.Reload([]Credential{{Role: RoleSupervisor, Name: "duty-desk", Token: "short"}}); err == nil {
		t.Fatal("reload accepted a short token")
	}
	if err := getStats(t, ts.conn, rotated); err != nil {
		t.Errorf("token after a failed reload: %v", err)
	}
}

// TestReloadWhileServing races reloads against requests (run with -race).
func TestReloadWhileServing(t *testing.T) {
	ts := startServer(t, Options{})
	sup := tokenOf(t, RoleSupervisor)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			if err := ts.guard.Reload(testCreds); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 50 {
		if err := getStats(t, ts.conn, sup); err != nil {
			t.Fatalf("during reloads: %v", err)
		}
	}
	<-done
}

func TestNoPolicyFailsClosed(t *testing.T) {
	pol := DefaultPolicy()
	delete(pol, hotlinev1.StatsService_GetStats_FullMethodName)
	ts := startServer(t, Options{Policy: pol})
	err := getStats(t, ts.conn, tokenOf(t, RoleSupervisor))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("method without policy: %v, want PermissionDenied", err)
	}
	if got := testutil.ToFloat64(ts.guard.failures.WithLabelValues("none", ReasonNoPolicy)); got != 1 {
		t.Errorf("no_policy failures = %v, want 1", got)
	}
}

func TestNewGuardRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no registerer":      {},
		"negative cap":       {MaxEventStreamsPerAgent: -1},
		"rate without burst": {RateLimit: RateLimit{PerSecond: 5}},
	} {
		if name != "no registerer" {
			o.Registerer = newTestRegistry()
		}
		if _, err := NewGuard(testCreds, o); err == nil {
			t.Errorf("%s: NewGuard accepted it", name)
		}
	}
}

// SetLimits (a reload) changes the rate limit of the next request; a bad
// limit is refused and the old one stays.
func TestSetLimitsAppliesToTheNextRequest(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	ts := startServer(t, Options{RateLimit: RateLimit{PerSecond: 1, Burst: 1}, Now: clk.Now})
	sup := tokenOf(t, RoleSupervisor)
	if err := getStats(t, ts.conn, sup); err != nil {
		t.Fatal(err)
	}
	if err := getStats(t, ts.conn, sup); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second at once with burst 1: %v, want ResourceExhausted", err)
	}
	if err := ts.guard.SetLimits(RateLimit{PerSecond: 1, Burst: 0}, 2); err == nil {
		t.Fatal("burst 0 with per_second 1 accepted")
	}
	if err := ts.guard.SetLimits(RateLimit{}, -1); err == nil {
		t.Fatal("negative stream cap accepted")
	}
	if err := getStats(t, ts.conn, sup); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("after refused SetLimits: %v, want the old limit (ResourceExhausted)", err)
	}
	if err := ts.guard.SetLimits(RateLimit{}, 2); err != nil { // no limit
		t.Fatal(err)
	}
	for i := range 5 {
		if err := getStats(t, ts.conn, sup); err != nil {
			t.Fatalf("request %d without a limit: %v", i+1, err)
		}
	}
	if ts.guard.streams.limit() != 2 {
		t.Errorf("stream cap = %d, want 2", ts.guard.streams.limit())
	}
}
