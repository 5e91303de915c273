package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/number"
)

// Outbound call results (the OriginateResponse result and the metric label).
const (
	ResultConnected     = "connected"
	ResultAgentNoAnswer = "agent_no_answer"
	ResultBusy          = "busy"
	ResultNoAnswer      = "no_answer"
	ResultInvalidNumber = "invalid_number"
	ResultRejected      = "rejected"
	ResultFailed        = "failed"
)

// Errors of Originate; the gRPC edge maps them to status codes.
var (
	ErrBadRequest  = errors.New("bad originate request")
	ErrAgentBusy   = errors.New("agent is not free for an outbound call")
	ErrRateLimited = errors.New("outbound calls are rate limited")
)

// OriginateRequest is an agent's outbound call to a citizen.
type OriginateRequest struct {
	AgentExt   string
	Number     number.Number // validated by the number policy
	Purpose    string        // "follow_up" or "callback"
	Line       string
	TicketID   string // the ticket this call follows up
	CallbackID string
	release    func()
	pausedByUs bool
}

// outState is an outbound call's own state, owned by its Call's goroutine.
type outState struct {
	req        OriginateRequest
	citizenLeg string
	result     string
	reply      chan string               // receives the result once
	verdict    *hotlinev1.FollowUpResult // the citizen's verdict (followup.go)
}

// Originate rings the agent, then the citizen with the hotline's caller
// ID, and bridges them. It returns when the result is known (connected or
// why not). The caller validated the number and claimed any call-back task.
func (s *Service) Originate(ctx context.Context, req OriginateRequest) (callID, result string, err error) {
	if s.o.Pool == nil {
		return "", "", fmt.Errorf("originate: no agent pool: %w", ErrBadRequest)
	}
	if !s.Accepting() {
		return "", "", fmt.Errorf("originate: gateway draining: %w", ErrAgentBusy)
	}
	release, err := s.o.Limiter.Acquire(ctx)
	if err != nil {
		return "", ResultRejected, fmt.Errorf("originate: %w", ErrRateLimited)
	}
	req.release = release
	a, err := s.o.Pool.Get(ctx, req.AgentExt)
	switch {
	case errors.Is(err, acd.ErrUnknownAgent):
		release()
		return "", "", fmt.Errorf("originate: agent %s: %w: %w", req.AgentExt, ErrAgentBusy, err)
	case err != nil:
		release()
		return "", "", fmt.Errorf("originate: agent %s: %w", req.AgentExt, err)
	case a.State == acd.Ready:
		if _, err := s.o.Pool.Pause(ctx, req.AgentExt, "outbound"); err != nil {
			release()
			return "", "", fmt.Errorf("originate: agent %s: %w", req.AgentExt, ErrAgentBusy)
		}
		req.pausedByUs = true
	case a.State != acd.Paused:
		release()
		return "", "", fmt.Errorf("originate: agent %s is %s: %w", req.AgentExt, a.State, ErrAgentBusy)
	}
	id := dialplan.NewOutboundCallID()
	c := s.newCall(id, nil)
	c.entry = EntryOutbound
	c.out = &outState{req: req, reply: make(chan string, 1)}
	c.mb = s.o.Dispatcher.NewMailbox(id, 0)
	if !s.spawn(c, nil) {
		release()
		if req.pausedByUs {
			rctx, cancel := s.opCtx(context.WithoutCancel(ctx))
			if _, err := s.o.Pool.SetReady(rctx, req.AgentExt); err != nil {
				s.log.Warn("originate: agent paused for the call not made ready again", "agent", req.AgentExt, "err", err)
			}
			cancel()
		}
		return "", "", fmt.Errorf("originate: gateway stopping: %w", ErrAgentBusy)
	}
	if err := tell(ctx, c, func(c *Call) { c.startOutbound(c.ctx) }); err != nil {
		return id, "", fmt.Errorf("originate: %w", err) // its owner ended: handed over, slot and agent freed there
	}
	select {
	case r := <-c.out.reply:
		return id, r, nil
	case <-ctx.Done():
		return id, "", ctx.Err()
	}
}

// startOutbound rings the agent's phone.
func (c *Call) startOutbound(ctx context.Context) {
	o := c.out
	c.entered = time.Now()
	c.caller = c.s.o.OutboundCallerID
	c.dnis = o.req.Number.Digits()
	l, ok := c.s.o.Plan.Get(o.req.Line)
	if !ok {
		l = c.s.o.Plan.Main()
	}
	c.line = l
	c.skill = l.Skill
	c.agentExt = o.req.AgentExt
	c.agentLeg = dialplan.OutboundAgentLeg(c.id)
	c.enter(phaseRinging)
	c.s.o.Metrics.Outbound.Active.Inc()
	c.s.o.Dispatcher.Attach(ari.KindChannel, c.agentLeg, c.mb)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	err := c.s.o.PBX.Originate(octx, ari.OriginateParams{
		ChannelID: c.agentLeg,
		Endpoint:  strings.ReplaceAll(c.s.o.AgentEndpoint, "{ext}", c.agentExt),
		CallerID:  o.req.Number.Digits(),
		Timeout:   c.s.o.RingTimeout,
		AppArgs:   "outbound-agent," + c.id,
		Variables: map[string]string{dialplan.VarRole: dialplan.RoleAgent},
	})
	if err != nil {
		c.s.log.Warn("outbound: agent originate failed", "call_id", c.id, "agent", c.agentExt, "err", err)
		c.outboundEnd(ctx, ResultFailed)
	}
}

// deliverOutbound handles the events of an outbound call's two legs.
func (c *Call) deliverOutbound(ctx context.Context, ev ariv5.Event) {
	o := c.out
	switch e := ev.(type) {
	case *ariv5.StasisStart:
		switch e.Channel.ID {
		case c.agentLeg:
			c.outAgentAnswered(ctx)
		case o.citizenLeg:
			c.outCitizenAnswered(ctx)
		}
	case *ariv5.ChannelDestroyed:
		c.outLegGone(ctx, e.Channel.ID, e.Cause)
	case *ariv5.StasisEnd:
		c.outLegGone(ctx, e.Channel.ID, -1)
	}
}

// outAgentAnswered dials the citizen once the agent picked up.
func (c *Call) outAgentAnswered(ctx context.Context) {
	o := c.out
	if c.phase != phaseRinging || o.citizenLeg != "" {
		return
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	dial, err := number.DialString(c.s.o.OutboundDialTemplate, o.req.Number)
	if err != nil {
		c.s.log.Error("outbound: dial string refused", "call_id", c.id, "err", err)
		c.outboundEnd(ctx, ResultInvalidNumber)
		return
	}
	o.citizenLeg = dialplan.CitizenLeg(c.id)
	c.s.o.Dispatcher.Attach(ari.KindChannel, o.citizenLeg, c.mb)
	_ = c.s.o.PBX.StartMOH(octx, c.agentLeg, c.s.o.MOHClass)
	err = c.s.o.PBX.Originate(octx, ari.OriginateParams{
		ChannelID: o.citizenLeg,
		Endpoint:  dial,
		CallerID:  c.s.o.OutboundCallerID,
		Timeout:   c.s.o.CitizenRingTimeout,
		AppArgs:   "outbound-citizen," + c.id,
		Variables: map[string]string{dialplan.VarRole: dialplan.RoleCitizen},
	})
	if err != nil {
		c.s.log.Warn("outbound: citizen originate failed", "call_id", c.id, "err", err)
		c.outboundEnd(ctx, ResultFailed)
		return
	}
	c.counted = true
	c.register(ctx)
	c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Outbound, Line: c.line.Number, At: c.entered})
}

// outCitizenAnswered bridges agent and citizen.
func (c *Call) outCitizenAnswered(ctx context.Context) {
	o := c.out
	if c.phase != phaseRinging {
		return
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.bridge = dialplan.BridgeID(c.id)
	c.s.o.Dispatcher.Attach(ari.KindBridge, c.bridge, c.mb)
	if err := c.s.o.PBX.CreateBridge(octx, c.bridge, "mixing"); err != nil {
		c.s.log.Error("outbound: bridge failed", "call_id", c.id, "err", err)
		c.outboundEnd(ctx, ResultFailed)
		return
	}
	_ = c.s.o.PBX.StopMOH(octx, c.agentLeg)
	for _, ch := range []string{c.agentLeg, o.citizenLeg} {
		if err := c.s.o.PBX.AddChannel(octx, c.bridge, ch); err != nil {
			c.s.log.Warn("outbound: add to bridge failed", "call_id", c.id, "channel", ch, "err", err)
		}
	}
	c.enter(phaseTalking)
	c.answered = time.Now()
	c.outReply(ResultConnected)
}

// outLegGone handles either leg leaving; cause -1 is a StasisEnd.
func (c *Call) outLegGone(ctx context.Context, id string, cause int) {
	o := c.out
	switch {
	case id == "" || (id != c.agentLeg && id != o.citizenLeg):
		return
	case c.phase == phaseTalking:
		c.outboundEnd(ctx, ResultConnected)
	case id == c.agentLeg && o.citizenLeg != "":
		c.outboundEnd(ctx, ResultFailed) // the agent hung up while the citizen rang
	case id == c.agentLeg:
		c.outboundEnd(ctx, ResultAgentNoAnswer)
	case id == o.citizenLeg && cause >= 0:
		c.outboundEnd(ctx, causeResult(cause))
	}
}

// causeResult classifies why the citizen's phone did not answer (Q.850).
func causeResult(cause int) string {
	switch ari.ClassifyCause(cause) {
	case ari.CauseBusy:
		return ResultBusy
	case ari.CauseNoUserResponse, ari.CauseNoAnswer, ari.CauseUnset, ari.CauseNormal:
		return ResultNoAnswer
	case ari.CauseRejected:
		return ResultRejected
	}
	return ResultFailed
}

func (c *Call) outReply(result string) {
	if c.out.result == "" {
		c.out.result = result
		c.out.reply <- result
	}
}

// outboundEnd ends an outbound call with result.
func (c *Call) outboundEnd(ctx context.Context, result string) {
	if c.phase == phaseEnded {
		return
	}
	o := c.out
	c.outReply(result)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	for _, leg := range []string{c.agentLeg, o.citizenLeg} {
		if leg != "" {
			if err := c.s.o.PBX.Hangup(octx, leg, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
				c.s.log.Warn("outbound: hangup failed", "call_id", c.id, "channel", leg, "err", err)
			}
		}
	}
	if c.bridge != "" {
		if err := c.s.o.PBX.DestroyBridge(octx, c.bridge); err != nil && !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Warn("outbound: destroy bridge failed", "call_id", c.id, "err", err)
		}
	}
	now := time.Now()
	if !c.answered.IsZero() {
		c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Talk, Line: c.line.Number, At: c.entered, Value: now.Sub(c.answered).Milliseconds()})
	}
	purpose := o.req.Purpose
	c.s.o.Metrics.Outbound.CallEnded(purpose, o.result)
	c.s.o.Metrics.Outbound.Active.Dec()
	if o.req.release != nil {
		o.req.release()
	}
	if o.req.pausedByUs {
		if _, err := c.s.o.Pool.SetReady(octx, o.req.AgentExt); err != nil {
			c.s.log.Warn("outbound: agent not set ready again", "agent", o.req.AgentExt, "err", err)
		}
	}
	if o.req.CallbackID != "" && c.s.o.Callbacks != nil {
		if err := c.s.o.Callbacks.Complete(octx, o.req.CallbackID, o.req.AgentExt, c.id, o.result); err != nil {
			c.s.log.Warn("outbound: call-back task not completed", "callback_id", o.req.CallbackID, "err", err)
		}
	}
	c.end = End{Result: EndOutbound, Reason: o.result}
	t := c.ticket(now)
	t.Direction = hotlinev1.Direction_DIRECTION_OUTBOUND
	t.CallerNumber = c.s.o.OutboundCallerID
	t.CalledNumber = o.req.Number.Digits()
	t.Purpose = purpose
	t.LinkedTicketId = o.req.TicketID
	t.FollowUpResult = o.verdict
	t.AgentExtension = o.req.AgentExt
	t.WaitSeconds = 0
	c.s.submitTicket(t) // and unregisters the call once it is in Redis
	c.enter(phaseEnded)
}

// outHandOver frees what an outbound call holds when its owner stops
// without ending it (the gateway stops, or another instance took over the
// application): the limiter slot, and the agent's pause if this call set
// it. The next gateway does not adopt an outbound call's legs (they carry
// HOTLINE_ROLE and are hung up), so no one else would free them. An
// Originate still waiting is answered "failed".
func (c *Call) outHandOver() {
	o := c.out
	if o == nil || c.phase == phaseEnded {
		return
	}
	c.outReply(ResultFailed)
	if c.phase != phaseNew { // startOutbound counted it
		c.s.o.Metrics.Outbound.Active.Dec()
	}
	if o.req.release != nil {
		o.req.release()
		o.req.release = nil
	}
	if o.req.pausedByUs && c.s.o.Pool != nil {
		// The owner's context is already cancelled when the gateway stops.
		ctx, cancel := c.s.opCtx(context.Background())
		defer cancel()
		if _, err := c.s.o.Pool.SetReady(ctx, o.req.AgentExt); err != nil {
			c.s.log.Warn("outbound handed over: agent not set ready again", "agent", o.req.AgentExt, "err", err)
		}
		o.req.pausedByUs = false
	}
}

// outResync re-reads an outbound call's legs after lost events.
func (c *Call) outResync(ctx context.Context) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	for _, leg := range []string{c.agentLeg, c.out.citizenLeg} {
		if leg == "" {
			continue
		}
		if _, err := c.s.o.PBX.Channel(octx, leg); errors.Is(err, ari.ErrNotFound) {
			c.outLegGone(ctx, leg, 16)
			return
		}
	}
}

// legs returns the channels whose presence keeps the call alive.
func (c *Call) legs() []string {
	if c.out != nil {
		return []string{c.agentLeg, c.out.citizenLeg}
	}
	return []string{c.id}
}
