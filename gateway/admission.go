package gateway

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/internal/conf"
)

// AdmissionConfig is the `admission:` section: when the gateway is
// saturated it refuses new inbound calls before answer with congestion
// (SIP 503, Q.850 34), counted (kind shed), instead of queueing everything
// until every call fails. Calls already taken are never refused. A limit of
// 0 is no limit.
type AdmissionConfig struct {
	// MaxCalls: inbound calls live on this gateway at once.
	MaxCalls int `yaml:"max_calls"`
	// MaxUnsettled: calls not yet settled (entered, not yet queued: being
	// answered or hearing the greeting).
	MaxUnsettled int `yaml:"max_unsettled"`
	// MaxARIInflight: REST requests in flight to Asterisk (see
	// ari.max_inflight, which bounds them; keep this below it so that the
	// calls already taken keep some room).
	MaxARIInflight int `yaml:"max_ari_inflight"`
	// MaxARILatency: the REST requests' moving average duration (a request
	// that timed out weighs in with its whole duration).
	MaxARILatency conf.Duration `yaml:"max_ari_latency"`
	// AnswerAttempts: a caller whose Answer failed that often is refused
	// with congestion (attempts 250ms, 500ms, 1s... apart), never retried
	// forever.
	AnswerAttempts int `yaml:"answer_attempts"`
}

// DefaultAdmissionConfig is the section's defaults.
func DefaultAdmissionConfig() AdmissionConfig {
	return AdmissionConfig{
		MaxCalls:       0,
		MaxUnsettled:   1000,
		MaxARIInflight: 96,
		MaxARILatency:  conf.Duration(time.Second),
		AnswerAttempts: 3,
	}
}

// Validate returns an error per bad field, named by its YAML path.
func (c *AdmissionConfig) Validate() []error {
	var e conf.Errors
	for _, f := range []struct {
		name string
		v    int
	}{{"admission.max_calls", c.MaxCalls}, {"admission.max_unsettled", c.MaxUnsettled},
		{"admission.max_ari_inflight", c.MaxARIInflight}} {
		if f.v < 0 || f.v > 1_000_000 {
			e.Bad(f.name, "%d must be between 0 (no limit) and 1000000", f.v)
		}
	}
	if c.MaxARILatency < 0 || c.MaxARILatency > conf.Duration(time.Minute) {
		e.Bad("admission.max_ari_latency", "%s must be between 0s (no limit) and 1m", c.MaxARILatency.D())
	}
	if c.AnswerAttempts < 1 || c.AnswerAttempts > 10 {
		e.Bad("admission.answer_attempts", "%d must be between 1 and 10", c.AnswerAttempts)
	}
	return e.List()
}

// Reasons a call is shed (the reason label of hotline_calls_shed_total).
const (
	ShedCalls        = "calls"
	ShedUnsettled    = "unsettled"
	ShedARIInflight  = "ari_inflight"
	ShedARILatency   = "ari_latency"
	ShedAnswerFailed = "answer_failed"
)

// loadReporter is what admission control reads of the PBX, when the PBX
// tells it (*ari.Client does).
type loadReporter interface{ Load() ari.Load }

// globalSetter sets Asterisk globals (*ari.Client does).
type globalSetter interface {
	SetGlobal(ctx context.Context, name, value string) error
}

// admission is the Service's admission control: counters of the calls
// admitted and still unsettled, and the dialplan's admit flag.
type admission struct {
	cfg       AdmissionConfig
	live      atomic.Int64 // admitted inbound calls not ended
	unsettled atomic.Int64 // admitted, still in phase new or greeting

	connected atomic.Bool // ARI connected and resynchronised (OnConnect)

	mu   sync.Mutex
	want bool // calls are taken: the dialplan may answer for this gateway
	kick chan struct{}
}

// saturated says why a new call cannot be taken now ("" when it can);
// extra is the call being decided, already counted in live and unsettled
// (0 when asking for the next call).
func (s *Service) saturated(extra int64) string {
	a := &s.adm
	if lr, ok := s.o.PBX.(loadReporter); ok {
		l := lr.Load()
		if a.cfg.MaxARIInflight > 0 && l.InFlight+l.Waiting >= a.cfg.MaxARIInflight {
			return ShedARIInflight
		}
		if a.cfg.MaxARILatency > 0 && l.Latency >= a.cfg.MaxARILatency.D() {
			return ShedARILatency
		}
	}
	if a.cfg.MaxCalls > 0 && a.live.Load()+1-extra > int64(a.cfg.MaxCalls) {
		return ShedCalls
	}
	if a.cfg.MaxUnsettled > 0 && a.unsettled.Load()+1-extra > int64(a.cfg.MaxUnsettled) {
		return ShedUnsettled
	}
	return ""
}

// admit decides whether the new inbound call c is taken; a call that is
// not is shed (refused with congestion, counted) and admit reports false.
func (c *Call) admit(ctx context.Context) bool {
	if c.admitted {
		return true
	}
	a := &c.s.adm
	a.live.Add(1)
	a.unsettled.Add(1)
	// A caller the dialplan answered (the admit flag was fresh) is taken
	// whatever the load: refusing it now would hang up an answered call.
	if why := c.s.saturated(1); why != "" && !c.upAtStart {
		a.live.Add(-1)
		a.unsettled.Add(-1)
		c.s.admissionChanged()
		c.shed(ctx, why)
		return false
	}
	c.admitted, c.unsettled = true, true
	c.s.admissionChanged()
	return true
}

// settled is called as the call leaves phase new or greeting, or ends.
func (c *Call) settled() {
	if c.unsettled {
		c.unsettled = false
		c.s.adm.unsettled.Add(-1)
	}
}

// released is called once the call's owner has ended.
func (c *Call) released() {
	c.settled()
	if c.admitted {
		c.admitted = false
		c.s.adm.live.Add(-1)
		c.s.admissionChanged()
	}
}

// shed refuses the caller with congestion before answer and counts it:
// inbound on its line (once, like every call) and shed. A call not yet
// counted nor registered ends at once without a ticket (like a rejected
// one); a counted one (its Answer kept failing) ends on its StasisEnd with
// its ticket (end reason "shed"). Once the caller is hung up (never
// before: the refusal is not delayed), a refused citizen becomes a
// call-back task (reason "shed"), like a caller abandoned in the queue.
func (c *Call) shed(ctx context.Context, why string) {
	now := time.Now()
	c.s.log.Warn("call refused with congestion: gateway saturated", "call_id", c.id, "line", c.line.Number, "reason", why)
	c.s.o.Metrics.Calls.Shed.WithLabelValues(c.line.Number, why).Inc()
	if !c.counted {
		c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Inbound, Line: c.line.Number, At: c.entered})
	}
	c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Shed, Line: c.line.Number, At: c.entered})
	c.end = End{Result: EndShed, Reason: why}
	if c.counted {
		c.hangupCaller(ctx, "congestion") // its StasisEnd finishes the call
	} else {
		octx, cancel := c.s.opCtx(ctx)
		c.s.o.Metrics.Calls.StartToCommand.Observe(time.Since(c.received).Seconds())
		c.dismiss(octx, "congestion")
		cancel()
	}
	c.addCallback(ctx, now, callback.ReasonShed)
}

// admissionChanged recomputes whether the next call would be taken and,
// when that changed, has the flag loop tell the dialplan.
func (s *Service) admissionChanged() {
	want := s.adm.connected.Load() && s.Accepting() && s.saturated(0) == ""
	a := &s.adm
	a.mu.Lock()
	changed := a.want != want
	a.want = want
	a.mu.Unlock()
	if changed {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// Timing of the dialplan's admit flag.
const (
	flagRefresh     = 500 * time.Millisecond // refreshed that often while calls are taken
	flagMinInterval = 100 * time.Millisecond // at most one change per interval
)

// runFlag keeps the dialplan's admit flag (dialplan.AdmitGlobal) until ctx
// is done: the Unix time in seconds, refreshed every 500 ms, while this
// gateway is connected, takes calls and is not saturated; empty otherwise,
// and at the end. The dialplan answers the hotline's known lines itself
// only while the flag is fresh (at most 1 s old), so a call the gateway
// will refuse, or that no gateway takes, gets SIP 503 before answer rather
// than 200 and a BYE; a gateway killed outright leaves it fresh for up to
// 2 s, and one whose REST requests are slow lets it go stale (the calls are
// then answered by the gateway, as without the flag).
func (s *Service) runFlag(ctx context.Context) {
	gs, ok := s.o.PBX.(globalSetter)
	if !ok || s.o.Application == "" {
		return
	}
	name := dialplan.AdmitGlobal(s.o.Application)
	set := func(ctx context.Context, value string) error {
		octx, cancel := s.opCtx(ctx)
		defer cancel()
		return gs.SetGlobal(octx, name, value)
	}
	current := "-" // what Asterisk holds: "-" unknown, "" clear, a time
	defer func() {
		if current == "" || current == "-" {
			return
		}
		// Stopping: the dialplan stops answering for this gateway at once.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := set(cctx, ""); err != nil {
			s.log.Warn("admission: admit flag not cleared in Asterisk", "variable", name, "err", err)
		}
	}()
	tick := time.NewTimer(flagRefresh)
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.adm.kick:
			s.adm.mu.Lock()
			admit := s.adm.want
			s.adm.mu.Unlock()
			// Clearing is urgent (the next caller must not be answered);
			// taking calls again waits out the interval, against flapping.
			if wait := flagMinInterval - time.Since(last); admit && wait > 0 {
				tick.Reset(wait)
				continue
			}
		case <-tick.C:
		}
		s.adm.mu.Lock()
		want := s.adm.want
		s.adm.mu.Unlock()
		value := ""
		if want {
			value = strconv.FormatInt(time.Now().Unix(), 10)
		}
		tick.Reset(flagRefresh)
		if value == "" && (current == "" || current == "-") {
			continue // a time left by a previous process is stale in 2 s
		}
		last = time.Now()
		if err := set(ctx, value); err != nil {
			s.log.Warn("admission: admit flag not set in Asterisk", "variable", name, "admit", want, "err", err)
			if value == "" {
				current = "?" // cleared again at the next tick
			}
			continue
		}
		if (value == "") != (current == "") {
			s.log.Info("admission: the dialplan told whether to answer for this gateway", "variable", name, "admit", want)
		}
		current = value
	}
}
