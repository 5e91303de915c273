// Command bench is `make bench`: it drives the lab PBX with SIPp through
// three paths in one run and prints a comparison (see BENCHMARKS.md):
//
//   - gateway:  DIDs 8+12345/12333/12315/12348 → Stasis(hotline-bench) → the
//     real hotline-gw binary (own throw-away Redis, 400 bench agents logged in
//     with all four skills, tickets left in the Redis outbox);
//   - baseline: DID 19002 → Stasis(hotline-baseline) → cmd/hotline-baseline
//     (answer, then wait for the caller's BYE);
//   - queue:    DID 19001 → app_queue `bench` (leastrecent over the same 400
//     agents).
//
// All 400 agents (agent2001..agent2400) are one SIPp UAS on 127.0.0.1:5399.
// For each path the call rate is stepped (each step a bounded number of
// calls: rate × -step) until a step has a failed call or SIPp cannot keep the
// rate. Then N concurrent long calls are held for the memory per call.
//
//	go run ./bench [-rates 25,50,100,150,200] [-step 15s] [-talk 1s] [-plateau 1000]
//
// Everything is aimed at 127.0.0.1 only, bounded in calls and time. Run as
// root (reads Asterisk's /proc entries and runs its CLI in the lab chroot).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Safety bounds on the flags: the lab PBX is shared (maxcalls 5000).
const (
	maxRate     = 400
	maxStep     = time.Minute
	maxPlateau  = 4000 // + up to 400 agent legs stays under maxcalls 5000
	maxHold     = 2 * time.Minute
	benchCaller = "13900000000" // bench calls' caller number (leftover sweep)
)

type options struct {
	rates       []int
	step        time.Duration
	talk        time.Duration
	paths       []string
	plateaus    []int
	hold        time.Duration
	plateauRate int
	out         string
	labRoot     string
	bin         string
	repo        string
	keepGoing   bool
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	rates := flag.String("rates", "25,50,100,150,200", "call rates to step through (calls/s, total over the four DIDs)")
	flag.DurationVar(&o.step, "step", 15*time.Second, "each step places rate × step calls")
	flag.DurationVar(&o.talk, "talk", time.Second, "talk time: the caller hangs up this long after the 200 OK")
	paths := flag.String("paths", "gateway,baseline,queue", "paths to run, in order")
	plateaus := flag.String("plateau", "1000", "concurrent long calls held for memory per call (comma list; empty skips)")
	flag.DurationVar(&o.hold, "hold", 30*time.Second, "how long the plateau of concurrent calls is held")
	flag.IntVar(&o.plateauRate, "plateau-rate", 100, "call rate while building the plateau")
	flag.StringVar(&o.out, "out", "", "directory for logs and results.json (default: a new temp dir)")
	flag.StringVar(&o.labRoot, "lab-root", envOr("HOTLINE_LAB_ROOT", "/var/cache/hotline-lab/root"), "the lab Asterisk's chroot")
	flag.BoolVar(&o.keepGoing, "keep-going", false, "keep stepping a path after a failed step (to see CPU and latency at higher rates); the zero-failure rate is still the last rate before the first failure")
	flag.StringVar(&o.bin, "bin", "bin", "directory with hotline-gw and hotline-baseline (make build)")
	flag.Parse()

	_, file, _, _ := runtime.Caller(0)
	o.repo = filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
	if !filepath.IsAbs(o.bin) {
		o.bin = filepath.Join(o.repo, o.bin)
	}
	var err error
	if o.rates, err = intList(*rates, 1, maxRate); err != nil {
		return o, fmt.Errorf("-rates: %w", err)
	}
	if o.plateaus, err = intList(*plateaus, 4, maxPlateau); err != nil {
		return o, fmt.Errorf("-plateau: %w", err)
	}
	for _, p := range strings.Split(*paths, ",") {
		switch p = strings.TrimSpace(p); p {
		case "gateway", "baseline", "queue":
			o.paths = append(o.paths, p)
		case "":
		default:
			return o, fmt.Errorf("-paths: unknown path %q", p)
		}
	}
	switch {
	case o.step < time.Second || o.step > maxStep:
		return o, fmt.Errorf("-step must be between 1s and %s", maxStep)
	case o.talk < 0 || o.talk > time.Minute:
		return o, fmt.Errorf("-talk must be between 0 and 1m")
	case o.hold < 10*time.Second || o.hold > maxHold:
		return o, fmt.Errorf("-hold must be between 10s and %s", maxHold)
	case o.plateauRate < 10 || o.plateauRate > maxRate:
		return o, fmt.Errorf("-plateau-rate must be between 10 and %d", maxRate)
	}
	return o, nil
}

func intList(s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%q is not an integer between %d and %d", f, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// path is one way calls are handled.
type path struct {
	name    string
	dids    [4]string
	goProc  *child // the Go process of the path (nil for app_queue)
	metrics string // its /metrics URL
	// answered returns a monotonic counter of calls that reached an agent,
	// read from the agents' phone (the SIPp UAS's INVITEs), not from the
	// path's own counters (nil: the path has no agents).
	answered func() (int, error)
	active   func() float64 // calls the Go process holds now (nil: unknown)
}

type stepResult struct {
	Path         string  `json:"path"`
	Rate         int     `json:"rate"`
	Calls        int     `json:"calls"`
	OK           int     `json:"ok"`
	Failed       int     `json:"failed"`
	Agent        int     `json:"agent_answered"` // -1: path has no agents
	AchievedRate float64 `json:"achieved_rate"`
	SetupMS      float64 `json:"setup_ms"`
	AstMS        float64 `json:"asterisk_cpu_ms_per_call"`
	GoMS         float64 `json:"go_cpu_ms_per_call"`    // gateway or baseline
	RedisMS      float64 `json:"redis_cpu_ms_per_call"` // gateway's Redis
	P50MS        float64 `json:"p50_ms"`                // StasisStart → first command
	P99MS        float64 `json:"p99_ms"`
	Pass         bool    `json:"pass"`
	Why          string  `json:"why,omitempty"`
}

type plateauResult struct {
	Path          string  `json:"path"`
	N             int     `json:"n"`
	OK            int     `json:"ok"`
	Failed        int     `json:"failed"`
	ActiveSeen    float64 `json:"active_seen"` // gateway's hotline_active_calls at the plateau; -1: unknown
	Held          float64 `json:"held"`        // the calls the per-call figures are divided by (0: none)
	GoRSSIdleKB   int64   `json:"go_rss_idle_kb"`
	GoRSSPlatKB   int64   `json:"go_rss_plateau_kb"`
	GoBytesCall   float64 `json:"go_rss_bytes_per_call"`
	HeapBytesCall float64 `json:"go_heap_inuse_bytes_per_call"`
	AstBytesCall  float64 `json:"asterisk_rss_bytes_per_call"`
	GoHWMKB       int64   `json:"go_vmhwm_kb"`
}

type results struct {
	Started    time.Time       `json:"started"`
	Machine    string          `json:"machine"`
	Options    map[string]any  `json:"options"`
	AstIdleMS  float64         `json:"asterisk_idle_cpu_ms_per_s"`
	Steps      []stepResult    `json:"steps"`
	Plateaus   []plateauResult `json:"plateaus"`
	PeakRSSKB  map[string]int64
	OutDir     string `json:"out_dir"`
	astPID     int
	redisPID   int
	labRoot    string
	benchAgent *uas
}

func run(ctx context.Context, o options) error {
	if o.out == "" {
		d, err := os.MkdirTemp("", "hotline-bench-")
		if err != nil {
			return err
		}
		o.out = d
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	r := &results{Started: time.Now(), Machine: machine(), OutDir: o.out, PeakRSSKB: map[string]int64{}, labRoot: o.labRoot,
		Options: map[string]any{"rates": o.rates, "step": o.step.String(), "talk": o.talk.String(), "paths": o.paths,
			"plateau": o.plateaus, "hold": o.hold.String(), "plateau_rate": o.plateauRate}}
	logf("output directory %s", o.out)
	for _, b := range []string{"hotline-gw", "hotline-baseline"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			return fmt.Errorf("%s missing in %s: run `make build`", b, o.bin)
		}
	}
	var err error
	if r.astPID, err = asteriskPID(o.labRoot); err != nil {
		return err
	}
	if err := ariGet("/asterisk/info", nil); err != nil {
		return fmt.Errorf("lab ARI not answering (make lab-up): %w", err)
	}

	// Processes for the whole run; stopped in reverse order.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		sweepLeftovers()
	}()

	redisSrv, redisAddr, err := startRedis(ctx, mkdir(o.out, "redis"))
	if err != nil {
		return err
	}
	stops = append(stops, func() { redisSrv.stop(syscall.SIGTERM, 5*time.Second) })
	r.redisPID = redisSrv.pid()

	agents, err := startUAS(o.repo, o.out)
	if err != nil {
		return err
	}
	r.benchAgent = agents
	stops = append(stops, func() { agents.stop(syscall.SIGUSR1, 3*time.Second) })

	gw, gwHTTP, err := startGateway(ctx, o, redisAddr)
	if err != nil {
		return err
	}
	stops = append(stops, func() { gw.stop(syscall.SIGTERM, 15*time.Second) })

	baseHTTP := "127.0.0.1:" + strconv.Itoa(freePort("tcp"))
	base, err := startChild("hotline-baseline", filepath.Join(o.out, "baseline.log"), filepath.Join(o.bin, "hotline-baseline"),
		"-app", "hotline-baseline", "-http", baseHTTP)
	if err != nil {
		return err
	}
	stops = append(stops, func() { base.stop(syscall.SIGTERM, 5*time.Second) })
	if err := waitHTTP(ctx, "http://"+baseHTTP+"/readyz", 20*time.Second, base); err != nil {
		return err
	}

	gwMetrics := "http://" + gwHTTP + "/metrics"
	paths := map[string]*path{
		"gateway": {name: "gateway", dids: [4]string{"812345", "812333", "812315", "812348"}, goProc: gw, metrics: gwMetrics,
			answered: func() (int, error) { return agents.calls(), nil },
			active: func() float64 {
				s, _ := getMetrics(gwMetrics)
				return s.sum("hotline_active_calls")
			}},
		"baseline": {name: "baseline", dids: [4]string{"19002", "19002", "19002", "19002"}, goProc: base, metrics: "http://" + baseHTTP + "/metrics"},
		"queue": {name: "queue", dids: [4]string{"19001", "19001", "19001", "19001"},
			answered: func() (int, error) { return agents.calls(), nil }},
	}

	// Asterisk's background CPU (other sessions' tests share the lab PBX).
	a0, _ := cpuMillis(r.astPID)
	sleepCtx(ctx, 5*time.Second)
	a1, _ := cpuMillis(r.astPID)
	r.AstIdleMS = (a1 - a0) / 5
	logf("asterisk pid %d, background CPU %.1f ms/s", r.astPID, r.AstIdleMS)

	for _, name := range o.paths {
		p := paths[name]
		for _, rate := range o.rates {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sr := r.step(ctx, o, p, rate)
			r.Steps = append(r.Steps, sr)
			logf("%-8s %3d cps: %d calls, %d failed, agent %d, achieved %.1f cps, setup %.1f ms, CPU/call asterisk %.2f ms go %.2f ms redis %.2f ms, p50 %.3f p99 %.3f ms → %s %s",
				sr.Path, sr.Rate, sr.Calls, sr.Failed, sr.Agent, sr.AchievedRate, sr.SetupMS, sr.AstMS, sr.GoMS, sr.RedisMS, sr.P50MS, sr.P99MS, passWord(sr.Pass), sr.Why)
			if !sr.Pass && !o.keepGoing {
				break
			}
		}
	}
	for _, n := range o.plateaus {
		for _, name := range []string{"gateway", "baseline"} {
			if !contains(o.paths, name) || ctx.Err() != nil {
				continue
			}
			pr := r.plateau(ctx, o, paths[name], n)
			r.Plateaus = append(r.Plateaus, pr)
			logf("%-8s plateau %d calls (%d ok, %d failed, active %.0f): go RSS %d → %d KiB = %.0f B/call (heap in use %.0f B/call), asterisk %.0f B/call",
				pr.Path, pr.N, pr.OK, pr.Failed, pr.ActiveSeen, pr.GoRSSIdleKB, pr.GoRSSPlatKB, pr.GoBytesCall, pr.HeapBytesCall, pr.AstBytesCall)
		}
	}
	r.PeakRSSKB["gateway"] = statusKB(gw.pid(), "VmHWM")
	r.PeakRSSKB["baseline"] = statusKB(base.pid(), "VmHWM")
	r.PeakRSSKB["asterisk (lifetime)"] = statusKB(r.astPID, "VmHWM")
	r.PeakRSSKB["redis"] = statusKB(r.redisPID, "VmHWM")

	report(os.Stdout, r, o)
	b, _ := json.MarshalIndent(r, "", "  ")
	_ = os.WriteFile(filepath.Join(o.out, "results.json"), b, 0o644)
	logf("results: %s", filepath.Join(o.out, "results.json"))
	return r.verdict()
}

// verdict is an error when no step passed: a run that measured nothing
// usable must not look like a result.
func (r *results) verdict() error {
	if len(r.Steps) == 0 {
		return nil
	}
	for _, s := range r.Steps {
		if s.Pass {
			return nil
		}
	}
	return fmt.Errorf("every one of the %d steps failed (first: %s %d cps: %s)", len(r.Steps), r.Steps[0].Path, r.Steps[0].Rate, r.Steps[0].Why)
}

// step places rate × step calls through p and measures them.
func (r *results) step(ctx context.Context, o options, p *path, rate int) stepResult {
	sr := stepResult{Path: p.name, Rate: rate, Agent: -1}
	r.settle(ctx, p)
	dir := mkdir(o.out, fmt.Sprintf("%s-%d", p.name, rate))
	calls := rate * int(o.step/time.Second)

	var before scrape
	if p.metrics != "" {
		before, _ = getMetrics(p.metrics)
	}
	ans0 := 0
	if p.answered != nil {
		ans0, _ = p.answered()
	}
	ast0, _ := cpuMillis(r.astPID)
	go0 := procCPU(p.goProc)
	red0, _ := cpuMillis(r.redisPID)

	res := runLoad(ctx, o.repo, load{DIDs: p.dids, Rate: rate, Calls: calls, Talk: o.talk,
		Limit: rate * int((o.talk+10*time.Second)/time.Second), Caller: benchCaller, Dir: dir})

	// Let the tail finish: agent legs hang up, counts reach Redis.
	ans1 := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		sleepCtx(ctx, time.Second)
		if p.answered == nil {
			break
		}
		ans1, _ = p.answered()
		if ans1-ans0 >= res.OK || time.Now().After(deadline) {
			break
		}
	}
	ast1, _ := cpuMillis(r.astPID)
	go1 := procCPU(p.goProc)
	red1, _ := cpuMillis(r.redisPID)

	sr.Calls, sr.OK, sr.Failed = res.Calls, res.OK, res.Failed
	sr.AchievedRate, sr.SetupMS = res.AchievedRate, res.SetupMS
	n := float64(max(res.Calls, 1))
	sr.AstMS = (ast1 - ast0) / n
	if p.goProc != nil {
		sr.GoMS = (go1 - go0) / n
	}
	if p.name == "gateway" {
		sr.RedisMS = (red1 - red0) / n
	}
	if p.answered != nil {
		sr.Agent = ans1 - ans0
	}
	if p.metrics != "" {
		after, _ := getMetrics(p.metrics)
		bs := histDelta(before, after, "hotline_stasis_start_to_command_seconds")
		sr.P50MS = finite(quantile(0.50, bs) * 1000)
		sr.P99MS = finite(quantile(0.99, bs) * 1000)
	} else {
		sr.P50MS, sr.P99MS = -1, -1 // no Go process: no histogram
	}
	var why []string
	if res.Failed > 0 {
		why = append(why, fmt.Sprintf("%d failed calls", res.Failed))
	}
	if p.answered != nil && sr.Agent < res.Calls {
		why = append(why, fmt.Sprintf("only %d of %d calls reached an agent", sr.Agent, res.Calls))
	}
	if res.AchievedRate < 0.9*float64(rate) {
		why = append(why, fmt.Sprintf("SIPp kept only %.1f of %d cps", res.AchievedRate, rate))
	}
	for i, c := range res.ExitCodes {
		if c != 0 && res.Failed == 0 {
			why = append(why, fmt.Sprintf("sipp #%d exit code %d (see %s)", i, c, dir))
		}
	}
	sr.Pass = len(why) == 0
	sr.Why = strings.Join(why, "; ")
	return sr
}

// plateau holds n concurrent calls through p for o.hold and measures the
// Go process's memory per call.
func (r *results) plateau(ctx context.Context, o options, p *path, n int) plateauResult {
	pr := plateauResult{Path: p.name, N: n}
	r.settle(ctx, p)
	sleepCtx(ctx, 3*time.Second)
	dir := mkdir(o.out, fmt.Sprintf("plateau-%s-%d", p.name, n))
	pid := p.goProc.pid()
	pr.GoRSSIdleKB = statusKB(pid, "VmRSS")
	astIdle := statusKB(r.astPID, "VmRSS")
	s0, _ := getMetrics(p.metrics)
	heapIdle := s0.sum("go_memstats_heap_inuse_bytes")

	ramp := time.Duration(float64(n)/float64(o.plateauRate)*float64(time.Second)) + time.Second
	done := make(chan loadResult, 1)
	go func() {
		done <- runLoad(ctx, o.repo, load{DIDs: p.dids, Rate: o.plateauRate, Calls: n, Talk: ramp + o.hold,
			Limit: n + 40, Caller: benchCaller, Dir: dir})
	}()
	sleepCtx(ctx, ramp+3*time.Second)
	var rss, ast, heap, active []float64
	end := time.Now().Add(o.hold - 8*time.Second)
	for time.Now().Before(end) && ctx.Err() == nil {
		rss = append(rss, float64(statusKB(pid, "VmRSS")))
		ast = append(ast, float64(statusKB(r.astPID, "VmRSS")))
		s, _ := getMetrics(p.metrics)
		heap = append(heap, s.sum("go_memstats_heap_inuse_bytes"))
		if p.active != nil {
			active = append(active, p.active())
		}
		sleepCtx(ctx, time.Second)
	}
	res := <-done
	pr.OK, pr.Failed = res.OK, res.Failed
	pr.GoRSSPlatKB = int64(median(rss))
	pr.ActiveSeen = -1
	if p.active != nil {
		pr.ActiveSeen = finite(median(active))
	}
	// Per call means per call actually held: the gateway's own count of
	// active calls over the plateau, else the calls that lasted it.
	pr.Held = plateauDivisor(pr.ActiveSeen, res.OK)
	if pr.Held > 0 {
		pr.GoBytesCall = finite((median(rss) - float64(pr.GoRSSIdleKB)) * 1024 / pr.Held)
		pr.HeapBytesCall = finite((median(heap) - heapIdle) / pr.Held)
		pr.AstBytesCall = finite((median(ast) - float64(astIdle)) * 1024 / pr.Held)
	}
	pr.GoHWMKB = statusKB(pid, "VmHWM")
	return pr
}

// settle waits (bounded) until the previous step's calls are gone.
func (r *results) settle(ctx context.Context, p *path) {
	sleepCtx(ctx, 2*time.Second)
	if p.active == nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.active() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		sleepCtx(ctx, 500*time.Millisecond)
	}
}

func procCPU(c *child) float64 {
	if c == nil {
		return 0
	}
	v, _ := cpuMillis(c.pid())
	return v
}

// startGateway runs bin/hotline-gw with a bench configuration and logs in
// the 400 bench agents.
func startGateway(ctx context.Context, o options, redisAddr string) (*child, string, error) {
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort("tcp"))
	grpcAddr := "127.0.0.1:" + strconv.Itoa(freePort("tcp"))
	cfgPath := filepath.Join(o.out, "gateway-bench.yaml")
	if err := os.WriteFile(cfgPath, []byte(gatewayConfig(httpAddr, grpcAddr, redisAddr)), 0o600); err != nil {
		return nil, "", err
	}
	gw, err := startChild("hotline-gw", filepath.Join(o.out, "gateway.log"), filepath.Join(o.bin, "hotline-gw"), "-config", cfgPath)
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP(ctx, "http://"+httpAddr+"/readyz", 30*time.Second, gw); err != nil {
		gw.stop(syscall.SIGTERM, 5*time.Second)
		return nil, "", fmt.Errorf("%w (log %s)", err, filepath.Join(o.out, "gateway.log"))
	}
	if err := loginAgents(ctx, grpcAddr); err != nil {
		gw.stop(syscall.SIGTERM, 5*time.Second)
		return nil, "", err
	}
	logf("gateway up (http %s, grpc %s), %d bench agents ready", httpAddr, grpcAddr, benchAgents)
	return gw, httpAddr, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func mkdir(parts ...string) string {
	d := filepath.Join(parts...)
	_ = os.MkdirAll(d, 0o755)
	return d
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// finite maps NaN (nothing measured) to -1, which JSON can hold.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return -1
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func passWord(ok bool) string {
	if ok {
		return "PASS"
	}
	return "STOP"
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// machine describes the host for the report.
func machine() string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s RAM, %s", runtime.NumCPU(), model, mem, kernel())
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return "Linux " + strings.TrimSpace(string(b))
}

// ariGet GETs an ARI resource of the lab (user hotline).
func ariGet(p string, out any) error {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8088/ari"+p, nil)
	req.SetBasicAuth("hotline", "hotline-lab")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", p, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// sweepLeftovers hangs up channels the bench left in Asterisk (callers with
// the bench caller number, bench agents' legs) — only after an interrupted
// run; never touches other channels.
func sweepLeftovers() {
	time.Sleep(2 * time.Second)
	var chs []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Caller struct {
			Number string `json:"number"`
		} `json:"caller"`
	}
	if err := ariGet("/channels", &chs); err != nil {
		return
	}
	n := 0
	for _, c := range chs {
		if c.Caller.Number != benchCaller && !strings.HasPrefix(c.Name, "PJSIP/agent2") {
			continue
		}
		req, _ := http.NewRequest(http.MethodDelete, "http://127.0.0.1:8088/ari/channels/"+c.ID, nil)
		req.SetBasicAuth("hotline", "hotline-lab")
		if resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req); err == nil {
			resp.Body.Close()
			n++
		}
	}
	if n > 0 {
		logf("hung up %d channels the bench left behind", n)
	}
}

// plateauDivisor is the number of calls a plateau really held: the Go
// process's median of active calls when it reports one, else the calls that
// lasted the plateau (SIPp's successful calls).
func plateauDivisor(activeSeen float64, ok int) float64 {
	if activeSeen > 0 {
		return activeSeen
	}
	if activeSeen < 0 && ok > 0 {
		return float64(ok)
	}
	return 0
}
