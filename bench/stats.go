package main

import (
	"fmt"
	"math"
	"sort"
)

// spread is the median and range of one measure over the rounds of a step.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"` // values it was taken from (0: nothing measured)
}

// spreadOf is the median (mean of the middle two for an even count), min and
// max of the finite, non-negative values of v (-1 and NaN mean "not
// measured" and are left out).
func spreadOf(v []float64) spread {
	var s []float64
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0 {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return spread{Median: -1, Min: -1, Max: -1}
	}
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// String is "median (min–max)", or "–" when nothing was measured.
func (s spread) format(prec int) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return fmt.Sprintf("%.*f", prec, s.Median)
	}
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, s.Median, prec, s.Min, prec, s.Max)
}

// cpuSample is utime+stime of one process in ms at a moment.
type cpuSample struct {
	ms float64
	ok bool
}

// cpuPerCall is a process's CPU per call over a step: the CPU it used from
// before to after, minus its background (bgPerSec ms of CPU per second,
// measured idle just before the step) over the step's elapsed time, divided
// by the calls. A background larger than the step's use gives 0, not a
// negative cost. -1 when either sample is missing or there were no calls.
func cpuPerCall(before, after cpuSample, bgPerSec, elapsedSec float64, calls int) float64 {
	if !before.ok || !after.ok || calls <= 0 || after.ms < before.ms {
		return -1
	}
	return perCall(after.ms-before.ms, bgPerSec, elapsedSec, calls)
}

// perCall is n (CPU ms, requests) over calls once the background rate
// bgPerS (unknown: < 0, taken as 0) over el seconds is taken off, never
// below 0; -1 without calls.
func perCall(n, bgPerS, el float64, calls int) float64 {
	if calls <= 0 {
		return -1
	}
	return math.Max(n-math.Max(bgPerS, 0)*el, 0) / float64(calls)
}

// background is a process's CPU rate in ms per second between two samples
// secs apart (-1 if unknown).
func background(before, after cpuSample, secs float64) float64 {
	if !before.ok || !after.ok || secs <= 0 || after.ms < before.ms {
		return -1
	}
	return (after.ms - before.ms) / secs
}

// percentile is the q-quantile (0..1) of v by nearest rank; -1 when empty.
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return -1
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ratios pairs the rounds of two paths at one rate (round i of a with round
// i of b, run next to each other) and returns a[i] ÷ b[i] for each round
// where both were measured and b is positive.
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if a[i] >= 0 && b[i] > 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// sumCPU adds per-call CPU figures, -1 if any part is unmeasured.
func sumCPU(parts ...float64) float64 {
	t := 0.0
	for _, p := range parts {
		if p < 0 || math.IsNaN(p) {
			return -1
		}
		t += p
	}
	return t
}
