package ari

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/metrics"
)

// freezingProxy forwards TCP to a server and, once frozen, swallows every
// byte of the websocket connections open at that moment in both directions
// without closing them: the peer has vanished (a cable pulled, a NAT entry
// expired, a hung Asterisk), the TCP connection is half-open.
type freezingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	ws     []*atomic.Bool // one frozen flag per websocket connection
	conns  []net.Conn
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln, target: target}
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

func (p *freezingProxy) serve() {
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
		frozen := new(atomic.Bool)
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn, first bool) {
			defer dst.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 && first {
					first = false
					if bytes.HasPrefix(buf[:n], []byte("GET /ari/events")) {
						p.mu.Lock()
						p.ws = append(p.ws, frozen)
						p.mu.Unlock()
					}
				}
				if n > 0 && !frozen.Load() {
					if _, werr := dst.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					if frozen.Load() {
						select {} // never tell the other side
					}
					return
				}
			}
		}
		go pipe(s, c, true)
		go pipe(c, s, false)
	}
}

// freeze makes every websocket connection open now silent.
func (p *freezingProxy) freeze() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.ws {
		f.Store(true)
	}
	n := len(p.ws)
	p.ws = nil
	return n
}

func keepAliveClient(t *testing.T, f *fakeARI) (*Client, *metrics.ARI, *freezingProxy) {
	t.Helper()
	u, err := url.Parse(f.url())
	if err != nil {
		t.Fatal(err)
	}
	px := newFreezingProxy(t, u.Host)
	u.Host = px.ln.Addr().String()
	cfg := testConfig(u.String())
	cfg.PingInterval = 100 * time.Millisecond
	cfg.ReadTimeout = 600 * time.Millisecond
	m := metrics.New(prometheus.NewRegistry()).ARI
	c, err := New(cfg, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return c, m, px
}

// A websocket whose peer stops answering without closing it is noticed
// within the read timeout: the client is not ready, closes it and connects
// again. A quiet but healthy connection (pongs only) is kept.
func TestHalfOpenWebsocketIsNoticed(t *testing.T) {
	f := newFakeARI(t)
	c, m, px := keepAliveClient(t, f)
	// The client may be ready again on a new connection a moment after it
	// dropped the frozen one (the reconnect delay has full jitter, down to
	// zero), so the drop is seen by the disconnect hook, not by polling Ready.
	disconnected := make(chan time.Time, 4)
	c.SetOnDisconnect(func() { disconnected <- time.Now() })
	runClient(t, c)
	f.nextConn(t)
	waitFor(t, "ready", c.Ready)

	// Quiet for many read timeouts: no event at all, only pings and pongs.
	for range 10 {
		time.Sleep(120 * time.Millisecond)
		if !c.Ready() {
			t.Fatal("a quiet but healthy websocket was taken as half-open")
		}
	}
	if n := testutil.ToFloat64(m.ReadTimeouts); n != 0 {
		t.Fatalf("read timeouts on a healthy websocket = %v, want 0", n)
	}
	select {
	case at := <-disconnected:
		t.Fatalf("a quiet but healthy websocket was dropped at %v", at)
	default:
	}

	if n := px.freeze(); n != 1 {
		t.Fatalf("froze %d websocket connections, want 1", n)
	}
	frozenAt := time.Now()
	select {
	case at := <-disconnected:
		if took := at.Sub(frozenAt); took > 3*time.Second {
			t.Errorf("noticed after %v, want within about the read timeout (600ms)", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the websocket was not dropped 5s after its peer stopped answering")
	}
	if n := testutil.ToFloat64(m.ReadTimeouts); n != 1 {
		t.Errorf("read timeouts = %v, want 1", n)
	}
	f.nextConn(t) // a new connection
	waitFor(t, "ready again", c.Ready)
}

// LastProgress and Stalled tell a health check that the dispatch loop is
// stuck (here: in OnConnect), and not when it merely waits for events.
func TestStalledDispatchLoopIsReported(t *testing.T) {
	f := newFakeARI(t)
	c, _, _ := newTestClient(t, f)
	release := make(chan struct{})
	entered := make(chan struct{})
	c.SetOnConnect(func(ctx context.Context, ci ConnectInfo) {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	if c.Stalled(time.Millisecond) {
		t.Fatal("stalled before Run")
	}
	runClient(t, c)
	f.nextConn(t)
	<-entered
	time.Sleep(300 * time.Millisecond)
	if !c.Stalled(200 * time.Millisecond) {
		t.Fatalf("not stalled with OnConnect blocked for 300ms (last progress %v ago)", time.Since(c.LastProgress()))
	}
	if c.Ready() {
		t.Error("ready while OnConnect has not returned")
	}
	close(release)
	waitFor(t, "ready", c.Ready)
	// Idle: waiting for events is progress.
	time.Sleep(300 * time.Millisecond)
	if c.Stalled(200 * time.Millisecond) {
		t.Errorf("stalled while idle (last progress %v ago)", time.Since(c.LastProgress()))
	}
}

// An OnConnect that beats (ConnectInfo.Progress) between its steps is not
// a stalled loop, however long it takes in all.
func TestOnConnectThatBeatsIsNotStalled(t *testing.T) {
	f := newFakeARI(t)
	c, _, _ := newTestClient(t, f)
	release := make(chan struct{})
	beating := make(chan struct{})
	c.SetOnConnect(func(ctx context.Context, ci ConnectInfo) {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		ci.Beat()
		close(beating)
		for {
			select {
			case <-release:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				ci.Beat()
			}
		}
	})
	runClient(t, c)
	f.nextConn(t)
	<-beating
	time.Sleep(300 * time.Millisecond)
	if c.Stalled(200 * time.Millisecond) {
		t.Errorf("stalled while OnConnect beats (last progress %v ago)", time.Since(c.LastProgress()))
	}
	close(release)
	waitFor(t, "ready", c.Ready)
}
