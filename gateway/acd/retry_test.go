package acd_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// lossyProxy forwards TCP between a Redis client and a real redis-server and,
// once armed, swallows the next reply from the server and resets both sides
// of that connection: the command ran in Redis, its answer never arrived.
// That is what a timeout or a reset looks like to the client, and go-redis
// then resends the command on a new connection (unless MaxRetries < 0).
type lossyProxy struct {
	ln     net.Listener
	target string
	drop   atomic.Int32 // replies still to swallow
	lost   atomic.Int32 // replies swallowed so far
	mu     sync.Mutex
	conns  []net.Conn
}

func newLossyProxy(t *testing.T, target string) *lossyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("lossy proxy listen: %v", err)
	}
	p := &lossyProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *lossyProxy) Addr() string { return p.ln.Addr().String() }

// loseNextReply makes the proxy swallow the next reply it sees.
func (p *lossyProxy) loseNextReply() { p.drop.Store(1) }

func (p *lossyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close() }()
		go func() {
			defer c.Close()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					if p.drop.Load() > 0 && p.drop.Add(-1) >= 0 {
						p.lost.Add(1)
						return // the reply is lost and the connection reset
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// lossyPool returns a pool talking to srv through a lossy proxy, on a single
// connection so that the armed loss hits the next command. retries < 0
// disables go-redis's resending.
func lossyPool(t *testing.T, srv *redistest.Server, retries int) (*acd.Pool, *lossyProxy) {
	t.Helper()
	px := newLossyProxy(t, srv.Addr)
	c := redis.NewClient(&redis.Options{Addr: px.Addr(), PoolSize: 1, MaxRetries: retries,
		MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	p, _ := newPool(t, c)
	// Load every script through this client first, so that the armed loss
	// hits a script that runs (EVALSHA) and not a NOSCRIPT refusal.
	ctx := testCtx(t)
	_, _ = p.Claim(ctx, general, "warm-up")
	_ = p.Dequeue(ctx, general, "warm-up")
	_, _ = p.Login(ctx, "1999", []string{general}, 0)
	_, _ = p.SetReady(ctx, "1999")
	_ = p.Answered(ctx, "1999", "warm-up")
	_ = p.Release(ctx, "1999", "warm-up", acd.Cancelled)
	_, _ = p.Logout(ctx, "1999")
	return p, px
}

func TestClaimRunTwiceForOneCallReturnsTheSameAgent(t *testing.T) {
	srv := redistest.Start(t)
	p, m := newPool(t, client(t, srv))
	ctx := testCtx(t)
	login(t, p, "1001", 0)
	ready(t, p, "1001")
	login(t, p, "1002", 0)
	ready(t, p, "1002")
	mustOffer(t, p, "c1", "1001")

	// The router claims again (it never saw the first answer).
	ext, err := p.Claim(ctx, general, "c1")
	if err != nil || ext != "1001" {
		t.Fatalf("second claim for c1 = %q, %v; want 1001 (the agent chosen before)", ext, err)
	}
	if a := get(t, p, "1002"); a.State != acd.Ready {
		t.Errorf("1002 = %s, want ready: a repeated claim must not take a second agent", a.State)
	}
	if a := get(t, p, "1001"); a.State != acd.Ringing || a.CallID != "c1" {
		t.Errorf("1001 = %s for %q, want ringing for c1", a.State, a.CallID)
	}
	if got := testutil.ToFloat64(m.Claims.WithLabelValues("again")); got != 1 {
		t.Errorf("claims{again} = %v, want 1", got)
	}
	if who, err := p.ClaimedBy(ctx, "c1"); err != nil || who != "1001" {
		t.Errorf("ClaimedBy(c1) = %q, %v; want 1001", who, err)
	}

	// Once the agent answered, a stale claim for the call gets nothing: the
	// owner has the agent already.
	if err := p.Answered(ctx, "1001", "c1"); err != nil {
		t.Fatal(err)
	}
	if ext, err := p.Claim(ctx, general, "c1"); !errors.Is(err, acd.ErrNotWaiting) {
		t.Errorf("claim for an answered call = %q, %v; want ErrNotWaiting", ext, err)
	}
	if who, _ := p.ClaimedBy(ctx, "c1"); who != "" {
		t.Errorf("ClaimedBy(c1) after answer = %q, want none", who)
	}

	// After the agent is released and the call queued again (a missed
	// offer), the next claim chooses afresh.
	if err := p.Release(ctx, "1001", "c1", acd.Completed); err != nil {
		t.Fatal(err)
	}
	mustOffer(t, p, "c1", "1002")
}

func TestClaimWhoseReplyIsLostAndResentReturnsTheSameAgent(t *testing.T) {
	srv := redistest.Start(t)
	p, px := lossyPool(t, srv, 3) // go-redis resends on a lost reply
	ctx := testCtx(t)
	login(t, p, "1001", 0)
	ready(t, p, "1001")
	login(t, p, "1002", 0)
	ready(t, p, "1002")
	if err := p.Enqueue(ctx, general, "c1", false, time.Time{}); err != nil {
		t.Fatal(err)
	}

	px.loseNextReply()
	ext, err := p.Claim(ctx, general, "c1")
	if px.lost.Load() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", px.lost.Load())
	}
	if err != nil || ext != "1001" {
		t.Fatalf("claim whose first reply was lost = %q, %v; want 1001 (the script ran twice)", ext, err)
	}
	if a := get(t, p, "1002"); a.State != acd.Ready {
		t.Errorf("1002 = %s, want ready", a.State)
	}
}

func TestClaimWhoseReplyIsLostNeverStrandsCallOrAgent(t *testing.T) {
	srv := redistest.Start(t)
	p, px := lossyPool(t, srv, -1) // no resend: the caller sees the error
	ctx := testCtx(t)
	login(t, p, "1001", 0)
	ready(t, p, "1001")
	for _, call := range []string{"c1", "c2"} {
		if err := p.Enqueue(ctx, general, call, false, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	// c1: the reply is lost; the router keeps the call and claims again.
	px.loseNextReply()
	if ext, err := p.Claim(ctx, general, "c1"); err == nil {
		t.Fatalf("claim with a lost reply = %q, nil; want an error", ext)
	}
	ext, err := p.Claim(ctx, general, "c1")
	if err != nil || ext != "1001" {
		t.Fatalf("claim again after a lost reply = %q, %v; want 1001", ext, err)
	}
	if err := p.Release(ctx, "1001", "c1", acd.Cancelled); err != nil {
		t.Fatal(err)
	}

	// c2: the reply is lost and the caller hangs up before anyone claims
	// again: leaving the queue gives the agent back.
	px.loseNextReply()
	if _, err := p.Claim(ctx, general, "c2"); err == nil {
		t.Fatal("claim with a lost reply succeeded, want an error")
	}
	if a := get(t, p, "1001"); a.State != acd.Ringing || a.CallID != "c2" {
		t.Fatalf("1001 = %s for %q, want ringing for c2 (the script ran)", a.State, a.CallID)
	}
	if err := p.Dequeue(ctx, general, "c2"); err != nil {
		t.Fatal(err)
	}
	a := get(t, p, "1001")
	if a.State != acd.Ready {
		t.Fatalf("1001 after c2 left the queue = %s for %q, want ready", a.State, a.CallID)
	}
	if err := p.Dequeue(ctx, general, "c2"); err != nil { // repeated: no-op
		t.Fatal(err)
	}
	if b := get(t, p, "1001"); b.State != acd.Ready || !b.Since.Equal(a.Since) {
		t.Errorf("repeated dequeue changed 1001: %+v, was %+v", b, a)
	}
	if err := p.Enqueue(ctx, general, "c3", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ext, err := p.Claim(ctx, general, "c3"); err != nil || ext != "1001" {
		t.Errorf("claim for c3 = %q, %v; want 1001", ext, err)
	}
}

// Every other script gives the first run's answer (or a harmless no-op) when
// its reply is lost and go-redis resends it.
func TestScriptsWhoseReplyIsLostAreSafeToResend(t *testing.T) {
	srv := redistest.Start(t)
	p, px := lossyPool(t, srv, 3)
	ctx := testCtx(t)
	step := func(name string, f func() error) {
		t.Helper()
		px.loseNextReply()
		before := px.lost.Load()
		if err := f(); err != nil {
			t.Fatalf("%s with its first reply lost: %v", name, err)
		}
		if px.lost.Load() != before+1 {
			t.Fatalf("%s: no reply was lost", name)
		}
	}
	step("login", func() error { _, err := p.Login(ctx, "1001", []string{general}, time.Minute); return err })
	step("ready", func() error { _, err := p.SetReady(ctx, "1001"); return err })
	if err := p.Enqueue(ctx, general, "c1", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	step("claim", func() error {
		ext, err := p.Claim(ctx, general, "c1")
		if err == nil && ext != "1001" {
			return errors.New("claimed " + ext)
		}
		return err
	})
	step("answered", func() error { return p.Answered(ctx, "1001", "c1") })
	step("release", func() error { return p.Release(ctx, "1001", "c1", acd.Completed) })
	if a := get(t, p, "1001"); a.State != acd.WrapUp {
		t.Errorf("1001 = %s, want wrap_up after one completed call", a.State)
	}
	step("pause", func() error { _, err := p.Pause(ctx, "1001", "lunch"); return err })
	step("logout", func() error { _, err := p.Logout(ctx, "1001"); return err })
	if a := get(t, p, "1001"); a.State != acd.LoggedOut {
		t.Errorf("1001 = %s, want logged_out", a.State)
	}
}
