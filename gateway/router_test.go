package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// freezingProxy forwards TCP to a Redis server until frozen: then it
// holds every byte (a Redis that accepts and never answers, as in a
// brown-out or a paused server).
type freezingProxy struct {
	ln     net.Listener
	frozen atomic.Bool
	wg     sync.WaitGroup
}

func newFreezingProxy(t *testing.T, backend string) *freezingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln}
	var conns sync.Map
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			conns.Store(c, b)
			p.wg.Add(2)
			go func() { defer p.wg.Done(); p.pipe(b, c) }()
			go func() { defer p.wg.Done(); p.pipe(c, b) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, v any) bool { k.(net.Conn).Close(); v.(net.Conn).Close(); return true })
		p.wg.Wait()
	})
	return p
}

func (p *freezingProxy) pipe(dst io.WriteCloser, src io.ReadCloser) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// A Redis that stops answering while the router claims must not stop the
// owners: more calls than any buffer hang up meanwhile, and every one of
// them ends with its ticket and its counts.
func TestOwnersEndCallsWhileTheRoutersRedisIsFrozen(t *testing.T) {
	// Several times the dispatcher's mailbox (64); not so many that their
	// entries, each bounded by OpTimeout, time out on a loaded CI machine.
	const calls = 400
	srv := redistest.Start(t)
	proxy := newFreezingProxy(t, srv.Addr)
	// Context deadlines bound each owner's request; the router's claim has
	// none but the pool's long timeout: it stays stuck in Redis.
	rdb := redis.NewClient(&redis.Options{Addr: proxy.ln.Addr().String(), ContextTimeoutEnabled: true,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, MaxRetries: -1, PoolSize: 64, PoolTimeout: time.Minute})
	t.Cleanup(func() { _ = rdb.Close() })
	pool := acd.New(acd.Options{Redis: rdb, Keys: store.NewKeys("rt"), Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.NewUnregistered().ACD, Skills: []string{"general"}, Timeout: time.Minute})

	r := newRig(t, rigOptions{queueSize: 64, tweak: func(o *Options) {
		o.Pool = pool
		o.OpTimeout = 500 * time.Millisecond
		o.PollInterval = 50 * time.Millisecond
	}})
	for i := range calls {
		r.start(fmt.Sprint("q", i), EntryInbound, "12345")
	}
	waitFor(t, "every call queued", func() bool {
		return len(r.pbx.Actions()) >= 2*calls
	})
	for i := range calls {
		id := fmt.Sprint("q", i)
		waitFor(t, id+" in the queue", func() bool {
			var ok bool
			c, live := r.svc.call(id)
			if !live {
				return false
			}
			done := make(chan struct{})
			c.send(func(c *Call) { ok = c.enqueued; close(done) })
			<-done
			return ok
		})
	}
	proxy.frozen.Store(true)
	time.Sleep(200 * time.Millisecond) // the router's next poll claims, and hangs

	start := time.Now()
	for i := range calls {
		r.hangup(fmt.Sprint("q", i))
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := range calls {
		id := fmt.Sprint("q", i)
		for r.live(id) {
			if time.Now().After(deadline) {
				t.Fatalf("call %s still live %v after its hangup, with the router stuck in Redis", id, time.Since(start))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if n := len(r.tickets()); n != calls {
		t.Errorf("%d tickets, want %d", n, calls)
	}
	if got := r.counts().Get("abandoned_queue", "12345"); got != calls {
		t.Errorf("abandoned_queue = %d, want %d", got, calls)
	}
	proxy.frozen.Store(false)
}
