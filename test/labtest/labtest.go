// Package labtest drives the lab PBX from end-to-end tests: it builds and runs
// the real gateway binary, places SIP calls with SIPp, restarts Asterisk,
// reads the gateway's metrics and asks ARI what is left. The lab must be up
// (lab/up.sh, which `make test` runs); a missing lab fails the test, it never
// skips.
package labtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Lab defaults, as configured in lab/asterisk.
const (
	ARIURL  = "http://127.0.0.1:8088/ari"
	ARIUser = "hotline"
	ARIPass = "hotline-lab"
	SIPAddr = "127.0.0.1:5060"
)

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// RequireLab fails the test unless the lab PBX's ARI answers.
func RequireLab(t testing.TB) {
	t.Helper()
	var body map[string]any
	if err := ARIGet("/asterisk/info", &body); err != nil {
		t.Fatalf("lab PBX not reachable (run lab/up.sh, or `make test`): %v", err)
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp is required (apt-get install sip-tester): %v", err)
	}
}

// ARIGet GETs an ARI path and decodes the JSON answer into out.
func ARIGet(path string, out any) error {
	req, _ := http.NewRequest(http.MethodGet, ARIURL+path, nil)
	req.SetBasicAuth(ARIUser, ARIPass)
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// Channels returns the names of the channels Asterisk holds.
func Channels(t testing.TB) []string {
	t.Helper()
	var chs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := ARIGet("/channels", &chs); err != nil {
		t.Fatalf("list channels: %v", err)
	}
	var names []string
	for _, c := range chs {
		names = append(names, c.Name)
	}
	return names
}

// Bridges returns the IDs of the bridges Asterisk holds.
func Bridges(t testing.TB) []string {
	t.Helper()
	var bs []struct {
		ID string `json:"id"`
	}
	if err := ARIGet("/bridges", &bs); err != nil {
		t.Fatalf("list bridges: %v", err)
	}
	var ids []string
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	return ids
}

// WaitNoChannels waits until Asterisk holds no channel, or fails.
func WaitNoChannels(t testing.TB, within time.Duration) {
	t.Helper()
	Eventually(t, within, func() error {
		if chs := Channels(t); len(chs) > 0 {
			return fmt.Errorf("channels left in Asterisk: %v", chs)
		}
		return nil
	})
}

// PBX runs lab/pbx.sh with args (e.g. "restart").
func PBX(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(RepoRoot(), "lab", "pbx.sh"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lab/pbx.sh %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// Eventually polls fn until it returns nil or the time is up; then fails
// with fn's last error. It waits for a state, it does not measure speed.
func Eventually(t testing.TB, within time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/NAME once per test process and returns its path.
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hotline-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = dir
		for _, n := range []string{"hotline-gw", "hotlinectl", "ticket-sink"} {
			if _, err := os.Stat(filepath.Join(RepoRoot(), "cmd", n)); err != nil {
				continue
			}
			cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, n), "./cmd/"+n)
			cmd.Dir = RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build ./cmd/%s: %v\n%s", n, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	p := filepath.Join(binPath, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %s not built: %v", name, err)
	}
	return p
}

// FreeAddr returns a free loopback host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Gateway is a running hotline-gw process.
type Gateway struct {
	t          testing.TB
	HTTP, GRPC string
	ConfigPath string
	cmd        *exec.Cmd
	log        *syncBuffer
	exited     chan struct{}
}

// GatewayOptions change the lab configuration of a gateway.
type GatewayOptions struct {
	RedisAddrs []string
	// Extra is YAML appended to the generated configuration.
	Extra string
	// HTTP and GRPC default to free ports.
	HTTP, GRPC string
	// App is the Stasis application (default hotline-gw; the lab's second
	// instance is hotline-gw-b, reached by dialling "9" + DID).
	App string
	// Record turns on recording of answered calls on the main line 12345.
	Record bool
}

// StartGateway writes a lab configuration and starts hotline-gw; it waits
// until /readyz answers ready.
func StartGateway(t testing.TB, o GatewayOptions) *Gateway {
	t.Helper()
	g := NewGateway(t, o)
	g.Start()
	g.WaitReady(30 * time.Second)
	return g
}

// NewGateway prepares a gateway without starting it.
func NewGateway(t testing.TB, o GatewayOptions) *Gateway {
	t.Helper()
	if o.HTTP == "" {
		o.HTTP = FreeAddr(t)
	}
	if o.GRPC == "" {
		o.GRPC = FreeAddr(t)
	}
	g := &Gateway{t: t, HTTP: o.HTTP, GRPC: o.GRPC}
	cfg := GatewayConfig(o)
	g.ConfigPath = filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(g.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.Log())
		}
	})
	return g
}

// GatewayConfig returns the lab configuration for o.
func GatewayConfig(o GatewayOptions) string {
	redis := "[" + strings.Join(o.RedisAddrs, ", ") + "]"
	if o.App == "" {
		o.App = "hotline-gw"
	}
	return fmt.Sprintf(`log: {level: debug}
instance: %s
listen: {http: %q, grpc: %q}
ari: {url: %q, username: %q, password: %q, application: %s}
redis: {addrs: %s, key_prefix: hl}
numbering: {strip_prefixes: ["+86", "0086", "86", "0739"]}
lines:
  - {number: "12345", name: "12345政务服务便民热线", skill: general, record: %t}
  - {number: "12333", name: "人社", skill: renshe, merged_into: "12345"}
  - {number: "12315", name: "市场监管", skill: shichang, merged_into: "12345"}
  - {number: "12348", name: "法律服务", skill: falv, merged_into: "12345"}
shutdown: {drain_timeout: 5s}
%s`, o.App, o.HTTP, o.GRPC, ARIURL, ARIUser, ARIPass, o.App, redis, o.Record, o.Extra)
}

// Start starts the process.
func (g *Gateway) Start() {
	g.t.Helper()
	if g.log == nil {
		g.log = &syncBuffer{}
	}
	cmd := exec.Command(Binary(g.t, "hotline-gw"), "-config", g.ConfigPath)
	cmd.Stdout, cmd.Stderr = g.log, g.log
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start hotline-gw: %v", err)
	}
	g.cmd = cmd
	g.exited = make(chan struct{})
	go func(c *exec.Cmd, ch chan struct{}) { _ = c.Wait(); close(ch) }(cmd, g.exited)
}

// syncBuffer collects a process's output; safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Log returns what the gateway printed so far.
func (g *Gateway) Log() string {
	if g.log == nil {
		return ""
	}
	return g.log.String()
}

// Stop signals the process and waits for it to exit (SIGKILL after 15 s).
func (g *Gateway) Stop(sig syscall.Signal) {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Signal(sig)
	select {
	case <-g.exited:
	case <-time.After(15 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	g.cmd = nil
}

// Ready reports whether /readyz answers 200.
func (g *Gateway) Ready() bool {
	resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + g.HTTP + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady waits until /readyz is ready.
func (g *Gateway) WaitReady(within time.Duration) {
	g.t.Helper()
	Eventually(g.t, within, func() error {
		if !g.Ready() {
			return fmt.Errorf("gateway on %s not ready", g.HTTP)
		}
		return nil
	})
}

// Metrics scrapes /metrics.
func (g *Gateway) Metrics() (map[string]*dto.MetricFamily, error) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + g.HTTP + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// Metric returns the value of the counter or gauge name with exactly these
// labels (0 when absent).
func (g *Gateway) Metric(name string, labels map[string]string) float64 {
	g.t.Helper()
	fams, err := g.Metrics()
	if err != nil {
		g.t.Fatalf("scrape metrics: %v", err)
	}
	return Value(fams, name, labels)
}

// Value finds a sample in scraped families.
func Value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Calls describes a batch of SIPp calls.
type Calls struct {
	DID       string
	Count     int
	Duration  time.Duration // talk time before the caller hangs up
	Caller    string
	Rate      int // calls per second (default 10)
	Scenario  string
	LocalPort int // default: a free port
	Extra     []string
}

// Result is what SIPp reported.
type Result struct {
	ExitCode   int
	Successful int
	Failed     int
	Output     string
}

// PlaceCalls runs SIPp until the batch is done.
func PlaceCalls(t testing.TB, c Calls) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return runSIPp(ctx, t, c)
}

// StartCalls runs SIPp in the background; wait for the result on the channel.
func StartCalls(t testing.TB, c Calls) <-chan Result {
	t.Helper()
	ch := make(chan Result, 1)
	go func() { ch <- runSIPp(context.Background(), t, c) }()
	return ch
}

func runSIPp(ctx context.Context, t testing.TB, c Calls) Result {
	if c.Scenario == "" {
		c.Scenario = "uac_call.xml"
	}
	if c.Count == 0 {
		c.Count = 1
	}
	if c.Rate == 0 {
		c.Rate = 10
	}
	if c.Caller == "" {
		c.Caller = "13800138000"
	}
	port := c.LocalPort
	if port == 0 {
		port = freeUDPPort(t)
	}
	dir := t.TempDir()
	args := []string{
		"-sf", filepath.Join(RepoRoot(), "lab", "sipp", c.Scenario),
		"-s", c.DID,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-m", strconv.Itoa(c.Count), "-r", strconv.Itoa(c.Rate),
		"-d", strconv.Itoa(int(c.Duration / time.Millisecond)),
		"-timeout", "120s", "-timeout_error", "-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
	}
	if c.Scenario == "uac_call.xml" {
		args = append(args, "-set", "caller", c.Caller)
	}
	args = append(args, c.Extra...)
	args = append(args, SIPAddr)
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	res := Result{ExitCode: cmd.ProcessState.ExitCode(), Output: string(out)}
	res.Successful, res.Failed = parseStat(filepath.Join(dir, "stat.csv"))
	return res
}

// parseStat reads SuccessfulCall(C) and FailedCall(C) from SIPp's last stat line.
func parseStat(path string) (ok, failed int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, -1
	}
	return lastStat(string(b), "SuccessfulCall(C)"), lastStat(string(b), "FailedCall(C)")
}

// lastStat returns column col of the last line of a SIPp stat file.
func lastStat(csv, col string) int {
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) < 2 {
		return -1
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if h == col && i < len(last) {
			n, _ := strconv.Atoi(last[i])
			return n
		}
	}
	return -1
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
