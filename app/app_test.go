package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// fakeARI answers what the gateway asks of Asterisk when no call is live:
// the events websocket, /asterisk/info, the application and empty lists.
func fakeARI(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ari/events", websocket.Server{Handler: func(ws *websocket.Conn) {
		var b []byte
		for websocket.Message.Receive(ws, &b) == nil {
		}
	}})
	mux.HandleFunc("GET /ari/asterisk/info", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"system":{"version":"22.2.0","entity_id":"52:54:00:12:34:56"},`+
			`"status":{"startup_time":"2025-03-14T08:00:00.000+0800","last_reload_time":"2025-03-14T08:00:00.000+0800"}}`)
	})
	mux.HandleFunc("GET /ari/applications/{app}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"name":%q,"channel_ids":[],"bridge_ids":[],"endpoint_ids":[],"device_names":[]}`, r.PathValue("app"))
	})
	mux.HandleFunc("PUT /ari/applications/{app}/eventFilter", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"name":%q}`, r.PathValue("app"))
	})
	mux.HandleFunc("GET /ari/channels", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "[]") })
	mux.HandleFunc("GET /ari/bridges", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "[]") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func testConfig(t *testing.T, ariURL, redisAddr string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
listen: {http: "127.0.0.1:0", grpc: "127.0.0.1:0"}
ari: {url: %q, username: hotline, password: secret}
redis: {addrs: [%q], key_prefix: apptest}
instance: apptest
lines:
  - {number: "12345", name: main, skill: general}
  - {number: "12333", name: renshe, skill: renshe, merged_into: "12345"}
shutdown: {drain_timeout: 2s}
`, ariURL+"/ari", redisAddr)
	cfg, err := config.Parse(strings.NewReader(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Spool.Dir = t.TempDir() // never the production /var/lib/hotline-gw/spool
	return cfg
}

// goroutines returns the stacks of the live goroutines by ID.
func goroutines() map[string]string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	out := map[string]string{}
	for _, g := range strings.Split(buf.String(), "\n\n") {
		head, _, _ := strings.Cut(g, " [")
		if strings.HasPrefix(head, "goroutine ") {
			out[head] = g
		}
	}
	return out
}

// leaked waits until no goroutine beyond those in before is left and
// returns the stacks of those that stayed.
func leaked(before map[string]string, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var extra []string
		for id, stack := range goroutines() {
			if _, ok := before[id]; !ok && !strings.Contains(stack, "app.leaked") {
				extra = append(extra, stack)
			}
		}
		if len(extra) == 0 || time.Now().After(deadline) {
			return extra
		}
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAppStartsServesAndStopsWithoutLeakingGoroutines(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	cfg := testConfig(t, ariSrv.URL, rd.Addr)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	before := goroutines()

	a, err := New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()

	waitFor(t, 10*time.Second, "ready (ARI connected, intake open)", a.Ready)
	resp, err := http.Get("http://" + a.HTTPAddr() + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d, want 200", resp.StatusCode)
	}
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	hc := healthpb.NewHealthClient(conn)
	waitFor(t, 5*time.Second, "gRPC health SERVING", func() bool {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})

	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if left := a.Drain(context.Background()); left != 0 {
		t.Fatalf("Drain left %d calls, want 0", left)
	}
	r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while draining = %v, %v; want NOT_SERVING", r.GetStatus(), err)
	}
	conn.Close()
	http.DefaultClient.CloseIdleConnections()

	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if err := a.Stop(sctx); err != nil {
		t.Fatalf("Stop: %v\n%s", err, logs.String())
	}
	if err := a.Stop(sctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if extra := leaked(before, 5*time.Second); len(extra) > 0 {
		t.Fatalf("%d goroutines left after Stop:\n%s", len(extra), strings.Join(extra, "\n\n"))
	}
	// Every cleanup ran, last-in-first-out: intake before call owners before
	// the background loops before the servers before Redis.
	order := []string{"intake", "call owners", "background loops", "servers", "redis client"}
	last := -1
	for _, name := range order {
		i := strings.Index(logs.String(), "cleanup="+quoteIfNeeded(name))
		if i < 0 {
			t.Fatalf("cleanup %q not logged:\n%s", name, logs.String())
		}
		if i < last {
			t.Fatalf("cleanup %q ran out of order:\n%s", name, logs.String())
		}
		last = i
	}
}

func TestAppStopWithoutRunClosesListeners(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	cfg := testConfig(t, ariSrv.URL, rd.Addr)
	before := goroutines()
	a, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	addr := a.HTTPAddr()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		c.Body.Close()
		t.Fatalf("HTTP listener %s still answers after Stop", addr)
	}
	if extra := leaked(before, 5*time.Second); len(extra) > 0 {
		t.Fatalf("%d goroutines left after Stop:\n%s", len(extra), strings.Join(extra, "\n\n"))
	}
}

func TestAppNewReportsAPortInUse(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	cfg := testConfig(t, ariSrv.URL, rd.Addr)
	cfg.Listen.GRPC = strings.TrimPrefix(ariSrv.URL, "http://") // taken by the fake ARI
	_, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "listen.grpc") {
		t.Fatalf("New = %v, want a listen.grpc error", err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " =\"") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
