package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// notifySocket is a systemd notification socket: a unixgram socket whose
// datagrams are kept in order.
type notifySocket struct {
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) (*notifySocket, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ns := &notifySocket{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ns.mu.Lock()
			ns.msgs = append(ns.msgs, string(buf[:n]))
			ns.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return ns, path
}

// count returns how many datagrams so far contain state.
func (ns *notifySocket) count(state string) int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := 0
	for _, m := range ns.msgs {
		if strings.Contains(m, state) {
			n++
		}
	}
	return n
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// An event loop stuck in OnConnect (Asterisk does not answer its listing
// of the application's channels) makes /healthz 503 naming why, stops the heartbeat gauge and the
// systemd watchdog, and holds READY=1 back; once the loop moves on, the
// gateway is healthy, READY=1 and WATCHDOG=1 are sent, and Drain sends
// STOPPING=1.
func TestStalledEventLoopIsUnhealthyAndStarvesTheWatchdog(t *testing.T) {
	ns, sock := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // WATCHDOG=1 every 100ms
	t.Setenv("WATCHDOG_PID", "")

	gate := make(chan struct{})
	var gateOnce sync.Once
	open := func() { gateOnce.Do(func() { close(gate) }) }
	base := fakeARI(t)
	var appReads atomic.Int32
	ariSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/ari/applications/") && appReads.Add(1) > 1 {
			<-gate // the connection's check passes; OnConnect's listing hangs: the event loop is stuck
		}
		base.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(ariSrv.Close)
	t.Cleanup(open)

	rd := redistest.Start(t)
	cfg := testConfig(t, ariSrv.URL, rd.Addr)
	cfg.ARI.RequestTimeout = config.Duration(30 * time.Second)
	cfg.Health.StallAfter = config.Duration(time.Second)
	reg := prometheus.NewRegistry()
	a, err := New(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	defer func() {
		open()
		cancel()
		<-runErr
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		_ = a.Stop(sctx)
	}()

	waitFor(t, 10*time.Second, "/healthz 503 while the event loop is stuck", func() bool {
		code, _ := healthz(t, a.HTTPAddr())
		return code == http.StatusServiceUnavailable
	})
	_, body := healthz(t, a.HTTPAddr())
	if !strings.Contains(body, "event loop has made no progress") {
		t.Errorf("/healthz body %q does not say why", body)
	}
	beat := testutil.ToFloat64(a.m.EventLoop.Heartbeat)
	dogs := ns.count("WATCHDOG=1")
	time.Sleep(1500 * time.Millisecond)
	if got := testutil.ToFloat64(a.m.EventLoop.Heartbeat); got != beat {
		t.Errorf("heartbeat advanced from %v to %v while the loop was stuck", beat, got)
	}
	if got := ns.count("WATCHDOG=1"); got != dogs {
		t.Errorf("%d WATCHDOG=1 sent while the loop was stuck", got-dogs)
	}
	if ns.count("READY=1") != 0 {
		t.Error("READY=1 sent before OnConnect returned")
	}

	open()
	waitFor(t, 10*time.Second, "/healthz 200 once the loop moves on", func() bool {
		code, _ := healthz(t, a.HTTPAddr())
		return code == http.StatusOK
	})
	waitFor(t, 10*time.Second, "READY=1", func() bool { return ns.count("READY=1") == 1 })
	waitFor(t, 10*time.Second, "WATCHDOG=1 again", func() bool { return ns.count("WATCHDOG=1") > dogs+2 })
	if got := testutil.ToFloat64(a.m.EventLoop.Heartbeat); got <= beat {
		t.Errorf("heartbeat %v did not advance past %v", got, beat)
	}
	cancel()
	<-runErr
	runErr <- nil
	a.Drain(context.Background())
	waitFor(t, 5*time.Second, "STOPPING=1 at drain", func() bool { return ns.count("STOPPING=1") >= 1 })
}
