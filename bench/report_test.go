package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func benchOptions() options {
	return options{rates: []int{25, 50}, paths: []string{"gateway", "baseline", "queue"}, step: 15 * time.Second, talk: time.Second, hold: 30 * time.Second}
}

// A run whose steps all failed reports no ratio and no "yes", and exits
// non-zero.
func TestReportFromFailedStepsClaimsNothing(t *testing.T) {
	o := benchOptions()
	r := &results{Started: time.Now(), PeakRSSKB: map[string]int64{}}
	for _, p := range o.paths {
		for _, rate := range o.rates {
			r.Steps = append(r.Steps, stepResult{Path: p, Rate: rate, Calls: rate * 15, Failed: 3, GoMS: 0.5, AstMS: 1, Why: "3 failed calls"})
		}
	}
	r.Steps = append(r.Steps, stepResult{Path: "gateway", Rate: 150, Failed: 9, P99MS: 1, Why: "9 failed calls"})
	r.Plateaus = []plateauResult{{Path: "gateway", N: 1000, Failed: 1000, ActiveSeen: 0}}
	var b bytes.Buffer
	report(&b, r, o)
	out := b.String()
	if strings.Contains(out, "| yes") || strings.Contains(out, "× (") {
		t.Errorf("report of failed steps claims a ratio or a met target:\n%s", out)
	}
	for _, want := range []string{"no rate passed on every path", "gateway: none (no step passed)", "step failed (9 failed calls)", "no call held"} {
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

// Ratios come from passing steps at the highest rate every path passed.
func TestReportRatiosFromPassingSteps(t *testing.T) {
	o := benchOptions()
	r := &results{Started: time.Now(), PeakRSSKB: map[string]int64{}}
	for _, p := range o.paths {
		r.Steps = append(r.Steps, stepResult{Path: p, Rate: 25, Pass: true, GoMS: 1, AstMS: 2})
		r.Steps = append(r.Steps, stepResult{Path: p, Rate: 50, Pass: p != "queue", GoMS: 100, AstMS: 100, Why: "x"})
	}
	var b bytes.Buffer
	report(&b, r, o)
	if out := b.String(); !strings.Contains(out, "CPU at 25 cps") || !strings.Contains(out, "1.00× (1.00 / 1.00 ms)") {
		t.Errorf("ratios not taken at 25 cps (the highest rate every path passed):\n%s", out)
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
