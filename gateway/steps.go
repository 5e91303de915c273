package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
)

// A routed call's Redis writes go in three round trips, one pipeline per
// step, all on the pool's client (every key shares the hash tag, so each
// pipeline also works on one Cluster node):
//
//	enter:   registry HSET + entry counts + enqueue-and-claim (the claim
//	         script publishes the agent's ringing state and the offer)
//	connect: answered script (state, "connected") + registry HSET with the
//	         agent + answered counts
//	end:     release script ("ended", state, skill ready) + talk count +
//	         ticket enqueue that also takes the call out of the registry
//
// A step whose pipeline fails falls back to the per-operation paths (their
// retries, the count queue, the ticket spool and journals), so no call,
// count or ticket is lost; every script is safe to run again.

// stepRegistry is a registry whose writes can ride in a step's pipeline
// (store.CallRegistry).
type stepRegistry interface {
	RedisClient() redis.UniversalClient
	EnterIn(ctx context.Context, pipe redis.Pipeliner, c LiveCall) (*redis.IntCmd, error)
	LeaveKey() string
}

// stepOutbox is an outbox whose enqueue can ride in a step's pipeline
// (ticket.Outbox, recording.Outbox).
type stepOutbox interface {
	Redis() redis.UniversalClient
	EnqueueIn(ctx context.Context, pipe redis.Pipeliner, t *hotlinev1.Ticket, leaveKey, leaveField string) (interface{ Err(context.Context) error }, error)
}

// steps says which of a call's writes can share the pool's pipelines:
// those on the pool's own client.
type steps struct {
	rdb redis.UniversalClient // the pool's client; nil: no steps
	reg stepRegistry          // nil: the registry is elsewhere (or none)
	out stepOutbox            // nil: the outbox is elsewhere
}

func newSteps(o Options) steps {
	if o.Pool == nil || o.Counter == nil || o.Pool.Redis() == nil || o.Counter.Redis() != o.Pool.Redis() {
		return steps{}
	}
	st := steps{rdb: o.Pool.Redis()}
	if r, ok := o.Registry.(stepRegistry); ok && r.RedisClient() == st.rdb {
		st.reg = r
	}
	if out, ok := o.Outbox.(stepOutbox); ok && out.Redis() == st.rdb {
		st.out = out
	}
	if o.Registry != nil && st.reg == nil {
		return steps{} // the registry must be written in its own order
	}
	return st
}

// on reports whether calls take the steps.
func (st steps) on() bool { return st.rdb != nil }

// entryDue is what countEntry left for the enter step: the call's entry
// counts, and its registration.
type entryDue struct {
	ops []count.Op
}

// entryIn queues the call's pending entry (registration and counts) in
// pipe; run the returned func once the pipeline ran.
func (c *Call) entryIn(ctx context.Context, pipe redis.Pipeliner) func(ctx context.Context) {
	d := c.entryDue
	if d == nil {
		return func(context.Context) {}
	}
	c.entryDue = nil
	var reg *redis.IntCmd
	if c.s.steps.reg != nil {
		var err error
		if reg, err = c.s.steps.reg.EnterIn(ctx, pipe, c.liveCall()); err != nil {
			c.s.log.Warn("call not registered as live", "call_id", c.id, "err", err)
		}
	}
	counts := c.s.o.Counter.Pipe(ctx, pipe, d.ops...)
	return func(ctx context.Context) {
		counts.Done()
		if reg != nil && reg.Err() != nil {
			c.s.log.Warn("registration in the enter step failed; registering on its own", "call_id", c.id, "err", reg.Err())
			c.register(ctx)
		}
	}
}

// flushEntry writes a pending entry on its own (no queue step follows):
// one pipeline when the steps are on.
func (c *Call) flushEntry(ctx context.Context) {
	d := c.entryDue
	if d == nil {
		return
	}
	if c.s.steps.on() {
		octx, cancel := c.s.opCtx(ctx)
		defer cancel()
		pipe := c.s.steps.rdb.Pipeline()
		after := c.entryIn(octx, pipe)
		if _, err := pipe.Exec(octx); err != nil {
			c.s.log.Debug("entry step: not every command succeeded", "call_id", c.id, "err", err)
		}
		after(ctx)
		return
	}
	c.entryDue = nil
	c.register(ctx)
	for _, op := range d.ops {
		c.s.o.Counter.Add(op)
	}
}

// enqueueStep is the enter step: the call's pending entry, then the
// call enqueued and, when an agent is ready and the call is among the
// first waiting, claimed for it with the offer published — one round trip.
// Without an agent the call joins the router.
func (c *Call) enqueueStep(ctx, octx context.Context) {
	pipe := c.s.steps.rdb.Pipeline()
	after := c.entryIn(octx, pipe)
	claim, err := c.s.o.Pool.EnqueueClaimIn(octx, pipe, c.skill, c.id, c.priority, c.entered, c.callOffer())
	if _, xerr := pipe.Exec(octx); xerr != nil && !errors.Is(xerr, redis.Nil) {
		c.s.log.Debug("enter step: not every command succeeded", "call_id", c.id, "err", xerr)
	}
	after(ctx)
	var ext string
	var desks int64
	if err == nil {
		ext, desks, err = claim.Result(octx)
	}
	switch {
	case err == nil:
		c.enqueued = false
		c.offerClaimed(ext, desks)
	case errors.Is(err, acd.ErrNoAgent), errors.Is(err, acd.ErrNotHead):
		c.enqueued = true
		c.joinRouter()
	default:
		// Queued, or even claimed, for all we know: a teardown dequeues it
		// (giving a claimed agent back); the retry claims again (the same
		// agent comes back).
		c.enqueued = true
		c.s.log.Warn("enqueue failed; retrying", "call_id", c.id, "skill", c.skill, "err", err)
		c.retryEnqueue()
	}
}

// offerClaimed continues with the agent the enter step claimed: desks is
// how many of its event streams received the offer.
func (c *Call) offerClaimed(ext string, desks int64) {
	c.enter(phaseRinging)
	c.agentExt = ext
	c.attempts++
	var err error
	if desks == 0 {
		err = fmt.Errorf("acd offer %s to %s: %w", c.id, ext, acd.ErrNoDesktop)
	}
	c.offered(ext, err)
}

// connectStep is the connect step: the agent's answer in the pool (its
// state and "connected" published by the script), the call registered
// with its agent (what an adopting gateway needs) and counted answered.
func (c *Call) connectStep(ctx, octx context.Context, now time.Time) {
	c.answered = now
	ops, wait := c.answeredOps(now)
	pipe := c.s.steps.rdb.Pipeline()
	connected := progressEvent(c.id, hotlinev1.CallProgress_KIND_CONNECTED, "")
	ans, aerr := c.s.o.Pool.AnsweredIn(octx, pipe, c.agentExt, c.id, connected)
	var reg *redis.IntCmd
	if c.s.steps.reg != nil {
		var err error
		if reg, err = c.s.steps.reg.EnterIn(octx, pipe, c.liveCall()); err != nil {
			c.s.log.Warn("call not registered as live", "call_id", c.id, "err", err)
		}
	}
	counts := c.s.o.Counter.Pipe(octx, pipe, ops...)
	if _, err := pipe.Exec(octx); err != nil && !errors.Is(err, redis.Nil) {
		c.s.log.Debug("connect step: not every command succeeded", "call_id", c.id, "err", err)
	}
	counts.Done()
	if aerr == nil {
		aerr = ans.Err(octx)
	}
	if aerr != nil && !errors.Is(aerr, acd.ErrWrongCall) && !errors.Is(aerr, acd.ErrUnknownAgent) {
		// Unknown whether it ran: once more on its own (idempotent).
		aerr = c.s.o.Pool.AnsweredThenEvent(octx, c.agentExt, c.id, progressEvent(c.id, hotlinev1.CallProgress_KIND_CONNECTED, ""))
	}
	if aerr != nil {
		c.s.log.Warn("agent answered: pool update failed", "call_id", c.id, "agent", c.agentExt, "err", aerr)
		c.publishProgress(octx, c.agentExt, hotlinev1.CallProgress_KIND_CONNECTED, "")
	}
	if reg != nil && reg.Err() != nil {
		c.s.log.Warn("registration in the connect step failed; registering on its own", "call_id", c.id, "err", reg.Err())
		c.register(ctx)
	}
	c.s.o.Metrics.Calls.Wait.WithLabelValues(c.line.Number).Observe(wait.Seconds())
	c.s.waits.note(c.skill, wait)
}

// closeDue is what teardown leaves for the end step: the agent's release
// (with its "ended" event) and the talk count.
type closeDue struct {
	ext     string
	outcome acd.Outcome
	ended   *hotlinev1.AgentEvent
	talk    *count.Op
}

// closeNow runs d on its own (no end step): the release, then the count.
func (c *Call) closeNow(ctx context.Context, d *closeDue) {
	if d.ext != "" {
		octx, cancel := c.s.opCtx(ctx)
		if err := c.s.o.Pool.ReleaseAfterEvent(octx, d.ext, c.id, d.outcome, d.ended); err != nil {
			c.s.log.Warn("release agent failed", "call_id", c.id, "agent", d.ext, "err", err)
		}
		cancel()
	}
	if d.talk != nil {
		c.s.o.Counter.Add(*d.talk)
	}
}

// endStep is the end step: the agent's release, the talk count and the
// ticket (t, nil for none) with the call leaving the registry in the same
// script once the ticket is in Redis. A ticket held for its disposition,
// or an outbox elsewhere, takes the spool's way.
func (c *Call) endStep(ctx context.Context, t *hotlinev1.Ticket) {
	d := c.closeDue
	c.closeDue = nil
	s := c.s
	ticketIn := t != nil && s.tickets != nil && s.steps.on() && s.steps.out != nil && s.steps.reg != nil
	if t != nil && ticketIn && s.holdForDisposition(t) {
		t, ticketIn = nil, false // held: the journal has it, the call left the registry
	}
	if !s.steps.on() || (!ticketIn && (d == nil || d.ext == "" && d.talk == nil)) {
		if d != nil {
			c.closeNow(ctx, d)
		}
		if t != nil {
			s.submitTicket(t)
		}
		return
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	pipe := s.steps.rdb.Pipeline()
	var rel *acd.ReleaseStep
	var rerr error
	var counts *count.InPipe
	if d != nil {
		if d.ext != "" {
			rel, rerr = s.o.Pool.ReleaseIn(octx, pipe, d.ext, c.id, d.outcome, d.ended)
		}
		if d.talk != nil {
			counts = s.o.Counter.Pipe(octx, pipe, *d.talk)
		}
	}
	var q interface{ Err(context.Context) error }
	var qerr error
	if ticketIn {
		q, qerr = s.steps.out.EnqueueIn(octx, pipe, t, s.steps.reg.LeaveKey(), t.GetCallId())
	}
	if _, err := pipe.Exec(octx); err != nil && !errors.Is(err, redis.Nil) {
		s.log.Debug("end step: not every command succeeded", "call_id", c.id, "err", err)
	}
	counts.Done()
	if rel != nil && rerr == nil {
		rerr = rel.Err(octx)
	}
	if d != nil && d.ext != "" && rerr != nil && !errors.Is(rerr, acd.ErrUnknownAgent) {
		// Unknown whether it ran: once more on its own (a repeated release
		// is a no-op).
		rerr = s.o.Pool.ReleaseAfterEvent(octx, d.ext, c.id, d.outcome, d.ended)
	}
	if rerr != nil {
		s.log.Warn("release agent failed", "call_id", c.id, "agent", d.ext, "err", rerr)
	}
	if !ticketIn {
		if t != nil {
			s.submitTicket(t)
		}
		return
	}
	if qerr == nil {
		qerr = q.Err(octx)
	}
	s.countDisposition(t)
	if qerr != nil {
		// The spool retries it (journaled first) and unregisters the call
		// once it is in the outbox.
		s.log.Warn("ticket not yet in the outbox; spooled for retry", "ticket_id", t.GetTicketId(), "err", qerr)
		s.tickets.journal(t)
		s.tickets.add(t)
	}
}

// liveCall is what the registry keeps of the call.
func (c *Call) liveCall() LiveCall {
	return LiveCall{ID: c.id, Entry: c.entry, Line: c.line.Number, Main: c.line.Main,
		Skill: c.line.Skill, Caller: c.caller, DNIS: c.dnis, Entered: c.entered, Instance: c.s.o.Instance,
		Agent: c.agentExt, AgentLeg: c.agentLeg, Attempts: c.attempts, Answered: c.answered}
}
