package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// The wall page and the live figures over the gateway's HTTPS listener:
// the page is public, the figures need a wall or supervisor token (no
// token 401, an agent's 403, the wall's 200), errors are JSON with a
// stable code, and the login sets an HttpOnly cookie the event stream
// accepts.
func TestWallAndLiveFiguresOverHTTPSWithRoles(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	certFile, keyFile, cert := selfSigned(t, t.TempDir())
	yaml := fmt.Sprintf(`
listen: {http: "127.0.0.1:0", grpc: "127.0.0.1:0", http_tls: {cert_file: %q, key_file: %q}}
ari: {url: %q, username: hotline, password: secret}
redis: {addrs: [%q], key_prefix: walltest}
instance: walltest
lines:
  - {number: "12345", name: main, skill: general}
  - {number: "12333", name: 人社, skill: renshe, merged_into: "12345"}
acd: {agents: [{extension: "1001", token: agent-token-1001-aaaa}]}
auth:
  supervisors: [{name: sup, token: supervisor-token-bbbb}]
  wall: [{name: hall, token: wall-screen-token-cccc}]
live: {refresh_interval: 200ms}
shutdown: {drain_timeout: 1s}
`, certFile, keyFile, ariSrv.URL+"/ari", rd.Addr)
	cfg, err := config.Parse(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spool.Dir = t.TempDir()
	a, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-runErr
		sctx, c := context.WithTimeout(context.Background(), 20*time.Second)
		defer c()
		if err := a.Stop(sctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "ready", a.Ready)

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Timeout: 10 * time.Second, Jar: jar,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	base := "https://" + a.HTTPAddr()
	get := func(path, tok string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	type jsonErr struct{ Code, Message string }

	for _, tc := range []struct {
		who, tok string
		status   int
		code     string
	}{
		{"no token", "", 401, "missing_token"},
		{"unknown token", "not-a-configured-token-0", 401, "unknown_token"},
		{"agent", "agent-token-1001-aaaa", 403, "wrong_role"},
		{"wall", "wall-screen-token-cccc", 200, ""},
		{"supervisor", "supervisor-token-bbbb", 200, ""},
	} {
		resp, body := get("/live/snapshot", tc.tok)
		if resp.StatusCode != tc.status {
			t.Errorf("/live/snapshot as %s = %d %s; want %d", tc.who, resp.StatusCode, body, tc.status)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("/live/snapshot as %s: Content-Type %q", tc.who, ct)
		}
		if tc.code != "" {
			var e jsonErr
			if err := json.Unmarshal(body, &e); err != nil || e.Code != tc.code || e.Message == "" {
				t.Errorf("/live/snapshot as %s: error body %s; want code %q and a message", tc.who, body, tc.code)
			}
			if strings.Contains(string(body), tc.tok) && tc.tok != "" {
				t.Errorf("/live/snapshot as %s: the error echoes the token", tc.who)
			}
			continue
		}
		var snap struct {
			Day   string
			Ready bool
			Total struct{ Inbound, Waiting int }
			Lines []struct{ Line, Name string }
			Hours []struct{ Hour int }
		}
		if err := json.Unmarshal(body, &snap); err != nil || len(snap.Lines) != 2 || snap.Lines[1].Line != "12333" ||
			snap.Lines[1].Name != "人社" || len(snap.Hours) != 24 || !snap.Ready || snap.Day == "" {
			t.Errorf("/live/snapshot as %s: %s (%v)", tc.who, body, err)
		}
	}
	if resp, _ := get("/live/stream", "agent-token-1001-aaaa"); resp.StatusCode != 403 {
		t.Errorf("/live/stream as an agent = %d, want 403", resp.StatusCode)
	}

	// The page: public, everything from the gateway itself.
	resp, body := get("/wall", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "排队人数") || !strings.Contains(string(body), "/wall/wall.js") {
		t.Fatalf("/wall = %d %.200s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("/wall CSP = %q", csp)
	}
	for _, f := range []string{"/wall/wall.js", "/wall/wall.css"} {
		if resp, body := get(f, ""); resp.StatusCode != 200 || len(body) < 500 {
			t.Errorf("%s = %d (%d bytes)", f, resp.StatusCode, len(body))
		}
	}
	if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
		t.Errorf("/wall refers to another origin")
	}

	// Login: a wrong role is refused with JSON; the wall's token gets the cookie.
	post := func(tok string) *http.Response {
		t.Helper()
		resp, err := client.PostForm(base+"/wall/login", url.Values{"token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("agent-token-1001-aaaa"); resp.StatusCode != 403 || len(resp.Cookies()) != 0 {
		t.Errorf("login with an agent token = %d cookies %v; want 403, none", resp.StatusCode, resp.Cookies())
	}
	resp = post("wall-screen-token-cccc")
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("login with the wall token = %d cookies %v", resp.StatusCode, resp.Cookies())
	}
	if c := resp.Cookies()[0]; !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v: want HttpOnly, Secure (TLS), SameSite=Strict", c)
	}
	// The stream with the cookie alone (what the page's EventSource sends).
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, base+"/live/stream", nil)
	sresp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	if sresp.StatusCode != 200 || !strings.HasPrefix(sresp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("/live/stream with the cookie = %d %q", sresp.StatusCode, sresp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(sresp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && event == "snapshot" {
			if !strings.Contains(v, `"answerTargetSeconds":15`) {
				t.Errorf("first snapshot event: %.300s", v)
			}
			return
		}
	}
	t.Fatalf("no snapshot event on /live/stream: %v", sc.Err())
}
