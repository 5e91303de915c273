package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/transfer"
)

// enterQueue puts the caller on hold in its skill group until an agent takes
// the call; the router offers it when an agent is ready.
func (c *Call) enterQueue(ctx context.Context) {
	c.enter(phaseQueue)
	c.scheduleAnnounce()
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if !c.moh {
		if c.s.o.Pool != nil && c.s.o.MOHDelay > 0 {
			// An agent ready at once takes the call before the music
			// would start: no MOH to start and stop.
			c.schedule("moh", c.s.o.MOHDelay, func(c *Call) { c.mohDue() })
		} else {
			c.startMOH(octx)
		}
	}
	if c.s.o.Pool == nil {
		c.flushEntry(ctx)
		return // no routing configured: hold until the caller hangs up
	}
	if c.queuedAt.IsZero() {
		c.queuedAt = time.Now()
		g := c.s.o.Groups(c.skill)
		if g.QueueTimeout > 0 {
			c.schedule("queue", g.QueueTimeout.D(), func(c *Call) { c.queueTimeout() })
		}
		if g.OverflowUnstaffed && g.Overflow != "" && c.unstaffedHops < 3 && !c.staffed(octx) {
			c.flushEntry(ctx)
			c.unstaffedHops++ // groups overflowing into each other stop here
			c.s.log.Info("no agent of the group is logged in: overflow at once", "call_id", c.id, "skill", c.skill)
			c.queueTimeout()
			return
		}
	}
	if c.s.steps.on() {
		c.enqueueStep(ctx, octx) // steps.go: entry, enqueue and claim in one round trip
		return
	}
	c.flushEntry(ctx)
	if err := c.s.o.Pool.Enqueue(octx, c.skill, c.id, c.priority, c.entered); err != nil {
		c.s.log.Warn("enqueue failed; retrying", "call_id", c.id, "skill", c.skill, "err", err)
		c.retryEnqueue()
		return
	}
	c.enqueued = true
	c.joinRouter()
}

// retryEnqueue enters the queue again shortly; jittered, so that calls
// that failed together (Redis slow under a surge) do not all try again at
// the same instant.
func (c *Call) retryEnqueue() {
	c.schedule("enqueue", time.Second/2+rand.N(time.Second), func(c *Call) { c.enterQueue(c.ctx) })
}

// ringMOHDelay: a caller whose agent's phone already rings gets hold music
// only once it has waited this long in the queue. An agent who answers
// within it costs no MOH start and stop and no media stream in Asterisk:
// under load the agent's leg takes longer than MOHDelay to answer, and
// music for every call is what tipped Asterisk over.
const ringMOHDelay = 2 * time.Second

// mohDue starts the hold music once MOHDelay has passed: at once for a
// caller still waiting for an agent, after ringMOHDelay for one whose
// agent's phone rings.
func (c *Call) mohDue() {
	switch c.phase {
	case phaseQueue:
		c.startMOH(c.ctx)
	case phaseRinging:
		if wait := ringMOHDelay - time.Since(c.queuedAt); wait > 0 && !c.queuedAt.IsZero() {
			c.schedule("moh", wait, func(c *Call) { c.mohDue() })
			return
		}
		c.startMOH(c.ctx)
	}
}

// startMOH puts the caller on hold music.
func (c *Call) startMOH(ctx context.Context) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.moh = true
	if err := c.s.o.PBX.StartMOH(octx, c.id, c.s.o.MOHClass); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.s.log.Warn("music on hold failed", "call_id", c.id, "err", err)
	}
}

// joinRouter hands the enqueued call to the router; while the router's
// queue is full it tries again shortly (the call keeps its place in the
// pool's waiting set meanwhile).
func (c *Call) joinRouter() {
	if c.s.router.join(c, c.skill) {
		return
	}
	c.s.log.Warn("router hand-off queue full; joining again shortly", "call_id", c.id, "skill", c.skill)
	c.schedule("enqueue", 200*time.Millisecond, func(c *Call) {
		if c.phase == phaseQueue && c.enqueued {
			c.joinRouter()
		}
	})
}

// staffed reports whether the call's group has an agent logged in; on a
// Redis error it assumes so (the queue timeout still applies).
func (c *Call) staffed(ctx context.Context) bool {
	if n, err := c.s.o.Pool.ReadyAgents(ctx, c.skill); err == nil && n > 0 {
		return true
	}
	ok, err := c.s.o.Pool.Staffed(ctx, c.skill)
	return ok || err != nil
}

// leaveQueue takes the call out of its group's waiting set.
func (c *Call) leaveQueue(ctx context.Context) {
	c.unschedule("enqueue")
	if !c.enqueued || c.s.o.Pool == nil {
		return
	}
	c.enqueued = false
	c.s.router.leave(c, c.skill)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if err := c.s.o.Pool.Dequeue(octx, c.skill, c.id); err != nil {
		c.s.log.Warn("dequeue failed", "call_id", c.id, "skill", c.skill, "err", err)
	}
}

// queueTimeout runs the group's overflow action.
func (c *Call) queueTimeout() {
	if c.phase != phaseQueue {
		// Ringing: let the offer finish; the timeout applies when it fails.
		c.schedule("queue", time.Second, func(c *Call) { c.queueTimeout() })
		return
	}
	ctx := c.ctx
	g := c.s.o.Groups(c.skill)
	c.s.log.Info("queue timeout: overflow", "call_id", c.id, "skill", c.skill, "action", g.Overflow)
	c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Overflow, Line: c.line.Number, At: c.entered})
	c.leaveQueue(ctx)
	switch g.Overflow {
	case "group":
		c.skill = g.OverflowGroup
		c.queuedAt = time.Time{}
		c.enterQueue(ctx)
		return
	case "message":
		c.overflowed = true
		c.overflowPB = dialplan.OverflowPlayback(c.id)
		octx, cancel := c.s.opCtx(ctx)
		defer cancel()
		_ = c.s.o.PBX.StopMOH(octx, c.id)
		if err := c.s.o.PBX.Play(octx, c.id, c.overflowPB, g.OverflowMessage); err == nil {
			// Backstop for a PlaybackFinished that never comes.
			c.schedule("overflow", greetingMax, func(c *Call) { c.hangupCaller(c.ctx, "normal") })
			return
		}
		c.hangupCaller(ctx, "normal")
	default:
		c.overflowed = true
		c.hangupCaller(ctx, "normal")
	}
}

// offer is run by the router after it claimed agent ext for this call.
func (c *Call) offer(ext, skill string) {
	ctx := c.ctx
	pool := c.s.o.Pool
	if c.phase == phaseRinging && ext == c.agentExt && skill == c.skill {
		return // the claim this owner made itself, repeated by the router
	}
	if c.phase != phaseQueue || skill != c.skill {
		// (Also for an offer that reached an owner as it ended: drainLate.)
		rctx, cancel := c.s.opCtx(context.WithoutCancel(ctx))
		_ = pool.Release(rctx, ext, c.id, acd.Cancelled)
		cancel()
		return
	}
	c.enqueued = false // Claim took the call out of the waiting set
	c.enter(phaseRinging)
	c.agentExt = ext
	c.attempts++
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.offered(ext, pool.Offer(octx, ext, c.callOffer()))
}

// callOffer is the screen pop of the call.
func (c *Call) callOffer() *hotlinev1.CallOffer {
	return &hotlinev1.CallOffer{
		CallId: c.id, TicketId: c.id, CallerNumber: c.caller, Line: c.line.Number,
		MainLine: c.line.Main, LineName: c.line.Name, Skill: c.skill,
		WaitSeconds: uint32(time.Since(c.entered) / time.Second), Direction: c.direction(),
		PoliceReference: c.policeRef,
	}
}

// offered goes on once the screen pop for ext was published (err: how it
// failed; acd.ErrNoDesktop when no desk received it): the agent's phone
// rings, after the pop's lead when a desk has it.
func (c *Call) offered(ext string, err error) {
	ctx := c.ctx
	if err != nil {
		if errors.Is(err, acd.ErrNoDesktop) && c.s.o.RequireDesktop {
			c.s.log.Info("agent has no desktop stream; pausing it and offering the call again", "call_id", c.id, "agent", ext)
			c.agentMissed(ctx, "no_desktop")
			return
		}
		if !errors.Is(err, acd.ErrNoDesktop) {
			c.s.log.Warn("screen pop not published", "call_id", c.id, "agent", ext, "err", err)
		}
	}
	if lead := c.s.o.ScreenPopLead; lead > 0 && err == nil {
		// The desk shows the pop before the phone rings.
		attempt := c.attempts
		c.schedule("pop-lead", lead, func(c *Call) {
			if c.phase == phaseRinging && c.agentExt == ext && c.attempts == attempt {
				c.ringAgent(ext)
			}
		})
		return
	}
	c.ringAgent(ext)
}

// ringAgent originates the agent's leg of the call offered to ext.
func (c *Call) ringAgent(ext string) {
	ctx := c.ctx
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.agentLeg = dialplan.AgentLeg(c.id, c.attempts)
	c.s.o.Dispatcher.Attach(ari.KindChannel, c.agentLeg, c.mb)
	err := c.s.o.PBX.Originate(octx, ari.OriginateParams{
		ChannelID: c.agentLeg,
		Endpoint:  strings.ReplaceAll(c.s.o.AgentEndpoint, "{ext}", ext),
		CallerID:  c.caller,
		Timeout:   c.s.o.RingTimeout,
		AppArgs:   "agent," + c.id,
		Variables: map[string]string{dialplan.VarRole: dialplan.RoleAgent},
	})
	if err != nil {
		if errors.Is(err, ari.ErrUnavailable) {
			c.originateUnavailable(ctx, err)
			return
		}
		c.s.log.Warn("agent originate failed", "call_id", c.id, "agent", ext, "err", err)
		c.agentMissed(ctx, "originate_failed")
		return
	}
	if c.attempts == 1 {
		c.s.o.Metrics.Calls.StartToAgentOriginate.Observe(time.Since(c.received).Seconds())
	}
	// Asterisk ends the ring at RingTimeout; this is the backstop.
	c.schedule("ring", c.s.o.RingTimeout+5*time.Second, func(c *Call) {
		if c.phase == phaseRinging {
			c.s.log.Warn("agent leg outlived its ring timeout; hanging it up", "call_id", c.id, "agent", c.agentExt)
			c.hangupAgentLeg(c.ctx)
			c.agentMissed(c.ctx, "ring_timeout")
		}
	})
}

// agentMissed pauses the agent who did not take the call and puts the
// caller back in the queue at its place.
func (c *Call) agentMissed(ctx context.Context, why string) {
	c.dropAgent(ctx, why, acd.Missed)
	c.enterQueue(ctx)
}

// dropAgent lets go of the agent offered the call and of its leg: the
// desktop hears "missed" (why), and the agent is paused (acd.Missed: their
// phone did not take it) or ready again at its place (acd.Cancelled: the
// failure was not theirs). The caller is then to go back to the queue.
func (c *Call) dropAgent(ctx context.Context, why string, outcome acd.Outcome) {
	c.unschedule("ring")
	ext := c.agentExt
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.publishProgress(octx, ext, hotlinev1.CallProgress_KIND_MISSED, why)
	if err := c.s.o.Pool.Release(octx, ext, c.id, outcome); err != nil {
		c.s.log.Warn("release missed agent failed", "call_id", c.id, "agent", ext, "err", err)
	}
	c.s.log.Info("agent missed the call; re-offering", "call_id", c.id, "agent", ext, "why", why, "outcome", string(outcome))
	if c.agentLeg != "" {
		c.s.o.Dispatcher.Detach(ari.KindChannel, c.agentLeg)
	}
	c.agentExt, c.agentLeg, c.agentUp = "", "", false
}

// originateRetryDelay is how long a caller waits before the next agent is
// tried when Asterisk did not take the last agent leg in time.
const originateRetryDelay = time.Second

// originateUnavailable: Asterisk did not take the agent's leg in time (a
// timeout or a 503: it is overloaded). That is not the agent's doing, so
// the agent is ready again at its place instead of paused: under a surge
// every agent would otherwise be paused within seconds and nobody would
// take the calls once Asterisk recovers. The caller stays answered and
// goes back to the queue after originateRetryDelay, so an overloaded
// Asterisk is not sent a new originate for every waiting caller at once.
// Asterisk may still create the late leg: it is hung up then, and if it
// enters the application first it is an unknown channel and hung up there.
func (c *Call) originateUnavailable(ctx context.Context, err error) {
	leg := c.agentLeg
	c.s.log.Warn("agent originate not taken by Asterisk in time; the agent stays ready, the caller waits for the next one",
		"call_id", c.id, "agent", c.agentExt, "retry_in", originateRetryDelay, "err", err)
	c.dropAgent(ctx, "originate_unavailable", acd.Cancelled)
	c.schedule("requeue", originateRetryDelay, func(c *Call) {
		if c.phase != phaseRinging || c.agentExt != "" {
			return
		}
		octx, cancel := c.s.opCtx(c.ctx)
		if herr := c.s.o.PBX.Hangup(octx, leg, "normal"); herr != nil && !errors.Is(herr, ari.ErrNotFound) {
			c.s.log.Debug("late agent leg not hung up", "call_id", c.id, "leg", leg, "err", herr)
		}
		cancel()
		c.enterQueue(c.ctx)
	})
}

// agentAnswered bridges caller and agent.
func (c *Call) agentAnswered(ctx context.Context) {
	if c.phase != phaseRinging || c.agentUp {
		return
	}
	c.unschedule("ring")
	c.unschedule("queue")
	c.agentUp = true
	now := time.Now()
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if !c.bridgeAgent(ctx, octx) {
		return
	}
	c.enter(phaseTalking)
	if c.xfer != nil {
		// A caller re-queued after a failed transfer: the new agent takes over.
		if err := c.xfer.SetAgent(c.agentLeg, c.agentExt); err != nil {
			c.s.log.Warn("transfer machine: new agent not set", "call_id", c.id, "err", err)
		}
	} else {
		c.startTransferMachine()
	}
	if !c.answered.IsZero() {
		c.publishProgress(octx, c.agentExt, hotlinev1.CallProgress_KIND_CONNECTED, "requeued")
		c.register(ctx) // the new agent, for an adopting gateway
		return          // counted as answered the first time
	}
	if c.s.steps.on() {
		c.connectStep(ctx, octx, now) // steps.go: answered, counts and registry in one round trip
	} else {
		c.countAnswered(octx, now) // and tells the desktop "connected"
		c.register(ctx)            // answered, with its agent: an adopting gateway keeps it so
	}
	c.record(octx)
	c.s.log.Debug("call connected", "call_id", c.id, "agent", c.agentExt, "wait", now.Sub(c.entered))
}

// bridgeAgent puts the caller and the agent's leg in the call's bridge,
// creating it the first time; a bridge that cannot be made ends the call.
func (c *Call) bridgeAgent(ctx, octx context.Context) bool {
	legs := []string{c.agentLeg}
	if c.bridge == "" || c.answered.IsZero() && c.xfer == nil {
		// dtmf_events: the agent's feature codes (*1, *2...) are reported.
		c.bridge = dialplan.BridgeID(c.id)
		c.s.o.Dispatcher.Attach(ari.KindBridge, c.bridge, c.mb)
		// A conflict means the bridge survived a gateway restart (the call
		// was adopted): use it.
		if err := c.s.o.PBX.CreateBridge(octx, c.bridge, "mixing,dtmf_events"); err != nil && !errors.Is(err, ari.ErrConflict) {
			c.bridgeFailed(ctx, c.bridge, err)
			return false
		}
		legs = []string{c.id, c.agentLeg}
	}
	c.unschedule("moh")
	c.stopAnnouncement(octx)
	// Stop the queue's music, or the music of a transfer the caller comes
	// back from; a first bridge before any music needs no request.
	if c.moh || !c.answered.IsZero() || c.xfer != nil {
		_ = c.s.o.PBX.StopMOH(octx, c.id)
		c.moh = false
	}
	// Caller and agent in one request when both go in.
	if err := c.addToBridge(ctx, legs...); err != nil {
		c.bridgeFailed(ctx, strings.Join(legs, ","), err)
		return false
	}
	return true
}

// bridgeFailed ends a call whose bridge could not be made when the agent
// answered: never a silent "talking" call with nobody bridged. It ends with
// its ticket (bridge_failed), not counted answered. (Putting the caller
// back in the queue instead needs to tell a vanished agent leg from a
// caller who hung up: both come back as "Channel not found".)
func (c *Call) bridgeFailed(ctx context.Context, what string, err error) {
	c.s.log.Error("bridge failed; ending the call", "call_id", c.id, "channels", what, "err", err)
	c.end = End{Result: EndOther, Reason: "bridge_failed"}
	c.hangupAgentLeg(ctx)
	c.hangupCaller(ctx, "congestion")
}

// addBridgeAttempts is how often a channel is put into the call's bridge
// before the call is given up.
const addBridgeAttempts = 3

// addToBridge adds channels to the call's bridge in one request, retrying
// a failure.
func (c *Call) addToBridge(ctx context.Context, chs ...string) error {
	var err error
	for i := range addBridgeAttempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("add %v to bridge %s: %w", chs, c.bridge, ctx.Err())
			case <-time.After(time.Duration(i) * 100 * time.Millisecond):
			}
		}
		octx, cancel := c.s.opCtx(ctx)
		if len(chs) == 1 {
			err = c.s.o.PBX.AddChannel(octx, c.bridge, chs[0]) // resync: one leg back
		} else {
			err = c.s.o.PBX.AddChannels(octx, c.bridge, chs...)
		}
		cancel()
		if err == nil || errors.Is(err, ari.ErrNotFound) {
			return err
		}
		c.s.log.Warn("add to bridge failed; retrying", "call_id", c.id, "channels", strings.Join(chs, ","), "attempt", i+1, "err", err)
	}
	return fmt.Errorf("add %v to bridge %s: %d attempts: %w", chs, c.bridge, addBridgeAttempts, err)
}

// countAnswered counts the call answered (within the target or not) the
// first time an agent answers it.
func (c *Call) countAnswered(octx context.Context, now time.Time) {
	c.answered = now
	wait := now.Sub(c.entered)
	// The desktop hears "connected" right after the agent's new state, in
	// the same round trip.
	connected := progressEvent(c.id, hotlinev1.CallProgress_KIND_CONNECTED, "")
	if err := c.s.o.Pool.AnsweredThenEvent(octx, c.agentExt, c.id, connected); err != nil {
		c.s.log.Warn("agent answered: pool update failed", "call_id", c.id, "agent", c.agentExt, "err", err)
		c.publishProgress(octx, c.agentExt, hotlinev1.CallProgress_KIND_CONNECTED, "")
	}
	ops, _ := c.answeredOps(now)
	for _, op := range ops {
		c.s.o.Counter.Add(op)
	}
	c.s.o.Metrics.Calls.Wait.WithLabelValues(c.line.Number).Observe(wait.Seconds())
	c.s.waits.note(c.skill, wait)
}

// answeredOps are the counts of the call answered at now, and its wait.
func (c *Call) answeredOps(now time.Time) ([]count.Op, time.Duration) {
	wait := now.Sub(c.entered)
	ops := []count.Op{{CallID: c.id, Kind: count.Answered, Line: c.line.Number, At: c.entered, Value: wait.Milliseconds()}}
	if wait <= c.s.o.AnswerTarget {
		ops = append(ops, count.Op{CallID: c.id, Kind: count.AnsweredTarget, Line: c.line.Number, At: c.entered})
	}
	return ops, wait
}

// record starts recording the bridge on lines recorded for quality checks.
func (c *Call) record(octx context.Context) {
	if !c.line.Record {
		return
	}
	name := dialplan.RecordingName(c.id)
	if err := c.s.o.PBX.RecordBridge(octx, c.bridge, name, "wav"); err != nil {
		c.s.log.Warn("recording failed", "call_id", c.id, "err", err)
		return
	}
	c.recording = name
}

// channelLeft handles a channel of the call leaving (StasisEnd or
// ChannelDestroyed, whichever comes first).
func (c *Call) channelLeft(ctx context.Context, id string, cause int) {
	switch {
	case id == c.id:
		c.channelGone("hangup")
	case id == c.agentLeg && id != "":
		switch c.phase {
		case phaseRinging:
			why := "no_answer"
			switch ari.ClassifyCause(cause) {
			case ari.CauseBusy:
				why = "busy"
			case ari.CauseNoAnswer, ari.CauseUnset:
			default:
				why = "failed_" + strconv.Itoa(cause)
			}
			c.agentMissed(ctx, why)
		case phaseTalking:
			if c.transferBusy() {
				// The caller is with 110 or on its way there: the agent's
				// leaving does not end the call.
				c.freeAgent(ctx, "left")
				return
			}
			if !c.agentUp {
				return // its ChannelDestroyed after its StasisEnd: handled
			}
			c.agentUp = false
			c.end = End{Result: EndCompleted}
			// The leg is gone: neither the survey's freeAgent nor the
			// teardown hangs it up again.
			c.agentLeg = ""
			if c.surveyEnabled() {
				c.freeAgent(ctx, "completed")
				c.startSurvey(ctx)
				return
			}
			c.hangupCaller(ctx, "normal")
		}
	}
}

// hangupCaller ends the caller's channel; its StasisEnd finishes the call.
func (c *Call) hangupCaller(ctx context.Context, reason string) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if err := c.s.o.PBX.Hangup(octx, c.id, reason); err != nil {
		if errors.Is(err, ari.ErrNotFound) {
			c.channelGone("hangup")
			return
		}
		c.s.log.Warn("hangup caller failed", "call_id", c.id, "err", err)
	}
}

func (c *Call) hangupAgentLeg(ctx context.Context) {
	if c.agentLeg == "" {
		return
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if err := c.s.o.PBX.Hangup(octx, c.agentLeg, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.s.log.Warn("hangup agent leg failed", "call_id", c.id, "err", err)
	}
}

// teardown releases everything the call holds: queue place, transfer,
// agent, agent leg, bridge. Run once, from finish.
func (c *Call) teardown(ctx context.Context, why string) {
	c.endSupervision(ctx, "failed")
	c.closeTransfer(ctx)
	c.leaveQueue(ctx)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if c.agentLeg != "" {
		c.hangupAgentLeg(ctx)
	}
	if c.bridge != "" {
		if err := c.s.o.PBX.DestroyBridge(octx, c.bridge); err != nil && !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Warn("destroy bridge failed", "call_id", c.id, "err", err)
		}
	}
	// The agent's release and the talk count go in the end step with the
	// ticket (steps.go endStep).
	d := &closeDue{}
	if c.agentExt != "" && c.s.o.Pool != nil {
		d.ext, d.outcome = c.agentExt, acd.Cancelled
		if !c.answered.IsZero() {
			d.outcome = acd.Completed
		}
		// The desktop hears "ended" before the agent can be offered the
		// next call: published by the release script first.
		d.ended = progressEvent(c.id, hotlinev1.CallProgress_KIND_ENDED, why)
	}
	if !c.answered.IsZero() {
		talk := time.Since(c.answered)
		d.talk = &count.Op{CallID: c.id, Kind: count.Talk, Line: c.line.Number, At: c.entered, Value: talk.Milliseconds()}
	}
	c.closeDue = d
}

func (c *Call) publishProgress(ctx context.Context, ext string, kind hotlinev1.CallProgress_Kind, detail string) {
	if ext == "" || c.s.o.Pool == nil {
		return
	}
	if _, err := c.s.o.Pool.Publish(ctx, ext, progressEvent(c.id, kind, detail)); err != nil {
		c.s.log.Debug("agent progress not published", "call_id", c.id, "agent", ext, "err", err)
	}
}

// progressEvent is the agent's desktop event of the call's progress.
func progressEvent(callID string, kind hotlinev1.CallProgress_Kind, detail string) *hotlinev1.AgentEvent {
	return &hotlinev1.AgentEvent{At: timestamppb.Now(), Event: &hotlinev1.AgentEvent_Progress{
		Progress: &hotlinev1.CallProgress{CallId: callID, Kind: kind, Detail: detail}}}
}

func (c *Call) direction() hotlinev1.Direction {
	if c.entry == EntryFrom110 {
		return hotlinev1.Direction_DIRECTION_FROM110
	}
	return hotlinev1.Direction_DIRECTION_INBOUND
}

// endOf says how the call ends, given why its owner finishes it.
func (c *Call) endOf(why string) End {
	switch {
	case c.overflowed:
		return End{Result: EndOverflowed}
	case c.xfer != nil && !c.xfer.AgentPresent() && c.xfer.State() == transfer.Completed:
		return End{Result: EndTransferred}
	case !c.answered.IsZero():
		return End{Result: EndCompleted}
	case why == "gateway_stopped":
		return End{Result: EndStopped, Reason: why}
	}
	switch c.phase {
	case phaseNew, phaseGreeting:
		return End{Result: EndAbandoned, Reason: "greeting"}
	case phaseQueue:
		return End{Result: EndAbandoned, Reason: "queue"}
	case phaseRinging:
		return End{Result: EndAbandoned, Reason: "ringing"}
	}
	return End{Result: EndOther, Reason: why}
}

// ticket builds the call's ticket (工单).
func (c *Call) ticket(end time.Time) *hotlinev1.Ticket {
	t := &hotlinev1.Ticket{
		TicketId: c.id, CallId: c.id, Direction: c.direction(),
		CallerNumber: c.caller, CalledNumber: c.dnis, Line: c.line.Number, MainLine: c.line.Main,
		Skill: c.skill, EnteredAt: timestamppb.New(c.entered), EndedAt: timestamppb.New(end),
		AgentExtension: c.agentExt, EndReason: c.end.TicketReason(), Recording: c.recording,
		PoliceReference: c.policeRef, GatewayInstance: c.s.o.Instance,
		Transfers: c.transferProtos(), Satisfaction: c.satisfaction,
		Supervision: c.sv.actions, Disposition: c.disp.d,
	}
	if t.AgentExtension == "" {
		t.AgentExtension = c.ticketAgent
	}
	if !c.answered.IsZero() {
		t.AnsweredAt = timestamppb.New(c.answered)
		t.WaitSeconds = uint32(c.answered.Sub(c.entered) / time.Second)
		t.TalkSeconds = uint32(end.Sub(c.answered) / time.Second)
	} else {
		t.WaitSeconds = uint32(end.Sub(c.entered) / time.Second)
	}
	return t
}
