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
	if len(args) > 0 && (args[0] == "start" || args[0] == "restart") {
		if err := asteriskHoldsNoLock(); err != nil {
			t.Fatalf("lab/pbx.sh %v: %v", args, err)
		}
	}
	return string(out)
}

// LabLock is the lock every session that uses the lab holds (flock).
const LabLock = "/tmp/hotline-lab.lock"

// asteriskHoldsNoLock fails when an Asterisk process keeps a descriptor of
// the lab lock: started from a session under flock, it would hold the lab
// for everyone after the session ended.
func asteriskHoldsNoLock() error {
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, comm := range procs {
		b, err := os.ReadFile(comm)
		if err != nil || strings.TrimSpace(string(b)) != "asterisk" {
			continue
		}
		dir := filepath.Dir(comm)
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			if target, _ := os.Readlink(filepath.Join(dir, "fd", fd.Name())); target == LabLock {
				return fmt.Errorf("asterisk (%s) holds the lab lock %s on descriptor %s: it would keep the lab locked after this session", filepath.Base(dir), LabLock, fd.Name())
			}
		}
	}
	return nil
}

// PBXFails runs lab/pbx.sh with args and fails the test unless it exits
// non-zero with want in its output (e.g. a kill with nothing to kill).
func PBXFails(t testing.TB, want string, args ...string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(RepoRoot(), "lab", "pbx.sh"), args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("lab/pbx.sh %v: exit %v, want a failure saying %q:\n%s", args, err, want, out)
	}
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

// Gateway is a hotline-gw process, built with -race and run with
// GORACE=halt_on_error=1. At the end of the test it is stopped with
// SIGTERM and must exit 0 within its drain; a race report or a panic in
// its output, or an exit the test did not ask for, fails the test.
type Gateway struct {
	t          testing.TB
	HTTP, GRPC string
	ConfigPath string
	cmd        *exec.Cmd
	log        *syncBuffer
	exited     chan struct{}
	state      *os.ProcessState
	starts     int
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
	// GRPCTLS is the YAML flow mapping of listen.grpc_tls (e.g.
	// "{cert_file: ..., key_file: ...}"); empty: plaintext on loopback.
	GRPCTLS string
	// HTTPTLS is the YAML flow mapping of listen.http_tls; empty: plaintext
	// on loopback (Ready and Metrics speak plain http only).
	HTTPTLS string
	// SpoolDir is the gateway's spool.dir (its local journals): NewGateway
	// gives each gateway its own test directory, kept across restarts.
	SpoolDir string
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
	if o.SpoolDir == "" {
		o.SpoolDir = filepath.Join(t.TempDir(), "spool")
	}
	g := &Gateway{t: t, HTTP: o.HTTP, GRPC: o.GRPC}
	cfg := GatewayConfig(o)
	g.ConfigPath = filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(g.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.cmd != nil {
			if _, err := g.Terminate(30 * time.Second); err != nil {
				t.Errorf("gateway %s at the end of the test: %v", g.HTTP, err)
			}
		}
		if err := g.CheckLog(); err != nil {
			t.Errorf("gateway %s: %v", g.HTTP, err)
		}
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
	if o.SpoolDir == "" {
		o.SpoolDir = filepath.Join(os.TempDir(), "hotline-gw-lab-spool")
	}
	listen := fmt.Sprintf("{http: %q, grpc: %q}", o.HTTP, o.GRPC)
	if o.GRPCTLS != "" {
		listen = fmt.Sprintf("{http: %q, grpc: %q, grpc_tls: %s}", o.HTTP, o.GRPC, o.GRPCTLS)
	}
	if o.HTTPTLS != "" {
		listen = strings.TrimSuffix(listen, "}") + ", http_tls: " + o.HTTPTLS + "}"
	}
	return fmt.Sprintf(`log: {level: debug}
instance: %s
listen: %s
ari: {url: %q, username: %q, password: %q, application: %s}
redis: {addrs: %s, key_prefix: hl}
spool: {dir: %q}
numbering: {strip_prefixes: ["+86", "0086", "86", "0739"]}
lines:
  - {number: "12345", name: "12345政务服务便民热线", skill: general, record: %t}
  - {number: "12333", name: "人社", skill: renshe, merged_into: "12345"}
  - {number: "12315", name: "市场监管", skill: shichang, merged_into: "12345"}
  - {number: "12348", name: "法律服务", skill: falv, merged_into: "12345"}
shutdown: {drain_timeout: 5s}
auth:
  supervisors: [{name: lab-supervisor, token: %q}]
  police110: [{name: lab-110, token: %q}]
  ticket_system: [{name: lab-tickets, token: %q}]
  wall: [{name: lab-wall, token: %q}]
  inspectors: [{name: lab-qc, token: %q}]
  rate_limit: {per_second: 1000, burst: 2000}
  reflection: true
%s`, o.App, listen, ARIURL, ARIUser, ARIPass, o.App, redis, o.SpoolDir, o.Record, SupervisorToken, PoliceToken, TicketSystemToken, WallToken, InspectorToken, o.Extra)
}

// Start starts the process (again, after Kill or Terminate).
func (g *Gateway) Start() {
	g.t.Helper()
	if g.cmd != nil {
		g.t.Fatalf("gateway %s started twice", g.HTTP)
	}
	if g.log == nil {
		g.log = &syncBuffer{}
	}
	g.starts++
	fmt.Fprintf(g.log, "=== labtest: start %d of hotline-gw ===\n", g.starts)
	cmd := exec.Command(Binary(g.t, "hotline-gw"), "-config", g.ConfigPath)
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	cmd.Stdout, cmd.Stderr = g.log, g.log
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start hotline-gw: %v", err)
	}
	g.cmd = cmd
	g.state = nil
	g.exited = make(chan struct{})
	go func(c *exec.Cmd, ch chan struct{}) { _ = c.Wait(); close(ch) }(cmd, g.exited)
}

// Running reports whether the process was started and has not been stopped.
func (g *Gateway) Running() bool { return g.cmd != nil }

// PID returns the process ID of the running process (0 when stopped).
func (g *Gateway) PID() int {
	if g.cmd == nil || g.cmd.Process == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// exitedByItself fails the test if the process ended without being asked
// (a race report with halt_on_error, a panic, a fatal error).
func (g *Gateway) exitedByItself() error {
	select {
	case <-g.exited:
		return fmt.Errorf("hotline-gw exited by itself (%v) before the test stopped it", g.cmd.ProcessState)
	default:
		return nil
	}
}

// Kill SIGKILLs the process, as a crash would, and waits for it to go.
func (g *Gateway) Kill() {
	g.t.Helper()
	if g.cmd == nil {
		g.t.Fatalf("gateway %s: kill: not running", g.HTTP)
	}
	if err := g.exitedByItself(); err != nil {
		g.t.Fatalf("gateway %s: %v", g.HTTP, err)
	}
	_ = g.cmd.Process.Kill()
	<-g.exited
	g.state = g.cmd.ProcessState
	g.cmd = nil
}

// Terminate sends SIGTERM and waits up to within for the process to exit;
// it returns how long the exit took, and an error unless the exit code was
// 0 in time (after within the process is SIGKILLed, and that is an error).
func (g *Gateway) Terminate(within time.Duration) (time.Duration, error) {
	if g.cmd == nil {
		return 0, fmt.Errorf("terminate: gateway not running")
	}
	defer func() { g.cmd = nil }()
	if err := g.exitedByItself(); err != nil {
		g.state = g.cmd.ProcessState
		return 0, err
	}
	start := time.Now()
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(within):
		_ = g.cmd.Process.Kill()
		<-g.exited
		g.state = g.cmd.ProcessState
		return time.Since(start), fmt.Errorf("hotline-gw did not exit within %s of SIGTERM; SIGKILLed", within)
	}
	took := time.Since(start)
	g.state = g.cmd.ProcessState
	if code := g.state.ExitCode(); code != 0 {
		return took, fmt.Errorf("hotline-gw exited with %v after SIGTERM, want exit code 0", g.state)
	}
	return took, nil
}

// Stop ends the process with sig: SIGKILL is Kill; any other signal is a
// graceful stop that must exit 0 within 30 s (the test fails otherwise).
func (g *Gateway) Stop(sig syscall.Signal) {
	g.t.Helper()
	if sig == syscall.SIGKILL {
		g.Kill()
		return
	}
	if g.cmd == nil {
		return
	}
	if sig != syscall.SIGTERM {
		_ = g.cmd.Process.Signal(sig)
	}
	if _, err := g.Terminate(30 * time.Second); err != nil {
		g.t.Errorf("gateway %s: %v", g.HTTP, err)
	}
}

// CheckLog returns an error naming the first race report, panic or fatal
// runtime error in everything the process printed (all its starts).
func (g *Gateway) CheckLog() error {
	return CheckProcessLog(g.Log())
}

// CheckProcessLog finds a race report, a panic or a fatal runtime error in
// a Go program's output.
func CheckProcessLog(out string) error {
	for _, marker := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: ", "goroutine deadlock"} {
		if i := strings.Index(out, marker); i >= 0 {
			end := i + 600
			if end > len(out) {
				end = len(out)
			}
			return fmt.Errorf("%q in the process output:\n%s", strings.TrimSpace(marker), out[i:end])
		}
	}
	return nil
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

// WaitLog waits until the gateway's log holds text: what a process logs
// just after it became ready (an adopted call resumed) may come a moment
// after /readyz.
func (g *Gateway) WaitLog(within time.Duration, text string) {
	g.t.Helper()
	Eventually(g.t, within, func() error {
		if !strings.Contains(g.Log(), text) {
			return fmt.Errorf("gateway log has no %q", text)
		}
		return nil
	})
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
	Rate      int    // calls per second (default 10)
	Scenario  string // in lab/sipp, or an absolute path
	LocalPort int    // default: a free port
	Extra     []string
	// Ends says who is to end each call of uac_call.xml: by default the
	// caller after Duration; a call the far end (the gateway, Asterisk)
	// hangs up first is then not successful.
	Ends Ender
	// Target is the SIP address called (default the lab PBX, SIPAddr).
	Target string
}

// Ender is who ends a call as the test expects it.
type Ender int

// Who ends the calls of a batch.
const (
	EndsByCaller Ender = iota // the caller's BYE after Duration
	EndsByFarEnd              // a BYE from the far end (overflow message, survey)
	EndsByEither
)

// Result is what SIPp reported.
type Result struct {
	ExitCode int
	// Successful counts the calls that were answered and ended as the
	// batch's Ends expects (for uac_call.xml); SIPp's own count of
	// successful calls, whoever hung up, is SIPpSuccessful.
	Successful     int
	Failed         int
	SIPpSuccessful int
	// HungUpByFarEnd counts the calls the far end hung up (a BYE received),
	// HungUpByCaller those the caller hung up (a BYE sent); -1 when SIPp
	// wrote no message counts.
	HungUpByFarEnd, HungUpByCaller int
	// AvgCallLength is SIPp's mean length of the successful calls.
	AvgCallLength time.Duration
	Output        string
}

// String keeps the output out of failure messages' first line.
func (r Result) String() string {
	out := r.Output
	if len(out) > 2000 {
		out = "..." + out[len(out)-2000:]
	}
	return fmt.Sprintf("{exit %d, successful %d (SIPp: %d), failed %d, hung up by caller %d, by far end %d, avg length %s}\n%s",
		r.ExitCode, r.Successful, r.SIPpSuccessful, r.Failed, r.HungUpByCaller, r.HungUpByFarEnd, r.AvgCallLength, out)
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
	scenario := c.Scenario
	if !filepath.IsAbs(scenario) {
		scenario = filepath.Join(RepoRoot(), "lab", "sipp", scenario)
	}
	args := []string{
		"-sf", scenario,
		"-s", c.DID,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-m", strconv.Itoa(c.Count), "-r", strconv.Itoa(c.Rate),
		"-d", strconv.Itoa(int(c.Duration / time.Millisecond)),
		"-timeout", "120s", "-timeout_error", "-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
		"-trace_counts",
	}
	if c.Scenario == "uac_call.xml" {
		args = append(args, "-set", "caller", c.Caller)
	}
	args = append(args, c.Extra...)
	if c.Target == "" {
		c.Target = SIPAddr
	}
	args = append(args, c.Target)
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	res := Result{ExitCode: cmd.ProcessState.ExitCode(), Output: string(out)}
	res.SIPpSuccessful, res.Failed, res.AvgCallLength = parseStat(filepath.Join(dir, "stat.csv"))
	res.HungUpByFarEnd, res.HungUpByCaller = parseCounts(dir)
	res.Successful = res.SIPpSuccessful
	if c.Scenario == "uac_call.xml" && res.HungUpByFarEnd >= 0 {
		switch c.Ends {
		case EndsByCaller:
			res.Successful -= res.HungUpByFarEnd
		case EndsByFarEnd:
			res.Successful -= res.HungUpByCaller
		}
		if res.Successful < 0 {
			res.Successful = 0
		}
	}
	return res
}

// parseCounts sums SIPp's message counts (-trace_counts) of BYE received
// and BYE sent over the scenario's messages.
func parseCounts(dir string) (byeRecv, byeSent int) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_counts.csv"))
	if len(files) != 1 {
		return -1, -1
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return -1, -1
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return -1, -1
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if i >= len(last) {
			break
		}
		n, _ := strconv.Atoi(last[i])
		switch {
		case strings.HasSuffix(h, "_BYE_Recv"):
			byeRecv += n
		case strings.HasSuffix(h, "_BYE_Sent"):
			byeSent += n
		}
	}
	return byeRecv, byeSent
}

// parseStat reads SuccessfulCall(C), FailedCall(C) and CallLength(C) from
// SIPp's last stat line.
func parseStat(path string) (ok, failed int, avgLen time.Duration) {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, -1, 0
	}
	return lastStat(string(b), "SuccessfulCall(C)"), lastStat(string(b), "FailedCall(C)"), sippDuration(lastField(string(b), "CallLength(C)"))
}

// sippDuration parses SIPp's HH:MM:SS:micro-seconds.
func sippDuration(s string) time.Duration {
	p := strings.Split(s, ":")
	if len(p) != 4 {
		return 0
	}
	var n [4]int
	for i := range p {
		n[i], _ = strconv.Atoi(p[i])
	}
	return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second + time.Duration(n[3])*time.Microsecond
}

// lastField returns column col of the last line of a SIPp stat file.
func lastField(csv, col string) string {
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) < 2 {
		return ""
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if h == col && i < len(last) {
			return last[i]
		}
	}
	return ""
}

// lastStat returns column col of the last line of a SIPp stat file as a number.
func lastStat(csv, col string) int {
	v := lastField(csv, col)
	if v == "" {
		return -1
	}
	n, _ := strconv.Atoi(v)
	return n
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
