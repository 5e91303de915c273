package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// lockedBuf is a log sink the test reads while the app writes.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// reloadYAML is a gateway configuration with the given agents' seats (each
// extension's token is "agent-token-<ext>-aaaa"), log level, main line's
// name and redis timeout, plus extra YAML.
func reloadYAML(ariURL, redisAddr, spool, level, mainName, redisTimeout string, exts []string, extra string) string {
	var seats []string
	for _, e := range exts {
		seats = append(seats, fmt.Sprintf("{extension: %q, token: agent-token-%s-aaaa}", e, e))
	}
	return fmt.Sprintf(`
log: {level: %s}
listen: {http: "127.0.0.1:0", grpc: "127.0.0.1:0"}
ari: {url: %q, username: hotline, password: secret}
redis: {addrs: [%q], key_prefix: reloadtest, timeout: %s}
spool: {dir: %q}
instance: reloadtest
lines:
  - {number: "12345", name: %q, skill: general}
  - {number: "12333", name: renshe, skill: renshe, merged_into: "12345"}
acd: {agents: [%s]}
auth: {supervisors: [{name: sup, token: supervisor-token-bbbb}]}
shutdown: {drain_timeout: 1s}
%s`, level, ariURL+"/ari", redisAddr, redisTimeout, spool, mainName, strings.Join(seats, ", "), extra)
}

// SIGHUP's work, in-process: a new seat's token works after Reload without
// a restart, as do a new log level and line name; a restart-only change is
// logged as not applied; a broken file (unknown key, a bad token, YAML that
// does not parse, a missing file) is refused with one log line and the
// refused counter, and the tokens in force keep working.
func TestReloadAppliesLiveSettingsAndRefusesBrokenFiles(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	dir := t.TempDir()
	path, spool := filepath.Join(dir, "gateway.yaml"), filepath.Join(dir, "spool")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadYAML(ariSrv.URL, rd.Addr, spool, "info", "main", "2s", []string{"1001"}, ""))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuf{}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, NewLogger(cfg.Log, logs), reg)
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
		_ = a.Stop(sctx)
	})
	waitFor(t, 10*time.Second, "ready", a.Ready)
	started := testutil.ToFloat64(a.m.Config.LastSuccess)
	if started == 0 {
		t.Fatal("hotline_config_last_reload_success_timestamp_seconds not set at start")
	}

	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	agents := hotlinev1.NewAgentServiceClient(conn)
	login := func(ext string) error {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c = metadata.AppendToOutgoingContext(c, "authorization", "Bearer agent-token-"+ext+"-aaaa")
		_, err := agents.Login(c, &hotlinev1.LoginRequest{Extension: ext, Skills: []string{"general"}})
		return err
	}
	if err := login("1001"); err != nil {
		t.Fatalf("1001 before any reload: %v", err)
	}
	if err := login("1002"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("1002 before its seat is configured: %v, want Unauthenticated", err)
	}
	if a.log.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug enabled at log.level info")
	}

	// A good file: seat 1002, debug logs, the main line renamed, and a
	// restart-only change (redis.timeout).
	write(reloadYAML(ariSrv.URL, rd.Addr, spool, "debug", "12345政务服务便民热线", "3s", []string{"1001", "1002"}, ""))
	if err := a.Reload(path); err != nil {
		t.Fatalf("Reload of a good file: %v", err)
	}
	if err := login("1002"); err != nil {
		t.Fatalf("1002 after the reload added its seat: %v", err)
	}
	if err := login("1001"); status.Code(err) != codes.AlreadyExists { // admitted: logged in before
		t.Fatalf("1001 after the reload: %v, want AlreadyExists (token still valid)", err)
	}
	if !a.log.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("log.level debug not applied")
	}
	if l := a.plan.Main(); l.Name != "12345政务服务便民热线" {
		t.Errorf("main line's name after reload = %q", l.Name)
	}
	if got := testutil.ToFloat64(a.m.Config.Reloads.WithLabelValues(metrics.ReloadOK)); got != 1 {
		t.Errorf("reloads{ok} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(a.m.Config.LastSuccess); got < started {
		t.Errorf("last success timestamp went back: %v < %v", got, started)
	}
	out := logs.String()
	if !strings.Contains(out, "NOT applied") || !strings.Contains(out, "not_applied=redis.timeout ") {
		t.Errorf("the restart-only change redis.timeout is not logged as not applied:\n%s", out)
	}

	// Broken files: each refused with one line naming the problem; the
	// tokens in force stay.
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", reloadYAML(ariSrv.URL, rd.Addr, spool, "info", "main", "2s", []string{"1001"}, "no_such_key: 1\n"), "no_such_key"},
		{"short token", strings.Replace(reloadYAML(ariSrv.URL, rd.Addr, spool, "info", "main", "2s", []string{"1001"}, ""),
			"supervisor-token-bbbb", "short", 1), "auth.supervisors[0].token"},
		{"bad YAML", "lines: [\n", "yaml"},
		{"bad level", reloadYAML(ariSrv.URL, rd.Addr, spool, "loud", "main", "2s", []string{"1001"}, ""), "log.level"},
	} {
		refusals := func() []string {
			return slices.DeleteFunc(strings.Split(logs.String(), "\n"), func(l string) bool {
				return !strings.Contains(l, "configuration reload refused")
			})
		}
		before := len(refusals())
		write(tc.yaml)
		err := a.Reload(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Reload = %v, want a refusal naming %q", tc.name, err, tc.want)
		}
		lines := refusals()
		if len(lines) != before+1 || !strings.Contains(lines[len(lines)-1], tc.want) {
			t.Errorf("%s: want one more refusal log line naming %q, have %q", tc.name, tc.want, lines)
		}
	}
	if err := a.Reload(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	if got := testutil.ToFloat64(a.m.Config.Reloads.WithLabelValues(metrics.ReloadRefused)); got != 5 {
		t.Errorf("reloads{refused} = %v, want 5", got)
	}
	if err := login("1002"); status.Code(err) != codes.AlreadyExists { // admitted: logged in before
		t.Errorf("1002 after refused reloads (the old configuration stays): %v, want AlreadyExists", err)
	}
	if !a.log.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("a refused reload changed the log level")
	}
	if !a.Ready() {
		t.Error("not ready after reloads")
	}
}

// RestartOnly names the changed settings a reload cannot apply, by YAML
// path, and none of the live ones.
func TestRestartOnlyNamesChangedSettings(t *testing.T) {
	base := config.Default()
	base.Lines = []config.Line{{Number: "12345", Name: "main", Skill: "general"}}
	next := base
	next.Lines = []config.Line{{Number: "12345", Name: "renamed", Skill: "general", Record: true}}
	next.Log.Level = "debug"
	next.ACD.Agents = []config.Agent{{Extension: "1009", Token: "agent-token-1009-aaaa"}}
	next.Auth.RateLimit.PerSecond = 5
	next.Shutdown.DrainTimeout = config.Duration(time.Minute)
	if got := RestartOnly(&base, &next); len(got) != 0 {
		t.Errorf("live changes reported as restart-only: %v", got)
	}
	next.Redis.Addrs = []string{"10.0.0.1:6379"}
	next.ACD.RingTimeout = config.Duration(20 * time.Second)
	next.Listen.GRPC = "0.0.0.0:50051"
	next.Auth.Reflection = true
	next.Log.Format = "json"
	want := []string{"log.format", "listen.grpc", "redis.addrs", "acd.ring_timeout", "auth.reflection"}
	if got := RestartOnly(&base, &next); !slices.Equal(got, want) {
		t.Errorf("RestartOnly = %v, want %v", got, want)
	}
	next = base
	next.Lines = append(slices.Clone(base.Lines), config.Line{Number: "12333", Name: "x", Skill: "renshe", MergedInto: "12345"})
	if got := RestartOnly(&base, &next); !slices.Equal(got, []string{"lines"}) {
		t.Errorf("a line added: %v, want [lines]", got)
	}
}

// A rotated token file takes effect on reload: the new token is admitted,
// the old one refused, without a restart.
func TestReloadRereadsTokenFiles(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	dir := t.TempDir()
	path, tokFile := filepath.Join(dir, "gateway.yaml"), filepath.Join(dir, "supervisor.token")
	if err := os.WriteFile(tokFile, []byte("supervisor-token-old-1111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(reloadYAML(ariSrv.URL, rd.Addr, filepath.Join(dir, "spool"), "info", "main", "2s", []string{"1001"}, ""),
		"{name: sup, token: supervisor-token-bbbb}", fmt.Sprintf("{name: sup, token_file: %q}", tokFile), 1)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
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
		_ = a.Stop(sctx)
	})
	waitFor(t, 10*time.Second, "ready", a.Ready)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stats := func(tok string) codes.Code {
		c, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok), 5*time.Second)
		defer cancel()
		_, err := hotlinev1.NewStatsServiceClient(conn).GetStats(c, &hotlinev1.GetStatsRequest{})
		return status.Code(err)
	}
	admitted := codes.InvalidArgument // an empty range: past the guard
	if got := stats("supervisor-token-old-1111"); got != admitted {
		t.Fatalf("old token before rotation: %v", got)
	}
	if err := os.WriteFile(tokFile, []byte("supervisor-token-new-2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := stats("supervisor-token-new-2222"); got != codes.Unauthenticated {
		t.Fatalf("new token before the reload: %v, want Unauthenticated", got)
	}
	if err := a.Reload(path); err != nil {
		t.Fatal(err)
	}
	if got := stats("supervisor-token-new-2222"); got != admitted {
		t.Errorf("new token after the reload: %v, want admitted", got)
	}
	if got := stats("supervisor-token-old-1111"); got != codes.Unauthenticated {
		t.Errorf("old token after the reload: %v, want Unauthenticated", got)
	}
	if err := os.Remove(tokFile); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(path); err == nil || !strings.Contains(err.Error(), "auth.supervisors[0].token_file") {
		t.Errorf("reload with the token file gone: %v, want a refusal naming auth.supervisors[0].token_file", err)
	}
	if got := stats("supervisor-token-new-2222"); got != admitted {
		t.Errorf("after the refused reload the token in force must stay: %v", got)
	}
}

// Certificates renewed at the same paths are served after a reload to new
// connections.
func TestReloadRereadsCertificates(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	dir := t.TempDir()
	certFile, keyFile, first := selfSigned(t, dir)
	path := filepath.Join(dir, "gateway.yaml")
	yaml := strings.Replace(reloadYAML(ariSrv.URL, rd.Addr, filepath.Join(dir, "spool"), "info", "main", "2s", []string{"1001"}, ""),
		`grpc: "127.0.0.1:0"}`, fmt.Sprintf(`grpc: "127.0.0.1:0", grpc_tls: {cert_file: %q, key_file: %q}}`, certFile, keyFile), 1)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
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
		_ = a.Stop(sctx)
	})
	waitFor(t, 10*time.Second, "ready", a.Ready)
	served := func() []byte {
		t.Helper()
		c, err := tls.Dial("tcp", a.GRPCAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // reads the served certificate
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	if !bytes.Equal(served(), first.Raw) {
		t.Fatal("not serving the first certificate")
	}
	renewed := t.TempDir()
	c2, k2, second := selfSigned(t, renewed)
	for _, f := range [][2]string{{c2, certFile}, {k2, keyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if bytes.Equal(first.Raw, second.Raw) {
		t.Fatal("the two certificates are the same")
	}
	if err := a.Reload(path); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served(), second.Raw) {
		t.Error("after the reload the renewed certificate is not served")
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(path); err == nil || !strings.Contains(err.Error(), "listen.grpc_tls") {
		t.Errorf("reload with a broken key: %v, want a refusal naming listen.grpc_tls", err)
	}
	if !bytes.Equal(served(), second.Raw) {
		t.Error("a refused reload changed the certificate served")
	}
}
