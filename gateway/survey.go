package gateway

import (
	"context"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/count"
)

// Survey results (ticket field and metric label).
const (
	SurveySatisfied   = "satisfied"
	SurveyUnsatisfied = "unsatisfied"
	SurveyNoAnswer    = "no_answer"
)

// SurveyDetailPrefix starts the detail of the CallProgress ENDED event that
// tells the agent's desktop the survey's result ("survey:satisfied").
const SurveyDetailPrefix = "survey:"

// startSurvey keeps the caller after the agent hung up first and asks for
// a rating by keypad.
func (c *Call) startSurvey(ctx context.Context) {
	c.enter(phaseSurvey)
	c.surveyPB = dialplan.SurveyPlayback(c.id)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if err := c.s.o.PBX.Play(octx, c.id, c.surveyPB, c.s.o.Survey.Prompt); err != nil {
		c.s.log.Warn("survey prompt failed", "call_id", c.id, "err", err)
		c.surveyDone(ctx, SurveyNoAnswer, false)
		return
	}
	// The wait starts with the prompt; a key during the prompt counts too.
	c.schedule("survey", c.s.o.Survey.Timeout.D()+10*time.Second, func(c *Call) { c.surveyDone(c.ctx, SurveyNoAnswer, false) })
}

// surveyEvent handles the caller's key and the prompts' ends.
func (c *Call) surveyEvent(ctx context.Context, ev ariv5.Event) {
	switch e := ev.(type) {
	case *ariv5.ChannelDtmfReceived:
		if e.Channel.ID != c.id || c.satisfaction != "" {
			return
		}
		if r, ok := c.s.o.Survey.Keys[e.Digit]; ok {
			c.surveyDone(ctx, r, true)
		}
	case *ariv5.PlaybackFinished:
		switch e.Playback.ID {
		case c.surveyPB:
			if c.satisfaction == "" {
				c.schedule("survey", c.s.o.Survey.Timeout.D(), func(c *Call) { c.surveyDone(c.ctx, SurveyNoAnswer, false) })
			}
		case c.surveyPB + "-thanks":
			c.hangupCaller(ctx, "normal")
		}
	}
}

// surveyDone records the result once; with thanks it plays the thanks
// prompt before hanging up.
func (c *Call) surveyDone(ctx context.Context, result string, thanks bool) {
	if c.satisfaction != "" {
		return
	}
	c.unschedule("survey")
	c.satisfaction = result
	c.recordSurvey()
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	// The desk of the agent who talked shows the rating.
	c.publishProgress(octx, c.ticketAgent, hotlinev1.CallProgress_KIND_ENDED, SurveyDetailPrefix+result)
	_ = c.s.o.PBX.StopPlayback(octx, c.surveyPB)
	if thanks {
		if err := c.s.o.PBX.Play(octx, c.id, c.surveyPB+"-thanks", c.s.o.Survey.Thanks); err == nil {
			c.schedule("survey", 15*time.Second, func(c *Call) { c.hangupCaller(c.ctx, "normal") })
			return
		}
	}
	c.hangupCaller(ctx, "normal")
}

// recordSurvey counts the survey's result (also when the caller hung up
// without a key).
func (c *Call) recordSurvey() {
	kind := count.SurveyNoAnswer
	switch c.satisfaction {
	case SurveySatisfied:
		kind = count.Satisfied
	case SurveyUnsatisfied:
		kind = count.Unsatisfied
	}
	c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: kind, Line: c.line.Number, At: c.entered})
	c.s.o.Metrics.Outbound.SurveyResult(c.line.Number, c.satisfaction)
}

// surveyEnabled reports whether the caller is surveyed when the agent hangs up.
func (c *Call) surveyEnabled() bool {
	return c.s.o.Survey.Enabled && c.entry != EntryOutbound
}

// addCallback makes a missed inbound call a call-back task: abandoned in
// the queue, a requested call-back, or refused with congestion (reason,
// callback.Reason*). A caller without a number the hotline would call back
// gets none. A failure (Redis) is logged and changes nothing else: the
// call's counts and ticket do not depend on it.
func (c *Call) addCallback(ctx context.Context, at time.Time, reason string) {
	if c.s.o.Callbacks == nil || c.s.o.Numbers == nil || c.entry != EntryInbound {
		return
	}
	n, ok := c.s.o.Numbers.Caller(c.caller)
	if !ok {
		return
	}
	if _, err := c.s.o.Numbers.Outbound(n.Digits()); err != nil {
		return // a number the hotline would not call back
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	_, created, err := c.s.o.Callbacks.Add(octx, callback.Task{CallerNumber: n.Digits(), Line: c.line.Number, CallID: c.id, AbandonedAt: at, Reason: reason})
	switch {
	case err != nil:
		c.s.log.Warn("call-back task not created", "call_id", c.id, "reason", reason, "err", err)
	case created:
		c.s.log.Debug("call-back task created", "call_id", c.id, "caller", n, "reason", reason)
	}
}
