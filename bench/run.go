package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Safety bounds on the flags: the lab PBX is shared (maxcalls 12000,
// RTP ports for 11,000 channels).
const (
	maxRate    = 400
	maxStep    = time.Minute
	maxPlateau = 5000 // + up to 400 agent legs stays under maxcalls 12000
	maxHold    = 2 * time.Minute
	maxRounds  = 10
	// The lean path bridges every held call to its own agent leg: a plateau
	// of n calls is 2n channels.
	maxLeanPlateau = 5000
)

type options struct {
	rates       []int
	rounds      int
	step        time.Duration
	talk        time.Duration
	idle        time.Duration
	voidWait    time.Duration
	paths       []string
	plateaus    []int
	hold        time.Duration
	plateauRate int
	out         string
	resultsFile string
	labRoot     string
	bin         string
	repo        string
	keepGoing   bool
	cpuProfile  bool
	overload    int
}

func parseFlags() (options, error) {
	var o options
	rates := flag.String("rates", "25,50,100,150,200", "call rates to step through (calls/s, total over the four DIDs)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds per rate: each round runs every path once, in turn (interleaved)")
	flag.DurationVar(&o.step, "step", 15*time.Second, "each step places rate × step calls")
	flag.DurationVar(&o.talk, "talk", time.Second, "talk time: the caller hangs up this long after the 200 OK")
	flag.DurationVar(&o.idle, "idle", 3*time.Second, "background CPU of each process is measured idle this long before each step and subtracted")
	flag.DurationVar(&o.voidWait, "void-wait", 20*time.Second, "how long to wait for leftover bench channels to go after hanging them up before a step is void")
	paths := flag.String("paths", "gateway,lean,queue", "paths to run in each round, in order (baseline = lean)")
	plateaus := flag.String("plateau", "1000", "concurrent long calls held for memory per call (comma list; empty skips)")
	flag.DurationVar(&o.hold, "hold", 30*time.Second, "how long the plateau of concurrent calls is held")
	flag.IntVar(&o.plateauRate, "plateau-rate", 100, "call rate while building the plateau")
	flag.StringVar(&o.out, "out", "", "directory for logs and results.json (default: a new temp dir)")
	flag.StringVar(&o.resultsFile, "results", "", "Markdown report file (default bench/results/<UTC date-time>.md; \"-\": stdout only)")
	flag.StringVar(&o.labRoot, "lab-root", envOr("HOTLINE_LAB_ROOT", "/var/cache/hotline-lab/root"), "the lab Asterisk's chroot")
	flag.BoolVar(&o.keepGoing, "keep-going", false, "keep stepping a path after a failed rate (to see CPU and latency at higher rates); the zero-failure rate is still the last rate before the first failure")
	flag.BoolVar(&o.cpuProfile, "cpuprofile", false, "take a CPU profile of the gateway during each of its steps (<out>/<rate>-gateway-r<round>/cpu.pprof; go tool pprof -top bin/hotline-gw FILE)")
	flag.IntVar(&o.overload, "overload", 0, "after the rates, run every path at this rate (cps), -rounds times, whatever its zero-failure rate: answered calls must stay answered, refusals are counted by SIP code, and no channel may be left once the step drained (0: no overload step)")
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
	if len(o.rates) == 0 {
		return o, fmt.Errorf("-rates: no rate given")
	}
	if o.plateaus, err = intList(*plateaus, 4, maxPlateau); err != nil {
		return o, fmt.Errorf("-plateau: %w", err)
	}
	if o.paths, err = pathList(*paths); err != nil {
		return o, fmt.Errorf("-paths: %w", err)
	}
	switch {
	case o.rounds < 1 || o.rounds > maxRounds:
		return o, fmt.Errorf("-rounds must be between 1 and %d", maxRounds)
	case o.step < time.Second || o.step > maxStep:
		return o, fmt.Errorf("-step must be between 1s and %s", maxStep)
	case o.talk < 0 || o.talk > time.Minute:
		return o, fmt.Errorf("-talk must be between 0 and 1m")
	case o.idle < time.Second || o.idle > 30*time.Second:
		return o, fmt.Errorf("-idle must be between 1s and 30s")
	case o.voidWait < time.Second || o.voidWait > 2*time.Minute:
		return o, fmt.Errorf("-void-wait must be between 1s and 2m")
	case o.hold < 10*time.Second || o.hold > maxHold:
		return o, fmt.Errorf("-hold must be between 10s and %s", maxHold)
	case o.overload < 0 || o.overload > maxRate:
		return o, fmt.Errorf("-overload must be between 0 and %d", maxRate)
	case o.plateauRate < 10 || o.plateauRate > maxRate:
		return o, fmt.Errorf("-plateau-rate must be between 10 and %d", maxRate)
	}
	if o.resultsFile == "" {
		o.resultsFile = filepath.Join(o.repo, "bench", "results", time.Now().UTC().Format("2006-01-02T150405Z")+".md")
	}
	return o, nil
}

// pathList parses -paths: gateway, lean (alias baseline), queue; each once.
func pathList(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		switch p = strings.TrimSpace(p); p {
		case "baseline":
			p = "lean"
			fallthrough
		case "gateway", "lean", "queue":
			if contains(out, p) {
				return nil, fmt.Errorf("path %q given twice", p)
			}
			out = append(out, p)
		case "":
		default:
			return nil, fmt.Errorf("unknown path %q (want gateway, lean, queue)", p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no path given")
	}
	return out, nil
}

// path is one way calls are handled.
type path struct {
	name    string
	dids    [4]string
	goProc  *child // the Go process of the path (nil for app_queue)
	metrics string // its /metrics URL ("" for app_queue)
	pprof   string // its /debug/pprof/ base URL ("" when it has none)
	// answered returns a monotonic counter of calls that reached an agent,
	// read from the agents' phone (the SIPp UAS's INVITEs).
	answered func() (int, error)
	active   func() float64 // calls the Go process holds now (nil: unknown)
}

// stepResult is one path at one rate in one round. Every duration is in ms;
// -1 means not measured (no such process or histogram, or nothing observed).
type stepResult struct {
	Path         string  `json:"path"`
	Rate         int     `json:"rate"`
	Round        int     `json:"round"`
	Calls        int     `json:"calls"`
	OK           int     `json:"ok"`
	Failed       int     `json:"failed"`
	Agent        int     `json:"agent_reached"` // INVITEs the agents' phone got
	AchievedRate float64 `json:"achieved_rate"`
	// Caller's view, from the callers' and agents' SIPp timestamps.
	SetupMeanMS float64 `json:"setup_mean_ms"` // SIPp stat file, INVITE → 200 mean
	SetupP50MS  float64 `json:"setup_p50_ms"`
	SetupP99MS  float64 `json:"setup_p99_ms"`
	AgentP50MS  float64 `json:"to_agent_invite_p50_ms"` // caller's INVITE → agent's INVITE
	AgentP99MS  float64 `json:"to_agent_invite_p99_ms"`
	// The Go process's own histograms (gateway, lean).
	CmdP99MS   float64 `json:"start_to_command_p99_ms"`
	OrigP50MS  float64 `json:"start_to_agent_originate_p50_ms"`
	OrigP99MS  float64 `json:"start_to_agent_originate_p99_ms"`
	ARIPerCall float64 `json:"ari_requests_per_call"`
	AstMS      float64 `json:"asterisk_cpu_ms_per_call"`
	GoMS       float64 `json:"go_cpu_ms_per_call"`
	RedisMS    float64 `json:"redis_cpu_ms_per_call"`
	BgAstMSs   float64 `json:"asterisk_background_ms_per_s"`
	BgGoMSs    float64 `json:"go_background_ms_per_s"`
	BgRedisMSs float64 `json:"redis_background_ms_per_s"`
	// ARI requests/s the Go process makes idle (the gateway's admit flag),
	// subtracted from ARIPerCall as background CPU is from CPU per call.
	BgARIs float64     `json:"ari_background_per_s"`
	Clean  cleanResult `json:"leftover_check"`
	// Outcomes of the callers: refused by SIP code, answered then dropped.
	Outcomes callerOutcomes `json:"outcomes"`
	// After: overload steps only, the bench channels still up once the
	// step drained (hung up by the bench).
	After *cleanResult `json:"leftover_after,omitempty"`
	Void  bool         `json:"void"`
	Pass  bool         `json:"pass"`
	Why   string       `json:"why,omitempty"`
}

// totalMS is the CPU per call of everything on the path: Asterisk + Go +
// Redis (app_queue: Asterisk + Redis's share, which is the background).
func (s stepResult) totalMS() float64 {
	gp := s.GoMS
	if s.Path == "queue" {
		gp = 0
	}
	return sumCPU(s.AstMS, gp, s.RedisMS)
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
	Steps      []stepResult    `json:"steps"`
	Plateaus   []plateauResult `json:"plateaus"`
	Overload   []stepResult    `json:"overload"`
	PeakRSSKB  map[string]int64
	OutDir     string `json:"out_dir"`
	astPID     int
	redisPID   int
	labRoot    string
	benchAgent *uas
	seq        int
}

// nextSeq numbers the loads of a run (part of every caller number).
func (r *results) nextSeq() int { r.seq++; return r.seq % 1000 }

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
		Options: map[string]any{"rates": o.rates, "rounds": o.rounds, "step": o.step.String(), "talk": o.talk.String(), "idle": o.idle.String(),
			"paths": o.paths, "plateau": o.plateaus, "hold": o.hold.String(), "plateau_rate": o.plateauRate, "overload": o.overload}}
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

	leanHTTP := "127.0.0.1:" + strconv.Itoa(freePort("tcp"))
	lean, err := startChild("hotline-baseline", filepath.Join(o.out, "lean.log"), filepath.Join(o.bin, "hotline-baseline"),
		"-app", "hotline-baseline", "-http", leanHTTP, "-mode", "bridge",
		"-agents", fmt.Sprintf("%d-%d", firstAgent, firstAgent+benchAgents-1))
	if err != nil {
		return err
	}
	stops = append(stops, func() { lean.stop(syscall.SIGTERM, 5*time.Second) })
	if err := waitHTTP(ctx, "http://"+leanHTTP+"/readyz", 20*time.Second, lean); err != nil {
		return err
	}

	gwMetrics := "http://" + gwHTTP + "/metrics"
	agentCalls := func() (int, error) { return agents.calls(), nil }
	paths := map[string]*path{
		"gateway": {name: "gateway", dids: [4]string{"812345", "812333", "812315", "812348"}, goProc: gw, metrics: gwMetrics,
			pprof:    "http://" + gwHTTP + "/debug/pprof/",
			answered: agentCalls,
			active: func() float64 {
				s, _ := getMetrics(gwMetrics)
				return s.sum("hotline_active_calls")
			}},
		"lean": {name: "lean", dids: [4]string{"19002", "19002", "19002", "19002"}, goProc: lean, metrics: "http://" + leanHTTP + "/metrics",
			answered: agentCalls},
		"queue": {name: "queue", dids: [4]string{"19001", "19001", "19001", "19001"}, answered: agentCalls},
	}

	// Rates stepped up; at each rate every path in turn, -rounds times.
	active := append([]string(nil), o.paths...)
	for _, rate := range o.rates {
		for round := 1; round <= o.rounds; round++ {
			for _, name := range active {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				sr := r.step(ctx, o, paths[name], rate, round)
				r.Steps = append(r.Steps, sr)
				logf("%-7s %3d cps round %d: %d calls, %d failed, agent %d, achieved %.1f cps, INVITE→200 p50/p99 %.1f/%.1f ms, →agent INVITE p99 %.1f ms, CPU/call asterisk %.2f go %.2f redis %.2f ms → %s %s",
					sr.Path, sr.Rate, sr.Round, sr.Calls, sr.Failed, sr.Agent, sr.AchievedRate, sr.SetupP50MS, sr.SetupP99MS, sr.AgentP99MS,
					sr.AstMS, sr.GoMS, sr.RedisMS, stepWord(sr), sr.Why)
			}
		}
		var next []string
		for _, name := range active {
			if g := group(r.Steps, name, rate); g.outcome() == "stop" && !o.keepGoing {
				logf("%s stops at %d cps: %s", name, rate, g.why())
				continue
			}
			next = append(next, name)
		}
		if active = next; len(active) == 0 {
			break
		}
	}
	if o.overload > 0 {
		for round := 1; round <= o.rounds && ctx.Err() == nil; round++ {
			for _, name := range o.paths {
				if ctx.Err() != nil {
					break
				}
				sr := r.overloadStep(ctx, o, paths[name], round)
				r.Overload = append(r.Overload, sr)
				logf("%-7s %3d cps overload round %d: %d calls, answered %d (dropped %d), refused %v, other failures %d, agent %d, INVITE→200 p99 %.1f ms, left after %d → %s %s",
					sr.Path, sr.Rate, sr.Round, sr.Calls, sr.OK, sr.Outcomes.Dropped, sr.Outcomes.Refused, otherFailures(sr), sr.Agent, sr.SetupP99MS,
					leftAfter(sr), stepWord(sr), sr.Why)
			}
		}
	}
	for _, n := range o.plateaus {
		for _, name := range []string{"gateway", "lean"} {
			if !contains(o.paths, name) || ctx.Err() != nil {
				continue
			}
			if name == "lean" && n > maxLeanPlateau {
				logf("lean plateau of %d calls skipped: %d channels would pass the lab's maxcalls", n, 2*n)
				continue
			}
			pr := r.plateau(ctx, o, paths[name], n)
			r.Plateaus = append(r.Plateaus, pr)
			logf("%-7s plateau %d calls (%d ok, %d failed, active %.0f): go RSS %d → %d KiB = %.0f B/call (heap in use %.0f B/call), asterisk %.0f B/call",
				pr.Path, pr.N, pr.OK, pr.Failed, pr.ActiveSeen, pr.GoRSSIdleKB, pr.GoRSSPlatKB, pr.GoBytesCall, pr.HeapBytesCall, pr.AstBytesCall)
		}
	}
	r.PeakRSSKB["gateway"] = statusKB(gw.pid(), "VmHWM")
	r.PeakRSSKB["lean"] = statusKB(lean.pid(), "VmHWM")
	r.PeakRSSKB["asterisk (lifetime)"] = statusKB(r.astPID, "VmHWM")
	r.PeakRSSKB["redis"] = statusKB(r.redisPID, "VmHWM")

	var md bytes.Buffer
	report(&md, r, o)
	_, _ = io.Copy(os.Stdout, bytes.NewReader(md.Bytes()))
	if o.resultsFile != "-" {
		if err := os.MkdirAll(filepath.Dir(o.resultsFile), 0o755); err == nil {
			if err := os.WriteFile(o.resultsFile, md.Bytes(), 0o644); err != nil {
				logf("report file %s: %v", o.resultsFile, err)
			} else {
				logf("report: %s", o.resultsFile)
			}
		}
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	_ = os.WriteFile(filepath.Join(o.out, "results.json"), b, 0o644)
	logf("results: %s", filepath.Join(o.out, "results.json"))
	return r.verdict()
}

// overloadStep runs p at -overload cps and judges it for graceful
// overload rather than zero failures: it passes when no answered call was
// dropped, every call that failed was refused with a SIP final response
// (not timed out), some calls were answered, and no bench channel is left
// in Asterisk once the step drained.
func (r *results) overloadStep(ctx context.Context, o options, p *path, round int) stepResult {
	sr := r.step(ctx, o, p, o.overload, round)
	if sr.Void {
		return sr
	}
	r.settle(ctx, p)
	// Give Asterisk up to -void-wait to end the step's channels by itself.
	deadline := time.Now().Add(o.voidWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if n, err := benchChannels(ariPBX{}); err == nil && n == 0 {
			break
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	after := ensureClean(ctx, ariPBX{}, o.voidWait, 500*time.Millisecond)
	sr.After = &after
	var why []string
	if sr.Outcomes.Dropped > 0 {
		why = append(why, fmt.Sprintf("%d answered calls dropped", sr.Outcomes.Dropped))
	}
	if n := otherFailures(sr); n > 0 {
		why = append(why, fmt.Sprintf("%d calls failed without a SIP refusal", n))
	}
	if sr.OK == 0 {
		why = append(why, "no call answered")
	}
	if after.Found > 0 || !after.Checked {
		why = append(why, fmt.Sprintf("%d bench channels left after the step", after.Found))
	}
	sr.Pass = len(why) == 0
	sr.Why = strings.Join(why, "; ")
	return sr
}

// otherFailures are the failed calls that were not refused with a final
// SIP response (timeouts, lost calls).
func otherFailures(s stepResult) int { return max(0, s.Failed-s.Outcomes.refused()) }

func leftAfter(s stepResult) int {
	if s.After == nil {
		return -1
	}
	return s.After.Found
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
	return fmt.Errorf("every one of the %d steps failed or was void (first: %s %d cps: %s)", len(r.Steps), r.Steps[0].Path, r.Steps[0].Rate, r.Steps[0].Why)
}

// sample reads the CPU of the step's processes.
type cpuSet struct{ ast, goP, redis cpuSample }

func (r *results) sampleCPU(goProc *child) cpuSet {
	read := func(pid int) cpuSample {
		if pid <= 0 {
			return cpuSample{}
		}
		v, err := cpuMillis(pid)
		return cpuSample{ms: v, ok: err == nil}
	}
	s := cpuSet{ast: read(r.astPID), redis: read(r.redisPID)}
	if goProc != nil {
		s.goP = read(goProc.pid())
	}
	return s
}

// step places rate × step calls through p and measures them.
func (r *results) step(ctx context.Context, o options, p *path, rate, round int) stepResult {
	sr := stepResult{Path: p.name, Rate: rate, Round: round, Agent: -1,
		SetupMeanMS: -1, SetupP50MS: -1, SetupP99MS: -1, AgentP50MS: -1, AgentP99MS: -1,
		CmdP99MS: -1, OrigP50MS: -1, OrigP99MS: -1, ARIPerCall: -1, AstMS: -1, GoMS: -1, RedisMS: -1,
		BgAstMSs: -1, BgGoMSs: -1, BgRedisMSs: -1}
	seq := r.nextSeq()
	r.settle(ctx, p)
	// No bench channel of the previous path or step may be up.
	sr.Clean = ensureClean(ctx, ariPBX{}, o.voidWait, 500*time.Millisecond)
	if sr.Clean.Found > 0 {
		logf("%s %d cps round %d: %d bench channels were still up before the step, %d hung up; void: %v", p.name, rate, round, sr.Clean.Found, sr.Clean.HungUp, sr.Clean.Void)
	}
	if sr.Clean.Void {
		sr.Void, sr.Why = true, "void: "+sr.Clean.Why
		return sr
	}

	// Background CPU and ARI requests, measured idle just before the step;
	// the scrape that ends the idle window is the step's "before".
	idleARI := ariRequests(p.metrics)
	b0, t0 := r.sampleCPU(p.goProc), time.Now()
	sleepCtx(ctx, o.idle)
	b1, t1 := r.sampleCPU(p.goProc), time.Now()
	var before scrape
	if p.metrics != "" {
		before, _ = getMetrics(p.metrics)
	}
	idle := t1.Sub(t0).Seconds()
	sr.BgAstMSs, sr.BgGoMSs, sr.BgRedisMSs = background(b0.ast, b1.ast, idle), background(b0.goP, b1.goP, idle), background(b0.redis, b1.redis, idle)
	if n := before.sum(ariRequestsMetric); idleARI >= 0 && before != nil && n >= idleARI && idle > 0 {
		sr.BgARIs = (n - idleARI) / idle
	}

	dir := mkdir(o.out, fmt.Sprintf("%d-%s-r%d", rate, p.name, round))
	calls := rate * int(o.step/time.Second)
	ans0, _ := p.answered()
	uasOff := fileSize(r.benchAgent.log)
	c0, s0 := r.sampleCPU(p.goProc), time.Now()

	var profiled chan struct{}
	if o.cpuProfile && p.pprof != "" {
		profiled = make(chan struct{})
		go func() {
			defer close(profiled)
			if err := fetchProfile(ctx, p.pprof, o.step, filepath.Join(dir, "cpu.pprof")); err != nil {
				logf("%s %d cps round %d: no CPU profile: %v", p.name, rate, round, err)
			}
		}()
	}
	res := runLoad(ctx, o.repo, load{DIDs: p.dids, Rate: rate, Calls: calls, Talk: o.talk,
		Limit: rate * int((o.talk+10*time.Second)/time.Second), Seq: seq, Dir: dir})

	// Let the tail finish: agent legs hang up, counts reach Redis.
	ans1 := ans0
	deadline := time.Now().Add(5 * time.Second)
	for {
		sleepCtx(ctx, time.Second)
		ans1, _ = p.answered()
		if ans1-ans0 >= res.OK || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	c1, s1 := r.sampleCPU(p.goProc), time.Now()
	el := s1.Sub(s0).Seconds()
	if profiled != nil {
		<-profiled
	}

	sr.Calls, sr.OK, sr.Failed = res.Calls, res.OK, res.Failed
	sr.Outcomes = res.Outcomes
	sr.AchievedRate, sr.SetupMeanMS = res.AchievedRate, res.SetupMS
	sr.Agent = ans1 - ans0
	sr.AstMS = cpuPerCall(c0.ast, c1.ast, sr.BgAstMSs, el, res.Calls)
	sr.RedisMS = cpuPerCall(c0.redis, c1.redis, sr.BgRedisMSs, el, res.Calls)
	if p.goProc != nil {
		sr.GoMS = cpuPerCall(c0.goP, c1.goP, sr.BgGoMSs, el, res.Calls)
	}

	st := matchSetup(res.Callers, parseAgentLog(bytes.NewReader(readFrom(r.benchAgent.log, uasOff))))
	sr.SetupP50MS, sr.SetupP99MS = percentile(st.ToOK, 0.50), percentile(st.ToOK, 0.99)
	sr.AgentP50MS, sr.AgentP99MS = percentile(st.ToAgent, 0.50), percentile(st.ToAgent, 0.99)

	if p.metrics != "" {
		after, _ := getMetrics(p.metrics)
		tAfter := time.Now()
		hq := func(name string, q float64) float64 {
			return finite(quantile(q, histDelta(before, after, name)) * 1000)
		}
		sr.CmdP99MS = hq("hotline_stasis_start_to_command_seconds", 0.99)
		sr.OrigP50MS = hq("hotline_stasis_start_to_agent_originate_seconds", 0.50)
		sr.OrigP99MS = hq("hotline_stasis_start_to_agent_originate_seconds", 0.99)
		if res.Calls > 0 {
			n := after.sum(ariRequestsMetric) - before.sum(ariRequestsMetric)
			sr.ARIPerCall = perCall(n, sr.BgARIs, tAfter.Sub(t1).Seconds(), res.Calls)
		}
	}
	var why []string
	if p.metrics != "" && before != nil {
		// The lean app counts calls it ended on a failed ARI request (the
		// caller's SIPp still sees an answered call then).
		if after, err := getMetrics(p.metrics); err == nil {
			if n := after.sum("hotline_baseline_call_errors_total") - before.sum("hotline_baseline_call_errors_total"); n > 0 {
				why = append(why, fmt.Sprintf("%.0f calls ended on a failed ARI request (see %s.log)", n, p.name))
			}
		}
	}
	if res.Failed > 0 {
		why = append(why, fmt.Sprintf("%d failed calls", res.Failed))
	}
	if sr.Agent < res.Calls {
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

func stepWord(s stepResult) string {
	switch {
	case s.Void:
		return "VOID"
	case s.Pass:
		return "PASS"
	case s.After != nil: // an overload step: the run goes on
		return "FAIL"
	}
	return "STOP"
}

// ariRequestsMetric counts the Go process's ARI REST requests.
const ariRequestsMetric = "hotline_ari_request_duration_seconds_count"

// ariRequests is the Go process's ARI request count so far, -1 when it has
// no metrics or they cannot be read.
func ariRequests(metricsURL string) float64 {
	if metricsURL == "" {
		return -1
	}
	m, err := getMetrics(metricsURL)
	if err != nil {
		return -1
	}
	return m.sum(ariRequestsMetric)
}
