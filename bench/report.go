package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// stepGroup is every round of one path at one rate.
type stepGroup struct {
	Path   string
	Rate   int
	Rounds []stepResult // in round order, void ones included
}

func group(steps []stepResult, path string, rate int) stepGroup {
	g := stepGroup{Path: path, Rate: rate}
	for _, s := range steps {
		if s.Path == path && s.Rate == rate {
			g.Rounds = append(g.Rounds, s)
		}
	}
	sort.SliceStable(g.Rounds, func(i, j int) bool { return g.Rounds[i].Round < g.Rounds[j].Round })
	return g
}

// outcome of a path at a rate: "pass" when every round that was not void
// passed (and at least one was not void), "void" when all were void,
// "stop" when a measured round failed, "" when it never ran.
func (g stepGroup) outcome() string {
	if len(g.Rounds) == 0 {
		return ""
	}
	measured := 0
	for _, s := range g.Rounds {
		if s.Void {
			continue
		}
		measured++
		if !s.Pass {
			return "stop"
		}
	}
	if measured == 0 {
		return "void"
	}
	return "pass"
}

func (g stepGroup) why() string {
	var w []string
	for _, s := range g.Rounds {
		if s.Why != "" {
			w = append(w, fmt.Sprintf("round %d: %s", s.Round, s.Why))
		}
	}
	return strings.Join(w, "; ")
}

func (g stepGroup) voids() int {
	n := 0
	for _, s := range g.Rounds {
		if s.Void {
			n++
		}
	}
	return n
}

// measure is one figure of every round (-1 for a void round), in round
// order, so two paths' rounds pair up.
func (g stepGroup) measure(f func(stepResult) float64, passingOnly bool) []float64 {
	out := make([]float64, 0, len(g.Rounds))
	for _, s := range g.Rounds {
		if s.Void || (passingOnly && !s.Pass) {
			out = append(out, -1)
			continue
		}
		out = append(out, f(s))
	}
	return out
}

func (g stepGroup) spread(f func(stepResult) float64) spread { return spreadOf(g.measure(f, false)) }

// byRound returns the rounds of a measure indexed by round number (1..n).
func byRound(g stepGroup, rounds int, f func(stepResult) float64) []float64 {
	out := make([]float64, rounds)
	for i := range out {
		out[i] = -1
	}
	for _, s := range g.Rounds {
		if s.Round >= 1 && s.Round <= rounds && !s.Void && s.Pass {
			out[s.Round-1] = f(s)
		}
	}
	return out
}

// zeroFailure is the highest rate a path passed with every lower rate
// passed too (0: none).
func zeroFailure(r *results, o options, path string) int {
	best := 0
	for _, rate := range o.rates {
		if group(r.Steps, path, rate).outcome() != "pass" {
			break
		}
		best = rate
	}
	return best
}

// rateRatios are issue 12's per-rate ratios, from rounds run next to each
// other (round i of one path ÷ round i of the other, passing rounds only).
type rateRatios struct {
	TotalVsQueue  spread // (Asterisk + gateway Go + Redis) ÷ app_queue's Asterisk
	LeanVsQueue   spread // (Asterisk + lean Go + Redis) ÷ app_queue's Asterisk (info)
	GoVsLean      spread // gateway Go ÷ lean Go
	SetupP99Queue spread // caller's INVITE→200 p99, gateway ÷ app_queue
}

func ratiosAt(r *results, o options, rate int) rateRatios {
	gw, ln, q := group(r.Steps, "gateway", rate), group(r.Steps, "lean", rate), group(r.Steps, "queue", rate)
	n := o.rounds
	total := func(s stepResult) float64 { return s.totalMS() }
	ast := func(s stepResult) float64 { return s.AstMS }
	goMS := func(s stepResult) float64 { return s.GoMS }
	p99 := func(s stepResult) float64 { return s.SetupP99MS }
	return rateRatios{
		TotalVsQueue:  spreadOf(ratios(byRound(gw, n, total), byRound(q, n, ast))),
		LeanVsQueue:   spreadOf(ratios(byRound(ln, n, total), byRound(q, n, ast))),
		GoVsLean:      spreadOf(ratios(byRound(gw, n, goMS), byRound(ln, n, goMS))),
		SetupP99Queue: spreadOf(ratios(byRound(gw, n, p99), byRound(q, n, p99))),
	}
}

// report prints the comparison as Markdown (stdout and the -results file).
func report(w io.Writer, r *results, o options) {
	fmt.Fprintf(w, "\n## hotline-gw bench — %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s.\n", r.Machine)
	fmt.Fprintf(w, "Each rate: paths %s in turn, %d rounds (interleaved); each step rate × %s calls, talk %s (caller hangs up); four SIPp UACs, agents = one SIPp UAS on 5399 (400 bench agents).\n",
		strings.Join(o.paths, ", "), o.rounds, o.step, o.talk)
	fmt.Fprintf(w, "Cells: median (min–max) over the rounds that were not void. CPU per call = (CPU during the step − background CPU measured idle for %s just before it × step time) ÷ calls, for Asterisk, the path's Go process and the gateway's Redis. ", o.idle)
	fmt.Fprintln(w, "INVITE→200 and INVITE→agent's INVITE are per-call SIPp timestamps (callers' and agents' logs); histogram p99s are the Go process's own /metrics. A step is void when bench channels of the previous step were still up (hung up, waited for) before it.")

	for _, rate := range o.rates {
		var gs []stepGroup
		for _, p := range o.paths {
			if g := group(r.Steps, p, rate); len(g.Rounds) > 0 {
				gs = append(gs, g)
			}
		}
		if len(gs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %d cps\n\n", rate)
		fmt.Fprintln(w, "| path | rounds (void) | calls/round | failed (sum) | reached an agent (min) | achieved cps | INVITE→200 p50 ms | INVITE→200 p99 ms | INVITE→agent INVITE p50 ms | p99 ms | StasisStart→agent originate p99 ms (histogram) | StasisStart→first command p99 ms | ARI requests/call | Asterisk CPU ms/call | Go CPU ms/call | Redis CPU ms/call | total CPU ms/call | result |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		for _, g := range gs {
			calls, failed, agentMin := 0, 0, -1
			for _, s := range g.Rounds {
				if s.Void {
					continue
				}
				calls = max(calls, s.Calls)
				failed += s.Failed
				if agentMin < 0 || s.Agent < agentMin {
					agentMin = s.Agent
				}
			}
			res := g.outcome()
			switch res {
			case "stop":
				res = "**stop**: " + g.why()
			case "void":
				res = "**void**: " + g.why()
			default:
				if g.voids() > 0 {
					res += " (" + g.why() + ")"
				}
			}
			fmt.Fprintf(w, "| %s | %d (%d) | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				g.Path, len(g.Rounds), g.voids(), calls, failed, intOrDash(agentMin),
				g.spread(func(s stepResult) float64 { return s.AchievedRate }).format(1),
				g.spread(func(s stepResult) float64 { return s.SetupP50MS }).format(1),
				g.spread(func(s stepResult) float64 { return s.SetupP99MS }).format(1),
				g.spread(func(s stepResult) float64 { return s.AgentP50MS }).format(1),
				g.spread(func(s stepResult) float64 { return s.AgentP99MS }).format(1),
				g.spread(func(s stepResult) float64 { return s.OrigP99MS }).format(2),
				g.spread(func(s stepResult) float64 { return s.CmdP99MS }).format(3),
				g.spread(func(s stepResult) float64 { return s.ARIPerCall }).format(1),
				g.spread(func(s stepResult) float64 { return s.AstMS }).format(2),
				g.spread(func(s stepResult) float64 { return s.GoMS }).format(2),
				g.spread(func(s stepResult) float64 { return s.RedisMS }).format(2),
				g.spread(func(s stepResult) float64 { return s.totalMS() }).format(2),
				res)
		}
		rr := ratiosAt(r, o, rate)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| ratio at this rate (round by round, passing rounds) | median (min–max) | target |")
		fmt.Fprintln(w, "|---|---:|---|")
		fmt.Fprintf(w, "| (Asterisk + gateway Go + Redis) ÷ app_queue's Asterisk, CPU/call | %s | ≤ 1.0× |\n", ratioCell(rr.TotalVsQueue))
		fmt.Fprintf(w, "| (Asterisk + lean Go + Redis) ÷ app_queue's Asterisk, CPU/call | %s | (info) |\n", ratioCell(rr.LeanVsQueue))
		fmt.Fprintf(w, "| gateway Go CPU/call ÷ lean Go CPU/call | %s | ≤ 1.5× |\n", ratioCell(rr.GoVsLean))
		fmt.Fprintf(w, "| caller's INVITE→200 p99, gateway ÷ app_queue | %s | ≤ 2× |\n", ratioCell(rr.SetupP99Queue))
	}

	fmt.Fprintln(w, "\n### Every round")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| cps | round | path | calls | failed | agent | INVITE→200 p99 ms | →agent INVITE p99 ms | Asterisk ms/call | Go ms/call | Redis ms/call | background Asterisk / Go / Redis ms/s | leftovers before (hung up) | result |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
	for _, s := range r.Steps {
		res := strings.ToLower(stepWord(s))
		if s.Why != "" {
			res += ": " + s.Why
		}
		fmt.Fprintf(w, "| %d | %d | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s / %s / %s | %d (%d) | %s |\n",
			s.Rate, s.Round, s.Path, s.Calls, s.Failed, intOrDash(s.Agent), num(s.SetupP99MS, 1), num(s.AgentP99MS, 1),
			num(s.AstMS, 2), num(s.GoMS, 2), num(s.RedisMS, 2), num(s.BgAstMSs, 1), num(s.BgGoMSs, 1), num(s.BgRedisMSs, 1),
			s.Clean.Found, s.Clean.HungUp, res)
	}

	fmt.Fprintln(w, "\nHighest zero-failure rate (every round of it and of every lower rate passed):")
	best := map[string]int{}
	for _, p := range o.paths {
		best[p] = zeroFailure(r, o, p)
		if best[p] == 0 {
			fmt.Fprintf(w, "- %s: none\n", p)
		} else {
			fmt.Fprintf(w, "- %s: %d cps\n", p, best[p])
		}
	}

	if len(r.Overload) > 0 {
		fmt.Fprintf(w, "\nOverload: every path at %d cps, %d rounds, whatever its zero-failure rate. A round passes when no answered call was dropped (the far end hung up before the caller), every failed call was refused with a SIP final response (no timeout), some calls were answered, and no bench channel was left in Asterisk once the step drained (waited for up to %s).\n\n", o.overload, o.rounds, o.voidWait)
		fmt.Fprintln(w, "| path | round | calls | answered | of them dropped | refused (SIP code: calls) | other failures | reached an agent | INVITE→200 p99 ms | Asterisk / Go / Redis CPU ms/call | channels left after | result |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---|")
		for _, s := range r.Overload {
			res := strings.ToLower(stepWord(s))
			if s.Why != "" {
				res += ": " + s.Why
			}
			fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %s | %d | %s | %s | %s / %s / %s | %s | %s |\n",
				s.Path, s.Round, s.Calls, s.OK, s.Outcomes.Dropped, refusedCell(s.Outcomes.Refused), otherFailures(s), intOrDash(s.Agent),
				num(s.SetupP99MS, 1), num(s.AstMS, 2), num(s.GoMS, 2), num(s.RedisMS, 2), intOrDash(leftAfter(s)), res)
		}
	}

	if len(r.Plateaus) > 0 {
		fmt.Fprintf(w, "\nMemory at a plateau of concurrent calls (held %s; RSS median over the plateau minus idle RSS just before; divided by the calls held):\n\n", o.hold)
		fmt.Fprintln(w, "| path | requested | ok | failed | gateway active calls | held (divisor) | Go RSS idle → plateau KiB | Go RSS B/call | Go heap-in-use B/call | Asterisk RSS B/call | Go VmHWM KiB |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, p := range r.Plateaus {
			active := "–"
			if p.ActiveSeen >= 0 {
				active = fmt.Sprintf("%.0f", p.ActiveSeen)
			}
			perCall := func(v float64) string {
				if p.Held <= 0 {
					return "– (no call held)"
				}
				return fmt.Sprintf("%.0f", v)
			}
			fmt.Fprintf(w, "| %s | %d | %d | %d | %s | %.0f | %d → %d | %s | %s | %s | %d |\n",
				p.Path, p.N, p.OK, p.Failed, active, p.Held, p.GoRSSIdleKB, p.GoRSSPlatKB, perCall(p.GoBytesCall), perCall(p.HeapBytesCall), perCall(p.AstBytesCall), p.GoHWMKB)
		}
	}
	fmt.Fprintln(w, "\nPeak RSS (VmHWM):")
	for _, k := range []string{"gateway", "lean", "redis", "asterisk (lifetime)"} {
		fmt.Fprintf(w, "- %s: %d KiB\n", k, r.PeakRSSKB[k])
	}

	targets(w, r, o, best)
	fmt.Fprintf(w, "\nLogs, SIPp statistics and results.json: %s\n", r.OutDir)
}

// targets prints issue 12's Targets table from this run.
func targets(w io.Writer, r *results, o options, best map[string]int) {
	ref := 150
	if group(r.Steps, "gateway", ref).outcome() != "pass" || group(r.Steps, "queue", ref).outcome() != "pass" {
		ref = commonRate(r, o)
	}
	fmt.Fprintln(w)
	if ref == 0 {
		fmt.Fprintln(w, "Targets (issue 12): no rate passed on the gateway and app_queue paths alike, so no CPU or latency ratio — a failed step's CPU is no measure.")
	} else {
		fmt.Fprintf(w, "Targets (issue 12), ratios at %d cps (150 cps when both passed there, else the highest rate every path passed):\n", ref)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measure | this run | target | met |")
	fmt.Fprintln(w, "|---|---:|---|---|")
	if ref > 0 {
		rr := ratiosAt(r, o, ref)
		fmt.Fprintf(w, "| (Asterisk + gateway + Redis) CPU per routed call ÷ app_queue's Asterisk CPU | %s | ≤ 1.0× | %s |\n", ratioCell(rr.TotalVsQueue), met(rr.TotalVsQueue, 1.0))
		fmt.Fprintf(w, "| gateway Go CPU per call ÷ lean bridging baseline | %s | ≤ 1.5× | %s |\n", ratioCell(rr.GoVsLean), met(rr.GoVsLean, 1.5))
		fmt.Fprintf(w, "| caller's INVITE→200 p99, gateway ÷ app_queue | %s | ≤ 2× | %s |\n", ratioCell(rr.SetupP99Queue), met(rr.SetupP99Queue, 2))
	}
	if contains(o.paths, "gateway") && contains(o.paths, "queue") {
		switch g, q := best["gateway"], best["queue"]; {
		case q == 0:
			fmt.Fprintf(w, "| highest zero-failure rate, gateway ÷ app_queue | %d vs none cps | ≥ 1.0 | **no** (app_queue passed no rate) |\n", g)
		default:
			v := float64(g) / float64(q)
			note := ""
			if q == o.rates[len(o.rates)-1] && g == q {
				note = " (both passed the highest rate tried: not saturated)"
			}
			fmt.Fprintf(w, "| highest zero-failure rate, gateway ÷ app_queue | %.2f (%d / %d cps) | ≥ 1.0 | %s%s |\n", v, g, q, yes(v >= 1), note)
		}
	}
	if g := group(r.Steps, "gateway", ref); ref > 0 {
		// At the precision reported: the idle rate taken off (BgARIs) is
		// sampled over a few seconds, which leaves ±0.01 request per call.
		ari := g.spread(func(s stepResult) float64 { return math.Round(s.ARIPerCall*10) / 10 })
		fmt.Fprintf(w, "| ARI REST requests per routed call (gateway, from its /metrics) | %s | ≤ 5 | %s |\n", ari.format(1), met(ari, 5))
	}
	fmt.Fprintln(w, "| Redis round trips per routed call | not measured by `make bench` (`TestRoutedCallRoundTrips`) | ≤ 3 | – |")
	for _, p := range r.Plateaus {
		if p.Path != "gateway" {
			continue
		}
		switch {
		case p.Held <= 0:
			fmt.Fprintf(w, "| RSS per active call, %d requested | no call held | ≤ 8 KiB at 5,000 | **no** |\n", p.N)
		default:
			fmt.Fprintf(w, "| RSS per active call at %.0f held (%d failed) | %.1f KiB | ≤ 8 KiB at 5,000 | %s |\n",
				p.Held, p.Failed, p.GoBytesCall/1024, yesNote(p.Failed == 0 && p.GoBytesCall <= 8*1024, p.N != 5000))
		}
	}
	fmt.Fprintln(w, "| tickets/s outbox → reference sink | not part of `make bench` (`BenchmarkOutboxToSink`) | ≥ 50k | – |")
}

// commonRate is the highest rate that passed on every path; 0 if none did.
func commonRate(r *results, o options) int {
	best := 0
	for _, rate := range o.rates {
		all := true
		for _, p := range o.paths {
			if group(r.Steps, p, rate).outcome() != "pass" {
				all = false
			}
		}
		if all && rate > best {
			best = rate
		}
	}
	return best
}

func ratioCell(s spread) string {
	if s.N == 0 {
		return "– (no pair of passing rounds)"
	}
	return s.format(2) + "×"
}

// met judges a target on the median, and says so when the spread straddles it.
func met(s spread, limit float64) string {
	switch {
	case s.N == 0:
		return "–"
	case s.Max <= limit:
		return "yes"
	case s.Median <= limit:
		return "median yes, not every round"
	}
	return "**no**"
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func yesNote(ok, otherN bool) string {
	s := yes(ok)
	if otherN {
		s += " (measured at a smaller plateau)"
	}
	return s
}

func intOrDash(n int) string {
	if n < 0 {
		return "–"
	}
	return fmt.Sprint(n)
}

func num(v float64, prec int) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func refusedCell(m map[string]int) string {
	if len(m) == 0 {
		return "–"
	}
	codes := make([]string, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s: %d", c, m[c])
	}
	return strings.Join(parts, ", ")
}
