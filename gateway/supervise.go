package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
)

// The supervisor's actions on a live agent call (the ticket's
// SupervisorAction.action and the audit log's "action").
const (
	SuperviseMonitor = "monitor" // 监听: the supervisor hears both parties
	SuperviseWhisper = "whisper" // 耳语: the supervisor hears both, only the agent hears the supervisor
	SuperviseBarge   = "barge"   // 强插: the supervisor joins the call's bridge
	SuperviseEnd     = "end"     // 强拆: the call is hung up
)

// EndedBySupervisor is the ticket's end_reason of a call a supervisor ended.
const EndedBySupervisor = "ended_by_supervisor"

// Errors of supervising a call.
var (
	// ErrNotTalking: the call is not connected to an agent now (queued,
	// ringing, in a transfer, an outbound call or ended).
	ErrNotTalking = errors.New("call is not connected to an agent")
	// ErrSupervised: another supervisor extension is on the call.
	ErrSupervised = errors.New("call is already supervised from another extension")
)

// SuperviseRequest asks for a supervisor's action on a live call.
type SuperviseRequest struct {
	CallID string
	Action string // SuperviseMonitor, SuperviseWhisper or SuperviseBarge
	// Supervisor is the authenticated supervisor's name (for the audit and
	// the ticket), Extension the phone to ring.
	Supervisor string
	Extension  string
}

// SuperviseResult is what a Supervise request did.
type SuperviseResult struct {
	Leg      string // the supervisor phone's channel ID
	Switched bool   // the phone was already on the call: only the mode changed
}

// supervision is a call's supervision state, owned by the call's owner.
type supervision struct {
	cur     *supSession
	legs    int                           // supervisor legs rung so far (IDs)
	actions []*hotlinev1.SupervisorAction // for the ticket
}

// supSession is one supervisor phone on the call.
type supSession struct {
	action, who, ext string
	leg              string
	up               bool      // the phone answered (in the application)
	rung, started    time.Time // rung; the current action's start
	snoop            string    // the current snoop channel (monitor, whisper)
	snoops           int
	snoopDesc        string // "on=<channel> spy=<dir> whisper=<dir>"
	bridge           string // the supervisor bridge, once made
	inMain           bool   // the phone is in the call's bridge (barge)
}

// Supervise rings the supervisor's phone for Monitor, Whisper or Barge on
// a live agent call of this gateway, or switches the mode of the
// supervisor already on it from that extension.
func (s *Service) Supervise(ctx context.Context, r SuperviseRequest) (SuperviseResult, error) {
	c, ok := s.call(r.CallID)
	if !ok {
		return SuperviseResult{}, fmt.Errorf("call_id: %q is %w", ClipRef(r.CallID), ErrCallNotFound)
	}
	type out struct {
		r   SuperviseResult
		err error
	}
	o, err := ask(ctx, c, func(c *Call) out { res, err := c.supervise(r); return out{res, err} })
	if err != nil {
		if errors.Is(err, ErrOwnerGone) {
			return SuperviseResult{}, fmt.Errorf("call_id: %q is %w", ClipRef(r.CallID), ErrCallNotFound)
		}
		return SuperviseResult{}, err
	}
	return o.r, o.err
}

// EndBySupervisor hangs up a live agent call of this gateway; its ticket
// says a supervisor ended it (end_reason ended_by_supervisor and an "end"
// action).
func (s *Service) EndBySupervisor(ctx context.Context, callID, supervisor string) error {
	c, ok := s.call(callID)
	if !ok {
		return fmt.Errorf("call_id: %q is %w", ClipRef(callID), ErrCallNotFound)
	}
	err, aerr := ask(ctx, c, func(c *Call) error { return c.endBySupervisor(supervisor) })
	if aerr != nil {
		if errors.Is(aerr, ErrOwnerGone) {
			return fmt.Errorf("call_id: %q is %w", ClipRef(callID), ErrCallNotFound)
		}
		return aerr
	}
	return err
}

// LiveCalls returns every gateway instance's live calls (the registry).
func (s *Service) LiveCalls(ctx context.Context) ([]LiveCall, error) {
	if s.o.Registry == nil {
		return nil, nil
	}
	return s.o.Registry.All(ctx)
}

// supervisable reports why the call cannot be supervised now, or nil.
func (c *Call) supervisable() error {
	if c.out != nil || c.phase != phaseTalking || !c.agentUp || c.agentLeg == "" || c.transferBusy() {
		return fmt.Errorf("call %s (%s): %w", c.id, c.phase, ErrNotTalking)
	}
	return nil
}

func (c *Call) supervise(r SuperviseRequest) (SuperviseResult, error) {
	if err := c.supervisable(); err != nil {
		return SuperviseResult{}, err
	}
	ctx := c.ctx
	now := time.Now()
	if cur := c.sv.cur; cur != nil {
		if cur.ext != r.Extension {
			return SuperviseResult{}, fmt.Errorf("call %s: supervisor extension %s is on it: %w", c.id, cur.ext, ErrSupervised)
		}
		if cur.action == r.Action {
			return SuperviseResult{Leg: cur.leg}, nil
		}
		c.audit("supervision switched", cur, "from", cur.action, "to", r.Action)
		if !cur.up { // still ringing: it joins in the new mode
			cur.action, cur.who = r.Action, r.Supervisor
			return SuperviseResult{Leg: cur.leg, Switched: true}, nil
		}
		c.closeAction(cur, now, "connected")
		c.disconnectSupervisor(ctx, cur)
		cur.action, cur.who, cur.started = r.Action, r.Supervisor, now
		if err := c.connectSupervisor(ctx, cur); err != nil {
			c.s.log.Warn("supervision: mode switch failed; ending it", "call_id", c.id, "action", r.Action, "err", err)
			c.endSupervision(ctx, "failed")
			return SuperviseResult{}, fmt.Errorf("supervise call %s: %w", c.id, err)
		}
		return SuperviseResult{Leg: cur.leg, Switched: true}, nil
	}
	c.sv.legs++
	cur := &supSession{action: r.Action, who: r.Supervisor, ext: r.Extension,
		leg: dialplan.SupervisorLeg(c.id, c.sv.legs), rung: now, started: now}
	cfg := c.s.o.Supervisor
	c.s.o.Dispatcher.Attach(ari.KindChannel, cur.leg, c.mb)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	err := c.s.o.PBX.Originate(octx, ari.OriginateParams{
		ChannelID: cur.leg,
		Endpoint:  strings.ReplaceAll(cfg.Endpoint, "{ext}", r.Extension),
		CallerID:  c.caller,
		Timeout:   cfg.RingTimeout.D(),
		AppArgs:   dialplan.SupervisorArgs(c.id),
		Variables: map[string]string{dialplan.VarRole: dialplan.RoleSupervisor},
	})
	if err != nil {
		c.s.o.Dispatcher.Detach(ari.KindChannel, cur.leg)
		c.audit("supervision failed", cur, "result", "failed")
		return SuperviseResult{}, fmt.Errorf("ring supervisor %s for call %s: %w", r.Extension, c.id, err)
	}
	c.sv.cur = cur
	c.audit("supervision requested", cur)
	c.schedule("supervisor-ring", cfg.RingTimeout.D()+5*time.Second, func(c *Call) {
		if cur := c.sv.cur; cur != nil && !cur.up {
			c.endSupervision(c.ctx, "no_answer")
		}
	})
	return SuperviseResult{Leg: cur.leg}, nil
}

// superviseEvent handles the events of the supervisor's channels; it
// reports whether ev was one of them.
func (c *Call) superviseEvent(ctx context.Context, ev ariv5.Event) bool {
	cur := c.sv.cur
	if cur == nil {
		return false
	}
	var id string
	switch e := ev.(type) {
	case *ariv5.StasisStart:
		switch e.Channel.ID {
		case cur.leg:
			c.supervisorAnswered(ctx, cur)
			return true
		case cur.snoop:
			c.snoopStarted(ctx, cur)
			return true
		}
		return false
	case *ariv5.StasisEnd:
		id = e.Channel.ID
	case *ariv5.ChannelDestroyed:
		id = e.Channel.ID
	default:
		return false
	}
	switch {
	case id == cur.leg:
		why := "connected"
		if !cur.up {
			why = "no_answer"
		}
		c.endSupervision(ctx, why)
		return true
	case id == cur.snoop && cur.snoop != "":
		c.s.log.Warn("supervision: the snoop channel left; ending the supervision", "call_id", c.id, "snoop", id)
		c.endSupervision(ctx, "connected")
		return true
	}
	return false
}

func (c *Call) supervisorAnswered(ctx context.Context, cur *supSession) {
	if cur.up {
		return
	}
	c.unschedule("supervisor-ring")
	cur.up, cur.started = true, time.Now()
	if err := c.supervisable(); err != nil {
		c.s.log.Info("supervision: the call is no longer with an agent; hanging up the supervisor", "call_id", c.id, "phase", c.phase)
		c.endSupervision(ctx, "failed")
		return
	}
	if err := c.connectSupervisor(ctx, cur); err != nil {
		c.s.log.Warn("supervision: supervisor not connected", "call_id", c.id, "action", cur.action, "err", err)
		c.endSupervision(ctx, "failed")
		return
	}
	c.audit("supervision started", cur)
}

// connectSupervisor joins the answered supervisor phone to the call in its
// action's way: a snoop channel on the citizen's leg (monitor: hear both
// directions) or on the agent's leg (whisper: hear both, speak into what
// the agent hears only), bridged with the phone; or the phone in the
// call's own bridge (barge).
func (c *Call) connectSupervisor(ctx context.Context, cur *supSession) error {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	var target string
	p := ari.SnoopParams{Spy: ari.DirBoth, Whisper: ari.DirNone, AppArgs: dialplan.SupervisorArgs(c.id)}
	switch cur.action {
	case SuperviseBarge:
		if err := c.s.o.PBX.AddChannel(octx, c.bridge, cur.leg); err != nil {
			return fmt.Errorf("barge: add supervisor to bridge %s: %w", c.bridge, err)
		}
		cur.inMain = true
		return nil
	case SuperviseMonitor:
		target = c.id
	case SuperviseWhisper:
		target, p.Whisper = c.agentLeg, ari.DirOut
	default:
		return fmt.Errorf("unknown supervisor action %q", cur.action)
	}
	cur.snoops++
	cur.snoop = dialplan.SupervisorSnoop(cur.leg, cur.snoops)
	p.SnoopID = cur.snoop
	cur.snoopDesc = "on=" + target + " spy=" + p.Spy + " whisper=" + p.Whisper
	c.s.o.Dispatcher.Attach(ari.KindChannel, cur.snoop, c.mb)
	if err := c.s.o.PBX.Snoop(octx, target, p); err != nil {
		c.s.o.Dispatcher.Detach(ari.KindChannel, cur.snoop)
		cur.snoop = ""
		return fmt.Errorf("%s: snoop on %s: %w", cur.action, target, err)
	}
	c.s.log.Debug("supervision: snoop requested", "call_id", c.id, "snoop", p.SnoopID, "on", target, "spy", p.Spy, "whisper", p.Whisper)
	return nil
}

// snoopStarted bridges the snoop channel with the supervisor's phone.
func (c *Call) snoopStarted(ctx context.Context, cur *supSession) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	// Marked so that a resynchronising gateway never takes it for a
	// citizen; VarSnoop says what it spies on and whispers into.
	_ = c.s.o.PBX.SetVar(octx, cur.snoop, dialplan.VarRole, dialplan.RoleSupervisor)
	_ = c.s.o.PBX.SetVar(octx, cur.snoop, dialplan.VarSnoop, cur.snoopDesc)
	if cur.bridge == "" {
		b := dialplan.SupervisorBridge(c.id)
		if err := c.s.o.PBX.CreateBridge(octx, b, "mixing"); err != nil && !errors.Is(err, ari.ErrConflict) {
			c.s.log.Warn("supervision: bridge not created; ending the supervision", "call_id", c.id, "err", err)
			c.endSupervision(ctx, "failed")
			return
		}
		cur.bridge = b
	}
	for _, ch := range []string{cur.snoop, cur.leg} {
		if err := c.s.o.PBX.AddChannel(octx, cur.bridge, ch); err != nil {
			c.s.log.Warn("supervision: channel not bridged; ending the supervision", "call_id", c.id, "channel", ch, "err", err)
			c.endSupervision(ctx, "failed")
			return
		}
	}
}

// disconnectSupervisor undoes connectSupervisor, leaving the phone up.
func (c *Call) disconnectSupervisor(ctx context.Context, cur *supSession) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if cur.snoop != "" {
		c.s.o.Dispatcher.Detach(ari.KindChannel, cur.snoop)
		if err := c.s.o.PBX.Hangup(octx, cur.snoop, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Warn("supervision: snoop not hung up", "call_id", c.id, "snoop", cur.snoop, "err", err)
		}
		cur.snoop = ""
	}
	if cur.inMain {
		if err := c.s.o.PBX.RemoveChannel(octx, c.bridge, cur.leg); err != nil && !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Warn("supervision: supervisor not taken out of the call's bridge", "call_id", c.id, "err", err)
		}
		cur.inMain = false
	} else if cur.bridge != "" {
		_ = c.s.o.PBX.RemoveChannel(octx, cur.bridge, cur.leg)
	}
}

// endSupervision hangs up the supervisor's phone and snoop, destroys the
// supervisor bridge and records the action; result is "connected",
// "no_answer" or "failed" (what became of a phone that never joined).
func (c *Call) endSupervision(ctx context.Context, result string) {
	cur := c.sv.cur
	if cur == nil {
		return
	}
	c.sv.cur = nil
	c.unschedule("supervisor-ring")
	if cur.up {
		result = "connected"
	}
	now := time.Now()
	c.closeAction(cur, now, result)
	c.disconnectSupervisor(ctx, cur)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.s.o.Dispatcher.Detach(ari.KindChannel, cur.leg)
	if err := c.s.o.PBX.Hangup(octx, cur.leg, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.s.log.Warn("supervision: supervisor leg not hung up", "call_id", c.id, "leg", cur.leg, "err", err)
	}
	if cur.bridge != "" {
		if err := c.s.o.PBX.DestroyBridge(octx, cur.bridge); err != nil && !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Warn("supervision: bridge not destroyed", "call_id", c.id, "bridge", cur.bridge, "err", err)
		}
	}
}

// endBySupervisor hangs up the caller; the call's end says who ended it.
func (c *Call) endBySupervisor(who string) error {
	if err := c.supervisable(); err != nil {
		return err
	}
	ctx := c.ctx
	now := time.Now()
	c.endSupervision(ctx, "connected")
	c.sv.actions = append(c.sv.actions, &hotlinev1.SupervisorAction{Action: SuperviseEnd, Supervisor: who,
		StartedAt: timestamppb.New(now), EndedAt: timestamppb.New(now)})
	c.s.log.Info("audit: call ended by supervisor", "audit", "supervision", "action", SuperviseEnd, "supervisor", who,
		"supervisor_ext", "", "call_id", c.id, "agent", c.agentExt, "at", now.UTC().Format(time.RFC3339Nano), "seconds", 0)
	c.end = End{Result: EndOther, Reason: EndedBySupervisor}
	c.hangupCaller(ctx, "normal")
	return nil
}

// closeAction records the session's current action on the ticket.
func (c *Call) closeAction(cur *supSession, end time.Time, result string) {
	start := cur.started
	if !cur.up {
		start = cur.rung
	}
	secs := supSeconds(cur, end)
	c.sv.actions = append(c.sv.actions, &hotlinev1.SupervisorAction{
		Action: cur.action, Supervisor: cur.who, Extension: cur.ext,
		StartedAt: timestamppb.New(start), EndedAt: timestamppb.New(end),
		Seconds: uint32(secs), Result: result,
	})
	c.audit("supervision ended", cur, "result", result, "seconds", secs, "started_at", start.UTC().Format(time.RFC3339Nano))
}

func supSeconds(cur *supSession, end time.Time) int {
	if !cur.up {
		return 0
	}
	return int(end.Sub(cur.started).Round(time.Second) / time.Second)
}

// audit logs a supervisor's action with the audit log's keys: who
// (supervisor, supervisor_ext), when (at), which call (call_id, agent),
// what (action) and, at its end, how long (seconds) and result.
func (c *Call) audit(msg string, cur *supSession, kv ...any) {
	args := append([]any{"audit", "supervision", "action", cur.action, "supervisor", cur.who, "supervisor_ext", cur.ext,
		"call_id", c.id, "agent", c.agentExt, "at", time.Now().UTC().Format(time.RFC3339Nano)}, kv...)
	c.s.log.Info("audit: "+msg, args...)
}
