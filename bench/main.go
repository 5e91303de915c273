// Command bench is `make bench`: it drives the lab PBX with SIPp through
// three paths and prints a comparison (see BENCHMARKS.md). Every path is a
// routed call: citizen (SIPp UAC) → PBX → an agent (one SIPp UAS for all 400
// bench agents) answers, they talk -talk, the caller hangs up.
//
//   - gateway: DIDs 8+12345/12333/12315/12348 → Stasis(hotline-bench) → the
//     real hotline-gw binary (own throw-away Redis, 400 bench agents logged in
//     with all four skills, tickets left in the Redis outbox);
//   - lean:    DID 19002 → Stasis(hotline-baseline) → cmd/hotline-baseline
//     -mode bridge, the lean bridging ARI app on the same library path
//     (answer, originate the agent leg, one mixing bridge);
//   - queue:   DID 19001 → app_queue `bench` (leastrecent over the same 400
//     agents).
//
// For each rate the three paths run in turn, -rounds times (interleaved), and
// the report gives medians and spread (min–max) per path and rate. Before
// each step the bench checks that Asterisk holds no bench channel of the
// previous one (hangs them up and waits, else the step is void), and measures
// each process's background CPU idle for -idle, subtracted from the step.
//
//	go run ./bench [-rates 25,50,100,150,200] [-rounds 3] [-step 15s] [-talk 1s] [-plateau 1000]
//
// Everything is aimed at 127.0.0.1 only, bounded in calls and time. Run as
// root (reads Asterisk's /proc entries and runs its CLI in the lab chroot).
package main

import (
	"context"
	"encoding/json"
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
			Limit: n + 40, Seq: r.nextSeq(), Dir: dir})
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
	var chs []channel
	if err := ariGet("/channels", &chs); err != nil {
		return
	}
	n := 0
	for _, c := range chs {
		if benchChannel(c) && (ariPBX{}).hangup(c.ID) == nil {
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
