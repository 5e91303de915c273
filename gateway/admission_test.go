package gateway

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/internal/conf"
)

func withAdmission(a AdmissionConfig) func(o *Options) {
	return func(o *Options) { o.Admission = a; o.Application = "hotline-gw" }
}

// admitFlag is the last value the gateway gave the dialplan's admit flag:
// "" (do not answer for it), "time" (a Unix time: answer) or "-" (none yet).
func (r *rig) admitFlag() string {
	v := "-"
	for _, a := range r.pbx.Actions() {
		if w := strings.Fields(a); w[0] == "set_global" && w[1] == "HOTLINE_ADMIT_hotline_gw" {
			v = strings.Join(w[2:], "")
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > time.Now().Unix()-5 {
				v = "time"
			}
		}
	}
	return v
}

func (r *rig) shedMetric(line, reason string) float64 {
	return testutil.ToFloat64(r.m.Calls.Shed.WithLabelValues(line, reason))
}

// Over admission.max_calls a new caller is refused before answer with
// congestion (SIP 503, Q.850 34), counted inbound and shed once, with no
// ticket; the calls already taken stay as they are, and once one ends the
// next caller is taken again.
func TestCallsOverMaxCallsAreShed(t *testing.T) {
	r := newRig(t, rigOptions{tweak: withAdmission(AdmissionConfig{MaxCalls: 2})})
	r.svc.adm.connected.Store(true) // as after OnConnect
	r.svc.admissionChanged()
	waitFor(t, "the dialplan told to answer", func() bool { return r.admitFlag() == "time" })
	r.start("c1", EntryInbound, "12345")
	r.start("c2", EntryInbound, "12333")
	r.waitAction("moh c1 hold")
	r.waitAction("moh c2 hold")
	r.start("c3", EntryInbound, "12345")
	r.waitAction("hangup c3 congestion")
	r.waitEnded("c3")
	if got := r.pbx.about("c3"); !slices.Equal(got, []string{"hangup c3 congestion"}) {
		t.Errorf("requests for the shed call %q, want only its hangup with congestion (never answered)", got)
	}
	for _, id := range []string{"c1", "c2"} {
		if !r.live(id) || r.phase(id) != phaseQueue || slices.ContainsFunc(r.pbx.about(id), func(a string) bool { return a == "hangup "+id+" congestion" }) {
			t.Errorf("call %s taken before the limit was touched: live %v, requests %q", id, r.live(id), r.pbx.about(id))
		}
	}
	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 2 || tot.Get(count.Shed, "12345") != 1 || tot.Sum(count.Shed) != 1 ||
		tot.Sum(count.AbandonGreeting) != 0 || tot.Sum(count.Rejected) != 0 {
		t.Errorf("counts %v, want 12345 inbound 2 (c1, c3) and shed 1 (c3), nothing abandoned or rejected", tot)
	}
	if got := r.shedMetric("12345", ShedCalls); got != 1 {
		t.Errorf("hotline_calls_shed_total{12345,calls} = %v, want 1", got)
	}
	// The dialplan is told to leave new calls unanswered: the next one
	// would be refused too (SIP 503 rather than 200 and a BYE).
	waitFor(t, "the admit flag cleared", func() bool { return r.admitFlag() == "" })

	r.hangup("c1")
	r.waitEnded("c1")
	waitFor(t, "the admit flag set again", func() bool { return r.admitFlag() == "time" })
	r.start("c4", EntryInbound, "12345")
	r.waitAction("moh c4 hold")
	for _, id := range []string{"c2", "c4"} {
		r.hangup(id)
		r.waitEnded(id)
	}
	for _, tk := range r.tickets() {
		if tk.GetCallId() == "c3" {
			t.Errorf("a ticket for the shed call: %v", tk)
		}
	}
	if tot := r.counts(); tot.Sum(count.Shed) != 1 || tot.Sum(count.Inbound) != 4 {
		t.Errorf("counts %v, want 4 inbound, 1 shed", tot)
	}
}

// A call from 110 is never shed: 110's transfers are taken whatever the load.
func TestFrom110IsNotShed(t *testing.T) {
	r := newRig(t, rigOptions{tweak: withAdmission(AdmissionConfig{MaxCalls: 1})})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.start("p1", EntryFrom110, "12345")
	r.waitAction("moh p1 hold")
	if r.pbx.has("hangup p1 congestion") {
		t.Fatalf("110's call refused: %q", r.pbx.Actions())
	}
}

// Saturated ARI (requests in flight, their latency) sheds new calls, with
// the reason in the metric; a call already answered keeps going.
func TestARILoadShedsNewCallsAndKeepsAnsweredOnes(t *testing.T) {
	r := newRig(t, rigOptions{tweak: withAdmission(AdmissionConfig{MaxARIInflight: 10, MaxARILatency: conf.Duration(500 * time.Millisecond)})})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	for i, tc := range []struct {
		load   ari.Load
		reason string
	}{
		{ari.Load{InFlight: 8, Waiting: 2}, ShedARIInflight},
		{ari.Load{InFlight: 1, Latency: 600 * time.Millisecond, Timeouts: 3}, ShedARILatency},
	} {
		r.pbx.set(func(f *fakePBX) { f.load = tc.load })
		id := fmt.Sprintf("n%d", i)
		r.start(id, EntryInbound, "12345")
		r.waitAction("hangup " + id + " congestion")
		r.waitEnded(id)
		if got := r.shedMetric("12345", tc.reason); got != 1 {
			t.Errorf("load %+v: hotline_calls_shed_total{12345,%s} = %v, want 1", tc.load, tc.reason, got)
		}
	}
	if !r.live("c1") || r.pbx.has("hangup c1 congestion") {
		t.Fatalf("the answered call was dropped for overload: %q", r.pbx.about("c1"))
	}
	r.pbx.set(func(f *fakePBX) { f.load = ari.Load{InFlight: 9, Latency: 100 * time.Millisecond} })
	r.start("c2", EntryInbound, "12345")
	r.waitAction("moh c2 hold")
	if tot := r.counts(); tot.Get(count.Shed, "12345") != 2 || tot.Get(count.Inbound, "12345") != 4 {
		t.Errorf("counts %v, want 12345: 4 inbound, 2 shed", tot)
	}
}

// Calls still in their greeting are unsettled: over admission.max_unsettled
// the next one is shed; once the greeting ends, calls are taken again.
func TestUnsettledCallsAreBounded(t *testing.T) {
	r := newRig(t, rigOptions{tweak: withAdmission(AdmissionConfig{MaxUnsettled: 1})})
	r.start("g1", EntryInbound, "12315") // a line with a greeting
	r.waitAction("play g1 greet-g1 sound:welcome-12315")
	r.start("g2", EntryInbound, "12315")
	r.waitAction("hangup g2 congestion")
	if got := r.shedMetric("12315", ShedUnsettled); got != 1 {
		t.Errorf("hotline_calls_shed_total{12315,unsettled} = %v, want 1", got)
	}
	r.playbackFinished("g1", "greet-g1")
	r.waitAction("moh g1 hold")
	r.start("g3", EntryInbound, "12315")
	r.waitAction("play g3 greet-g3 sound:welcome-12315")
	if r.pbx.has("hangup g3 congestion") {
		t.Fatal("a call shed with nobody unsettled")
	}
}

// An Answer that keeps failing is tried admission.answer_attempts times,
// then the caller is refused with congestion and counted shed once (not
// abandoned), with its ticket: never retried every second forever.
func TestAnswerAttemptsAreBounded(t *testing.T) {
	r := newRig(t, rigOptions{
		tweak: withAdmission(AdmissionConfig{AnswerAttempts: 3}),
		pbx: func(f *fakePBX) {
			f.answer = func(ctx context.Context, id string) error {
				return fmt.Errorf("ari answer %q: %w: timeout", id, ari.ErrUnavailable)
			}
		},
	})
	start := time.Now()
	r.start("c1", EntryInbound, "12345")
	r.waitAction("hangup c1 congestion")
	took := time.Since(start)
	answers := 0
	for _, a := range r.pbx.about("c1") {
		if a == "answer c1" {
			answers++
		}
	}
	if answers != 3 {
		t.Errorf("%d Answer requests, want 3: %q", answers, r.pbx.about("c1"))
	}
	if took < 700*time.Millisecond {
		t.Errorf("3 attempts within %v: want backoff (250ms, then 500ms)", took)
	}
	r.hangup("c1")
	r.waitEnded("c1")
	if got := r.ticket("c1").GetEndReason(); got != "shed" {
		t.Errorf("ticket end reason %q, want shed", got)
	}
	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 1 || tot.Get(count.Shed, "12345") != 1 || tot.Sum(count.AbandonGreeting) != 0 {
		t.Errorf("counts %v, want inbound 1 and shed 1, not abandoned", tot)
	}
	if got := r.shedMetric("12345", ShedAnswerFailed); got != 1 {
		t.Errorf("hotline_calls_shed_total{12345,answer_failed} = %v, want 1", got)
	}
	if r.activeGauge("12345") != 0 {
		t.Errorf("active calls %v, want 0", r.activeGauge("12345"))
	}
}

func TestAdmissionConfigValidate(t *testing.T) {
	good := DefaultAdmissionConfig()
	if errs := good.Validate(); len(errs) != 0 {
		t.Fatalf("defaults: %v", errs)
	}
	for _, tc := range []struct {
		field  string
		mutate func(c *AdmissionConfig)
	}{
		{"admission.max_calls", func(c *AdmissionConfig) { c.MaxCalls = -1 }},
		{"admission.max_unsettled", func(c *AdmissionConfig) { c.MaxUnsettled = -5 }},
		{"admission.max_ari_inflight", func(c *AdmissionConfig) { c.MaxARIInflight = 2_000_000 }},
		{"admission.max_ari_latency", func(c *AdmissionConfig) { c.MaxARILatency = conf.Duration(-time.Second) }},
		{"admission.answer_attempts", func(c *AdmissionConfig) { c.AnswerAttempts = 0 }},
		{"admission.answer_attempts", func(c *AdmissionConfig) { c.AnswerAttempts = 11 }},
	} {
		c := DefaultAdmissionConfig()
		tc.mutate(&c)
		errs := c.Validate()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.field) {
			t.Errorf("%s: errors %v, want one naming it", tc.field, errs)
		}
	}
}

// A refused call whose hangup timed out (Asterisk saturated) is hung up
// again until Asterisk takes it, and ends without a ticket; a caller the
// dialplan already answered is taken even over the limit (never an
// answered call hung up for load).
func TestRefusedCallIsHungUpUntilGoneAndAnsweredOneIsKept(t *testing.T) {
	r := newRig(t, rigOptions{tweak: withAdmission(AdmissionConfig{MaxCalls: 1, AnswerAttempts: 3})})
	r.svc.adm.connected.Store(true)
	r.svc.admissionChanged()
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")

	var fails atomic.Int32
	fails.Store(2)
	r.pbx.set(func(f *fakePBX) {
		f.hangup = func(ctx context.Context, id, reason string) error {
			if id == "c2" && fails.Add(-1) >= 0 {
				return fmt.Errorf("ari hangup %q: %w: context deadline exceeded", id, ari.ErrUnavailable)
			}
			return nil
		}
	})
	r.start("c2", EntryInbound, "12345")
	r.waitEnded("c2")
	if got := r.pbx.about("c2"); !slices.Equal(got, []string{"hangup c2 congestion", "hangup c2 congestion", "hangup c2 congestion"}) {
		t.Errorf("requests for the shed call %q, want its hangup three times (two timed out)", got)
	}

	// Over the limit too, but the dialplan answered it: taken and queued.
	r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Args: []string{EntryInbound, "12345"},
		Channel: ariv5.ChannelData{ID: "c3", State: "Up", Caller: &ariv5.CallerID{Number: testCaller}}})
	r.waitAction("moh c3 hold")
	if slices.Contains(r.pbx.about("c3"), "hangup c3 congestion") || slices.Contains(r.pbx.about("c3"), "answer c3") {
		t.Errorf("the answered caller was refused or answered again: %q", r.pbx.about("c3"))
	}
	for _, id := range []string{"c1", "c3"} {
		r.hangup(id)
		r.waitEnded(id)
	}
	tot := r.counts()
	if tot.Sum(count.Shed) != 1 || tot.Sum(count.Inbound) != 3 {
		t.Errorf("counts %v, want 3 inbound, 1 shed (c2)", tot)
	}
	for _, tk := range r.tickets() {
		if tk.GetCallId() == "c2" {
			t.Errorf("a ticket for the shed call: %v", tk)
		}
	}
}
