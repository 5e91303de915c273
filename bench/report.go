package main

import (
	"fmt"
	"io"
)

// report prints the comparison as Markdown (pasted into BENCHMARKS.md).
func report(w io.Writer, r *results, o options) {
	fmt.Fprintf(w, "\n## hotline-gw bench — %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s. Asterisk background CPU before the run: %.1f ms/s.\n", r.Machine, r.AstIdleMS)
	fmt.Fprintf(w, "Steps: rate × %s calls, talk %s (caller hangs up), four SIPp UACs, agents = one SIPp UAS on 5399.\n\n", o.step, o.talk)

	fmt.Fprintln(w, "| path | cps | calls | failed | reached an agent (phones) | achieved cps | setup ms | Asterisk CPU ms/call | Go CPU ms/call | Redis CPU ms/call | p50 ms | p99 ms | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range r.Steps {
		res := "pass"
		if !s.Pass {
			res = "**stop**: " + s.Why
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %s | %.1f | %.1f | %.2f | %s | %s | %s | %s | %s |\n",
			s.Path, s.Rate, s.Calls, s.Failed, intOrDash(s.Agent), s.AchievedRate, s.SetupMS, s.AstMS,
			numOrDash(s.GoMS, s.Path != "queue"), numOrDash(s.RedisMS, s.Path == "gateway"),
			msOrDash(s.P50MS), msOrDash(s.P99MS), res)
	}

	// Zero-failure rate: the last passing rate before a path's first failure.
	best, failed := map[string]int{}, map[string]bool{}
	for _, s := range r.Steps {
		if !s.Pass {
			failed[s.Path] = true
		} else if !failed[s.Path] && s.Rate > best[s.Path] {
			best[s.Path] = s.Rate
		}
	}
	fmt.Fprintln(w, "\nHighest zero-failure rate (of the rates tried):")
	for _, p := range o.paths {
		if best[p] == 0 {
			fmt.Fprintf(w, "- %s: none (no step passed)\n", p)
			continue
		}
		fmt.Fprintf(w, "- %s: %d cps\n", p, best[p])
	}

	if len(r.Plateaus) > 0 {
		fmt.Fprintf(w, "\nMemory at a plateau of concurrent calls (held %s; RSS median over the plateau minus idle RSS just before):\n\n", o.hold)
		fmt.Fprintln(w, "Per-call figures are divided by the calls held (the gateway's active calls, else the calls that lasted the plateau), not by the calls requested.")
		fmt.Fprintln(w)
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
	for _, k := range []string{"gateway", "baseline", "redis", "asterisk (lifetime)"} {
		fmt.Fprintf(w, "- %s: %d KiB\n", k, r.PeakRSSKB[k])
	}

	// Ratios only from steps that passed: at the highest rate every path
	// passed; with no such rate there is no ratio to report.
	ref := commonRate(r, o)
	fmt.Fprintln(w)
	if ref == 0 {
		fmt.Fprintln(w, "Ratios vs targets: none — no rate passed on every path, and a failed step's CPU is no measure.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| measure | value | target | met |")
		fmt.Fprintln(w, "|---|---:|---|---|")
	} else {
		fmt.Fprintf(w, "Ratios vs targets (CPU at %d cps: the highest rate every path passed):\n\n", ref)
		fmt.Fprintln(w, "| measure | value | target | met |")
		fmt.Fprintln(w, "|---|---:|---|---|")
		gw, bl, q := find(r, "gateway", ref), find(r, "baseline", ref), find(r, "queue", ref)
		if gw != nil && bl != nil && bl.GoMS > 0 {
			v := gw.GoMS / bl.GoMS
			fmt.Fprintf(w, "| gateway CPU/call ÷ baseline CPU/call | %.2f× (%.2f / %.2f ms) | ≤ 2× | %s |\n", v, gw.GoMS, bl.GoMS, yes(v <= 2))
		}
		if gw != nil && q != nil && q.AstMS > 0 {
			v := (gw.AstMS + gw.GoMS) / q.AstMS
			fmt.Fprintf(w, "| (Asterisk + gateway) ÷ app_queue Asterisk, CPU/call | %.2f× (%.2f + %.2f / %.2f ms) | ≤ 1× | %s |\n", v, gw.AstMS, gw.GoMS, q.AstMS, yes(v <= 1))
			v2 := (gw.AstMS + gw.GoMS + gw.RedisMS) / q.AstMS
			fmt.Fprintf(w, "| same, with the gateway's Redis | %.2f× (+ %.2f ms Redis) | (info) | |\n", v2, gw.RedisMS)
		}
	}
	if contains(o.paths, "gateway") && contains(o.paths, "queue") {
		if best["gateway"] == 0 {
			fmt.Fprintf(w, "| zero-failure rate gateway vs app_queue | none vs %d cps | ≥ | **no** (no gateway step passed) |\n", best["queue"])
		} else {
			fmt.Fprintf(w, "| zero-failure rate gateway vs app_queue | %d vs %d cps | ≥ | %s |\n", best["gateway"], best["queue"], yes(best["gateway"] >= best["queue"]))
		}
	}
	switch s := find(r, "gateway", 150); {
	case s != nil && s.Pass:
		fmt.Fprintf(w, "| gateway p99 StasisStart → first command at 150 cps | %.3f ms | ≤ 5 ms | %s |\n", s.P99MS, yes(s.P99MS <= 5))
	case s != nil:
		fmt.Fprintf(w, "| gateway p99 StasisStart → first command at 150 cps | step failed (%s) | ≤ 5 ms | **no** |\n", s.Why)
	case contains(o.paths, "gateway"):
		fmt.Fprintln(w, "| gateway p99 StasisStart → first command at 150 cps | not reached | ≤ 5 ms | **no** |")
	}
	for _, p := range r.Plateaus {
		if p.Path != "gateway" {
			continue
		}
		switch {
		case p.Held <= 0:
			fmt.Fprintf(w, "| gateway RSS per active call at %d requested | no call held | ≤ 16 KiB at 5,000 | **no** |\n", p.N)
		case p.Failed > 0:
			fmt.Fprintf(w, "| gateway RSS per active call at %.0f held (%d requested, %d failed) | %.1f KiB (heap %.1f KiB) | ≤ 16 KiB at 5,000 | **no** (calls failed) |\n",
				p.Held, p.N, p.Failed, p.GoBytesCall/1024, p.HeapBytesCall/1024)
		default:
			fmt.Fprintf(w, "| gateway RSS per active call at %.0f held | %.1f KiB (heap %.1f KiB) | ≤ 16 KiB at 5,000 | %s |\n",
				p.Held, p.GoBytesCall/1024, p.HeapBytesCall/1024, yesNote(p.GoBytesCall <= 16*1024, p.N != 5000))
		}
	}
	fmt.Fprintf(w, "\nLogs and raw SIPp statistics: %s\n", r.OutDir)
}

// commonRate is the highest rate that passed on every path; 0 if none did.
func commonRate(r *results, o options) int {
	best := 0
	for _, rate := range o.rates {
		all := true
		for _, p := range o.paths {
			if s := find(r, p, rate); s == nil || !s.Pass {
				all = false
			}
		}
		if all && rate > best {
			best = rate
		}
	}
	return best
}

func find(r *results, path string, rate int) *stepResult {
	for i := range r.Steps {
		if r.Steps[i].Path == path && r.Steps[i].Rate == rate {
			return &r.Steps[i]
		}
	}
	return nil
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

func numOrDash(v float64, show bool) string {
	if !show {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func msOrDash(v float64) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}
