package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func benchOptions() options {
	return options{rates: []int{25, 50}, rounds: 3, paths: []string{"gateway", "lean", "queue"}, step: 15 * time.Second, talk: time.Second, idle: 3 * time.Second, hold: 30 * time.Second}
}

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want spread
	}{
		{[]float64{3, 1, 2}, spread{Median: 2, Min: 1, Max: 3, N: 3}},
		{[]float64{4, 1, 3, 2}, spread{Median: 2.5, Min: 1, Max: 4, N: 4}}, // even: mean of the middle two
		{[]float64{5, -1, 7}, spread{Median: 6, Min: 5, Max: 7, N: 2}},     // -1 = not measured, left out
		{[]float64{-1, -1}, spread{Median: -1, Min: -1, Max: -1}},
		{nil, spread{Median: -1, Min: -1, Max: -1}},
	} {
		if got := spreadOf(tc.in); got != tc.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if got := (spread{Median: 2, Min: 1, Max: 3, N: 3}).format(1); got != "2.0 (1.0–3.0)" {
		t.Errorf("format = %q", got)
	}
	if got := (spread{Median: -1}).format(1); got != "–" {
		t.Errorf("format of nothing = %q, want –", got)
	}
}

func TestCPUPerCallSubtractsBackground(t *testing.T) {
	ok := func(ms float64) cpuSample { return cpuSample{ms: ms, ok: true} }
	// 1,000 ms used over a 10 s step with 20 ms/s background: 800 ms for 100 calls.
	if got := cpuPerCall(ok(5000), ok(6000), 20, 10, 100); got != 8 {
		t.Errorf("cpuPerCall = %v, want 8", got)
	}
	// Background larger than the step's use: 0, never negative.
	if got := cpuPerCall(ok(0), ok(100), 50, 10, 100); got != 0 {
		t.Errorf("cpuPerCall with background above use = %v, want 0", got)
	}
	// A missing sample, no calls or a counter that went back (pid reused): not measured.
	for _, tc := range [][2]cpuSample{{{}, ok(10)}, {ok(10), {}}, {ok(10), ok(5)}} {
		if got := cpuPerCall(tc[0], tc[1], 0, 1, 10); got != -1 {
			t.Errorf("cpuPerCall(%v, %v) = %v, want -1", tc[0], tc[1], got)
		}
	}
	if got := cpuPerCall(ok(0), ok(10), 0, 1, 0); got != -1 {
		t.Errorf("cpuPerCall with no calls = %v, want -1", got)
	}
	if got := background(ok(100), ok(130), 3); got != 10 {
		t.Errorf("background = %v, want 10 ms/s", got)
	}
	if got := background(cpuSample{}, ok(130), 3); got != -1 {
		t.Errorf("background without a sample = %v, want -1", got)
	}
}

// ARI requests per call leave out the idle rate (the gateway's admit
// flag): 1,905 requests in 15 s with 2/s idle over 375 calls are 5.
func TestARIPerCallSubtractsBackground(t *testing.T) {
	if got := perCall(1905, 2, 15, 375); got != 5 {
		t.Errorf("perCall = %v, want 5", got)
	}
	if got := perCall(10, 5, 10, 100); got != 0 {
		t.Errorf("perCall with background above the count = %v, want 0", got)
	}
	if got := perCall(10, 0, 1, 0); got != -1 {
		t.Errorf("perCall with no calls = %v, want -1", got)
	}
	if got := ariRequests(""); got != -1 {
		t.Errorf("ariRequests without metrics = %v, want -1", got)
	}
}

func TestPercentileAndRatios(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100 - i) // 100..1
	}
	if p := percentile(v, 0.99); p != 99 {
		t.Errorf("p99 = %v, want 99", p)
	}
	if p := percentile(v, 0.5); p != 50 {
		t.Errorf("p50 = %v, want 50", p)
	}
	if p := percentile(nil, 0.5); p != -1 {
		t.Errorf("p50 of nothing = %v, want -1", p)
	}
	// Rounds pair by index; an unmeasured round or a zero divisor drops the pair.
	got := ratios([]float64{2, -1, 6, 4}, []float64{1, 1, 3, 0})
	if len(got) != 2 || got[0] != 2 || got[1] != 2 {
		t.Errorf("ratios = %v, want [2 2]", got)
	}
	if s := sumCPU(1, 2, -1); s != -1 {
		t.Errorf("sumCPU with an unmeasured part = %v, want -1", s)
	}
}

// fakePBX holds channels; hangup removes them unless they are stuck.
type fakePBX struct {
	chs     []channel
	stuck   map[string]bool
	hungUp  []string
	listErr error
}

func (f *fakePBX) channels() ([]channel, error) { return f.chs, f.listErr }

func (f *fakePBX) hangup(id string) error {
	f.hungUp = append(f.hungUp, id)
	if f.stuck[id] {
		return nil // accepted, but the channel stays (Asterisk overloaded)
	}
	var keep []channel
	for _, c := range f.chs {
		if c.ID != id {
			keep = append(keep, c)
		}
	}
	f.chs = keep
	return nil
}

func ch(id, name, caller string) channel {
	c := channel{ID: id, Name: name}
	c.Caller.Number = caller
	return c
}

func TestEnsureCleanVoidingRule(t *testing.T) {
	ctx := context.Background()
	other := ch("t1", "PJSIP/agent1001-0001", "13800138000") // another session's test call

	// Nothing of the bench up: clean, nothing hung up, other channels untouched.
	f := &fakePBX{chs: []channel{other}}
	if r := ensureClean(ctx, f, time.Second, 10*time.Millisecond); r.Void || r.Found != 0 || len(f.hungUp) != 0 {
		t.Errorf("clean PBX: %+v, hung up %v", r, f.hungUp)
	}

	// Leftovers that go when hung up: not void, only bench channels hung up.
	f = &fakePBX{chs: []channel{other, ch("c1", "PJSIP/trunk-01", "13990031"), ch("a1", "PJSIP/agent2001-02", "13990031")}}
	r := ensureClean(ctx, f, time.Second, 10*time.Millisecond)
	if r.Void || r.Found != 2 || r.HungUp != 2 || r.Left != 0 {
		t.Errorf("leftovers that go: %+v", r)
	}
	if len(f.hungUp) != 2 || f.hungUp[0] == "t1" || f.hungUp[1] == "t1" {
		t.Errorf("hung up %v, want only the bench's c1 and a1", f.hungUp)
	}

	// Leftovers that stay: void, with the count in the reason.
	f = &fakePBX{chs: []channel{ch("c1", "PJSIP/trunk-01", "13990031"), ch("c2", "PJSIP/trunk-02", "13990032")}, stuck: map[string]bool{"c2": true}}
	r = ensureClean(ctx, f, 50*time.Millisecond, 10*time.Millisecond)
	if !r.Void || r.Left != 1 || !strings.Contains(r.Why, "1 of 2 bench channels") {
		t.Errorf("stuck leftover: %+v, want void with 1 of 2 left", r)
	}

	// ARI not answering: void (the step cannot be shown to be clean).
	f = &fakePBX{listErr: errors.New("connection refused")}
	if r := ensureClean(ctx, f, 50*time.Millisecond, 10*time.Millisecond); !r.Void || r.Checked {
		t.Errorf("ARI down: %+v, want void and not checked", r)
	}
}

func TestCallerAndAgentLogs(t *testing.T) {
	callers := parseCallerLog(strings.NewReader("setup 13990011 100.000000 500000.000000 100.000000 520000.000000\nINVITE junk\nsetup 13990012 101.000000 0.000000 101.000000 8000.000000\n"))
	agents := parseAgentLog(strings.NewReader("INVITE 1 INVITE (CSeq number 1)\nagent 13990011 100.000000 503000.000000 sip:13990011@\nagent 13990011 109.000000 0.000000 sip:13990011@\n"))
	if len(callers) != 2 || len(agents) != 1 {
		t.Fatalf("parsed %d callers, %d agents: %v %v", len(callers), len(agents), callers, agents)
	}
	st := matchSetup(callers, agents)
	if len(st.ToOK) != 2 || len(st.ToAgent) != 1 {
		t.Fatalf("matchSetup = %+v", st)
	}
	if d := st.ToAgent[0]; d < 2.999 || d > 3.001 { // first agent INVITE counts, 3 ms after the caller's
		t.Errorf("INVITE → agent INVITE = %v ms, want 3", d)
	}
	if p := percentile(st.ToOK, 0.99); p < 19.999 || p > 20.001 {
		t.Errorf("INVITE → 200 p99 = %v ms, want 20", p)
	}
}

func TestPathList(t *testing.T) {
	if p, err := pathList("gateway, baseline,queue"); err != nil || strings.Join(p, ",") != "gateway,lean,queue" {
		t.Errorf("pathList = %v, %v", p, err)
	}
	for _, bad := range []string{"gateway,bogus", "lean,baseline", ""} {
		if _, err := pathList(bad); err == nil {
			t.Errorf("pathList(%q) accepted", bad)
		}
	}
}

func passing(path string, rate, round int, ast, goMS, redis, p99 float64) stepResult {
	return stepResult{Path: path, Rate: rate, Round: round, Calls: rate * 15, Agent: rate * 15, Pass: true,
		AstMS: ast, GoMS: goMS, RedisMS: redis, SetupP99MS: p99, SetupP50MS: p99 / 2, AgentP99MS: 1, AgentP50MS: 1,
		CmdP99MS: -1, OrigP99MS: -1, ARIPerCall: -1}
}

// Ratios pair round i of the gateway with round i of app_queue and of the lean app.
func TestRatiosPairRoundsAndVoidsAreLeftOut(t *testing.T) {
	o := benchOptions()
	r := &results{Started: time.Now(), PeakRSSKB: map[string]int64{}}
	for round := 1; round <= 3; round++ {
		k := float64(round)
		r.Steps = append(r.Steps,
			passing("gateway", 25, round, 4*k, 2*k, 1*k, 10*k), // total 7k
			passing("lean", 25, round, 3*k, 1*k, 0, 5*k),
			passing("queue", 25, round, 7*k, -1, 0, 5*k))
	}
	// Round 3 of app_queue void: the pair is left out, not mixed with another round.
	r.Steps[8] = stepResult{Path: "queue", Rate: 25, Round: 3, Void: true, Why: "void: 3 of 3 bench channels"}
	rr := ratiosAt(r, o, 25)
	if rr.TotalVsQueue.N != 2 || rr.TotalVsQueue.Median != 1 {
		t.Errorf("(Asterisk+Go+Redis) ÷ app_queue = %+v, want 1.0 from 2 pairs", rr.TotalVsQueue)
	}
	if rr.GoVsLean.N != 3 || rr.GoVsLean.Median != 2 {
		t.Errorf("gateway Go ÷ lean Go = %+v, want 2.0 from 3 pairs", rr.GoVsLean)
	}
	if rr.SetupP99Queue.Median != 2 {
		t.Errorf("INVITE→200 p99 ratio = %+v, want 2", rr.SetupP99Queue)
	}
	if g := group(r.Steps, "queue", 25); g.outcome() != "pass" || g.voids() != 1 {
		t.Errorf("queue at 25 cps: outcome %q, voids %d; want pass with 1 void round", g.outcome(), g.voids())
	}
	var b bytes.Buffer
	report(&b, r, o)
	out := b.String()
	for _, want := range []string{"### 25 cps", "| 1.00 (1.00–1.00)× |", "| gateway | 3 (0) |", "| queue | 3 (1) |", "Targets (issue 12), ratios at 25 cps"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestOutcomeAndZeroFailure(t *testing.T) {
	o := benchOptions()
	r := &results{}
	for round := 1; round <= 3; round++ {
		r.Steps = append(r.Steps, passing("gateway", 25, round, 1, 1, 1, 1), passing("queue", 25, round, 1, -1, 0, 1), passing("queue", 50, round, 1, -1, 0, 1))
		s := passing("gateway", 50, round, 1, 1, 1, 1)
		if round == 2 {
			s.Pass, s.Why = false, "3 failed calls"
		}
		r.Steps = append(r.Steps, s)
	}
	if g := group(r.Steps, "gateway", 50); g.outcome() != "stop" || !strings.Contains(g.why(), "round 2: 3 failed calls") {
		t.Errorf("one failed round: outcome %q (%s), want stop", g.outcome(), g.why())
	}
	if z := zeroFailure(r, o, "gateway"); z != 25 {
		t.Errorf("gateway zero-failure rate = %d, want 25", z)
	}
	if z := zeroFailure(r, o, "queue"); z != 50 {
		t.Errorf("queue zero-failure rate = %d, want 50", z)
	}
	all := stepGroup{Rounds: []stepResult{{Void: true}, {Void: true}}}
	if all.outcome() != "void" {
		t.Errorf("all rounds void: outcome %q, want void", all.outcome())
	}
}

// A run whose steps all failed reports no ratio and no "yes", and exits non-zero.
func TestReportFromFailedStepsClaimsNothing(t *testing.T) {
	o := benchOptions()
	r := &results{Started: time.Now(), PeakRSSKB: map[string]int64{}}
	for _, p := range o.paths {
		for _, rate := range o.rates {
			for round := 1; round <= 3; round++ {
				s := passing(p, rate, round, 1, 0.5, 0.1, 3)
				s.Pass, s.Failed, s.Why = false, 3, "3 failed calls"
				r.Steps = append(r.Steps, s)
			}
		}
	}
	r.Plateaus = []plateauResult{{Path: "gateway", N: 1000, Failed: 1000, ActiveSeen: 0}}
	var b bytes.Buffer
	report(&b, r, o)
	out := b.String()
	if strings.Contains(out, "| yes") || strings.Contains(out, ")× |") {
		t.Errorf("report of failed steps claims a ratio or a met target:\n%s", out)
	}
	for _, want := range []string{"no rate passed on the gateway and app_queue paths alike", "- gateway: none", "no call held", "**stop**: round 1: 3 failed calls"} {
		if !strings.Contains(out, want) {
			t.Errorf("report does not say %q:\n%s", want, out)
		}
	}
	if err := r.verdict(); err == nil || !strings.Contains(err.Error(), "every one of the") {
		t.Errorf("verdict = %v, want an error: every step failed", err)
	}
	r.Steps[0].Pass = true
	if err := r.verdict(); err != nil {
		t.Errorf("verdict with one passing step = %v, want nil", err)
	}
}

func TestPlateauDivisorIsCallsHeld(t *testing.T) {
	for _, tc := range []struct {
		active float64
		ok     int
		want   float64
	}{
		{812, 1000, 812}, // the gateway held fewer than requested
		{-1, 950, 950},   // no active gauge: the calls that lasted
		{0, 1000, 0},     // the gateway held none
		{-1, 0, 0},
	} {
		if got := plateauDivisor(tc.active, tc.ok); got != tc.want {
			t.Errorf("plateauDivisor(%v, %d) = %v, want %v", tc.active, tc.ok, got, tc.want)
		}
	}
}

func TestCallerOutcomesAndOverloadReport(t *testing.T) {
	out := parseCallerOutcomes(strings.NewReader("setup 1 1 0 1 0\nrefused 139900101 503\nrefused 139900102 503\nrefused 139900102 503\nrefused 139900103 486\nfarbye 139900104\njunk\n"))
	if out.Refused["503"] != 2 || out.Refused["486"] != 1 || out.refused() != 3 || out.Dropped != 1 {
		t.Fatalf("outcomes %+v, want 503: 2 (one caller logged twice), 486: 1, one dropped", out)
	}
	var sum callerOutcomes
	sum.add(out)
	sum.add(callerOutcomes{Refused: map[string]int{"503": 5}})
	if sum.Refused["503"] != 7 || sum.Dropped != 1 {
		t.Fatalf("sum %+v", sum)
	}
	kept := stepResult{Path: "gateway", Rate: 200, Round: 1, Calls: 100, OK: 60, Failed: 40, Agent: 60, Pass: true,
		Outcomes: callerOutcomes{Refused: map[string]int{"503": 40}}, After: &cleanResult{Checked: true}}
	lost := stepResult{Path: "lean", Rate: 200, Round: 1, Calls: 100, OK: 70, Failed: 30, Agent: 50,
		Outcomes: callerOutcomes{Refused: map[string]int{"503": 10}, Dropped: 20}, After: &cleanResult{Checked: true, Found: 7},
		Why: "20 answered calls dropped"}
	if otherFailures(kept) != 0 || otherFailures(lost) != 20 || stepWord(lost) != "FAIL" || leftAfter(lost) != 7 {
		t.Fatalf("other failures %d/%d, word %s, left %d", otherFailures(kept), otherFailures(lost), stepWord(lost), leftAfter(lost))
	}
	var b strings.Builder
	report(&b, &results{Overload: []stepResult{kept, lost}, PeakRSSKB: map[string]int64{}}, options{overload: 200, rounds: 1, paths: []string{"gateway", "lean"}})
	for _, want := range []string{
		"Overload: every path at 200 cps",
		"| gateway | 1 | 100 | 60 | 0 | 503: 40 | 0 | 60 |",
		"| lean | 1 | 100 | 70 | 20 | 503: 10 | 20 | 50 |",
		"| 7 | fail: 20 answered calls dropped |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// The ARI target is judged at the precision reported: 5.008 requests per
// call (sampling jitter of the idle rate taken off) is 5.0, 5.06 is 5.1.
func TestARITargetAtReportedPrecision(t *testing.T) {
	o := benchOptions()
	for _, tc := range []struct {
		per  [3]float64
		want string
	}{
		{[3]float64{5.008, 5.01, 5.04}, "| 5.0 (5.0–5.0) | ≤ 5 | yes |"},
		{[3]float64{5.008, 5.01, 5.06}, "| 5.0 (5.0–5.1) | ≤ 5 | median yes, not every round |"},
		{[3]float64{5.2, 5.3, 5.06}, "| 5.2 (5.1–5.3) | ≤ 5 | **no** |"},
	} {
		r := &results{Started: time.Now(), PeakRSSKB: map[string]int64{}}
		for round := 1; round <= 3; round++ {
			g := passing("gateway", 25, round, 4, 2, 1, 10)
			g.ARIPerCall = tc.per[round-1]
			r.Steps = append(r.Steps, g, passing("lean", 25, round, 3, 1, 0, 5), passing("queue", 25, round, 7, -1, 0, 5))
		}
		var b bytes.Buffer
		report(&b, r, o)
		if out := b.String(); !strings.Contains(out, "| ARI REST requests per routed call (gateway, from its /metrics) "+tc.want) {
			t.Errorf("ARI per call %v: report lacks %q:\n%s", tc.per, tc.want, out)
		}
	}
}
