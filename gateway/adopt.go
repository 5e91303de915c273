package gateway

import (
	"context"
	"errors"
	"slices"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/transfer"
)

// adoption is what a previous gateway left in Asterisk and Redis of a call
// that was connected when it stopped: the legs still in the call's bridge,
// the registry's entry (agent, answer time) and the transfer records.
type adoption struct {
	reg      LiveCall // zero when the call was not registered
	agentLeg string   // the agent's leg, in the bridge; "" when gone
	recs     []*transfer.Record
	pres     transfer.Presence
}

// adoptAll adopts the channels in the application that nothing on this
// instance owns: callers first, each keeping the legs of its bridge (the
// agent, 110), then every other leg the gateway originated is hung up.
// It returns how many calls were adopted; beat marks progress (on the
// event loop) after each bounded step.
func (s *Service) adoptAll(ctx context.Context, ids []string, beat func()) int {
	if !s.Accepting() {
		return 0
	}
	roles := map[string]string{}
	var callers []string
	for _, id := range ids {
		if _, ok := s.call(id); ok || s.o.Dispatcher.Routed(ari.KindChannel, id) {
			continue // a live call's own channel or leg (a reconnection)
		}
		octx, cancel := s.opCtx(ctx)
		role, err := s.o.PBX.GetVar(octx, id, dialplan.VarRole)
		cancel()
		if err != nil && !errors.Is(err, ari.ErrNotFound) {
			s.log.Warn("resync: cannot read channel role", "channel", id, "err", err)
		}
		beat()
		if role != "" {
			roles[id] = role
		} else {
			callers = append(callers, id)
		}
	}
	if len(callers) == 0 && len(roles) == 0 {
		return 0
	}
	reg := s.registered(ctx)
	kept := map[string]bool{}
	n := 0
	for _, id := range callers {
		if s.adopt(ctx, id, roles, reg, kept) {
			n++
		}
		beat()
	}
	for id, role := range roles {
		if kept[id] {
			continue
		}
		octx, cancel := s.opCtx(ctx)
		err := s.o.PBX.Hangup(octx, id, "normal")
		cancel()
		if err != nil && !errors.Is(err, ari.ErrNotFound) {
			s.log.Warn("resync: cannot hang up orphaned leg", "channel", id, "role", role, "err", err)
		}
		beat()
	}
	return n
}

// registered returns the registry's live calls by ID (empty without a
// registry or when it cannot be read).
func (s *Service) registered(ctx context.Context) map[string]LiveCall {
	out := map[string]LiveCall{}
	if s.o.Registry == nil {
		return out
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	all, err := s.o.Registry.All(octx)
	if err != nil {
		s.log.Warn("resync: call registry not readable; adopted calls are queued again", "err", err)
		return out
	}
	for _, lc := range all {
		out[lc.ID] = lc
	}
	return out
}

// adopt takes over a caller channel found in the application with no
// owner. A call its previous gateway had connected keeps its bridge and
// the legs in it (kept): the agent, 110. Any other call is offered again.
func (s *Service) adopt(ctx context.Context, id string, roles map[string]string, reg map[string]LiveCall, kept map[string]bool) bool {
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	ch, err := s.o.PBX.Channel(octx, id)
	if err != nil {
		return false
	}
	ev := &ariv5.StasisStart{Channel: *ch}
	ev.Type = "StasisStart"
	ev.Timestamp = ariv5.DateTime(time.Now())
	if ts := ch.Creationtime; ts != nil && ts.Seconds > 0 {
		ev.Timestamp = ariv5.DateTime(time.Unix(ts.Seconds, int64(ts.Nanos)))
	}
	// The dialplan records the Stasis arguments in channel variables so
	// that the call is adopted as it entered: same line, same from-110
	// priority, same entry time.
	entry, _ := s.o.PBX.GetVar(octx, id, dialplan.VarEntry)
	dnis, _ := s.o.PBX.GetVar(octx, id, dialplan.VarDNIS)
	ref, _ := s.o.PBX.GetVar(octx, id, dialplan.VarRef)
	if dnis == "" && ch.Dialplan != nil {
		dnis = ch.Dialplan.Exten
	}
	ev.Args = dialplan.AdoptedArgs(entry, dnis, ref)
	a := s.connectedState(octx, id, roles, reg)
	mb := s.newOwnerOf(ev, a)
	if mb == nil {
		return false
	}
	if a != nil {
		// Route the kept legs' events to the new owner before anything else
		// happens to them.
		s.o.Dispatcher.Attach(ari.KindBridge, dialplan.BridgeID(id), mb)
		if a.agentLeg != "" {
			kept[a.agentLeg] = true
			s.o.Dispatcher.Attach(ari.KindChannel, a.agentLeg, mb)
		}
		if peer := lastPeer(a.recs); peer != "" && (a.pres.Peer || a.pres.PeerExists) {
			kept[peer] = true
			s.o.Dispatcher.Attach(ari.KindChannel, peer, mb)
		}
	}
	s.o.Dispatcher.Dispatch(ev)
	s.log.Info("adopted call left by a previous gateway", "call_id", id, "connected", a != nil)
	return true
}

// connectedState reads what the call's bridge still holds; nil for a call
// that was not connected (its caller is not in its bridge and it was never
// answered).
func (s *Service) connectedState(ctx context.Context, id string, roles map[string]string, reg map[string]LiveCall) *adoption {
	lc, registered := reg[id]
	members, err := s.o.PBX.BridgeChannels(ctx, dialplan.BridgeID(id))
	if err != nil && !errors.Is(err, ari.ErrNotFound) {
		s.log.Warn("resync: bridge of an adopted call not read", "call_id", id, "err", err)
	}
	inBridge := slices.Contains(members, id)
	if !inBridge && (!registered || lc.Answered.IsZero()) {
		return nil
	}
	a := &adoption{reg: lc}
	for _, m := range members {
		if m != id && roles[m] == dialplan.RoleAgent && dialplan.BelongsTo(m, id) {
			a.agentLeg = m
		}
	}
	if s.o.TransferRecords != nil {
		recs, err := s.o.TransferRecords.List(ctx, id, 0)
		if err != nil {
			s.log.Warn("resync: transfer records of an adopted call not read", "call_id", id, "err", err)
		}
		a.recs = recs
	}
	if peer := lastPeer(a.recs); peer != "" {
		a.pres.Peer = slices.Contains(members, peer)
		a.pres.PeerUp = roles[peer] != "" && !a.pres.Peer
		if a.pres.Peer || a.pres.PeerUp {
			a.pres.PeerExists = true
		} else if _, err := s.o.PBX.Channel(ctx, peer); err == nil {
			a.pres.PeerExists = true // still ringing
		}
	}
	a.pres.Agent = a.agentLeg != ""
	return a
}

func lastPeer(recs []*transfer.Record) string {
	if len(recs) == 0 {
		return ""
	}
	return recs[len(recs)-1].PeerChannel
}

// resume carries on with a call adopted connected: its agent (if still in
// the bridge) keeps talking, its transfer goes on where it was (110 stays
// with the caller), and it is counted answered once, never queued again. A
// call whose agent and 110 both left while no gateway watched ends as
// completed.
func (c *Call) resume(ctx context.Context) {
	a := c.adopted
	c.adopted = nil
	lc := a.reg
	c.bridge = dialplan.BridgeID(c.id)
	c.answered = lc.Answered
	c.attempts = max(lc.Attempts, 1)
	ext := lc.Agent
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if ext == "" && a.agentLeg != "" && c.s.o.Pool != nil {
		ext, _ = c.s.o.Pool.ClaimedBy(octx, c.id) // not registered as answered
	}
	c.transfers = a.recs
	for _, r := range a.recs {
		if !r.AnsweredAt.IsZero() {
			c.counted110 = true
		}
	}
	c.countEntry(ctx, c.line) // counted once whichever gateway counts it
	if c.answered.IsZero() {
		c.answered = time.Now()
	}
	c.recountAnswered()
	if c.line.Record {
		c.recording = dialplan.RecordingName(c.id)
	}
	if a.agentLeg != "" {
		c.agentExt, c.agentLeg, c.agentUp = ext, a.agentLeg, true
	} else if ext != "" {
		// The agent left while no gateway watched: free it.
		c.ticketAgent = ext
		if c.s.o.Pool != nil { // a no-op if it is on another call by now
			if err := c.s.o.Pool.Release(octx, ext, c.id, acd.Completed); err != nil {
				c.s.log.Warn("adopted call: release of its departed agent failed", "call_id", c.id, "agent", ext, "err", err)
			}
		}
	}
	c.enter(phaseTalking)
	c.resumeTransfer(ctx, a)
	c.register(ctx) // under this instance now
	c.s.log.Info("adopted call resumed connected", "call_id", c.id, "agent", c.agentExt, "transfers", len(c.transfers), "with_110", c.transferBusy())
	if c.phase != phaseTalking || c.agentLeg != "" || c.transferBusy() || c.end.Result != EndUnset {
		return
	}
	if rec := c.lastTransfer(); rec != nil && rec.State != transfer.Completed && !rec.AgentLeftAt.IsZero() {
		// Re-queued after a transfer that failed once its agent had left.
		c.s.log.Info("adopted call: waiting for an agent after a failed transfer; queued again", "call_id", c.id)
		c.priority = true
		c.agentExt, c.agentLeg, c.agentUp = "", "", false
		c.enterQueue(ctx)
		return
	}
	c.s.log.Info("adopted call: nobody is with the caller any more; ending it", "call_id", c.id)
	c.hangupCaller(ctx, "normal")
}

func (c *Call) lastTransfer() *transfer.Record {
	if len(c.transfers) == 0 {
		return nil
	}
	return c.transfers[len(c.transfers)-1]
}

// recountAnswered counts an adopted call answered again: Redis keeps each
// call's count once, so this only restores an answer the previous gateway
// had not yet written when it stopped.
func (c *Call) recountAnswered() {
	wait := c.answered.Sub(c.entered)
	c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Answered, Line: c.line.Number, At: c.entered, Value: wait.Milliseconds()})
	if wait <= c.s.o.AnswerTarget {
		c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.AnsweredTarget, Line: c.line.Number, At: c.entered})
	}
}

// resumeTransfer gives an adopted call its transfer machine in the state
// its records and its bridge say, and brings it in line with the bridge.
func (c *Call) resumeTransfer(ctx context.Context, a *adoption) {
	if c.s.o.Transfers == nil {
		return
	}
	m, err := c.s.o.Transfers.Resume(transfer.Call{
		ID: c.id, CallerChannel: c.id, AgentChannel: c.agentLeg, AgentExt: c.agentExt,
		Bridge: c.bridge, CallerNumber: c.caller,
		AttachPeer: func(id string) { c.s.o.Dispatcher.Attach(ari.KindChannel, id, c.mb) },
	}, a.recs, a.pres)
	if err != nil {
		c.s.log.Error("adopted call: transfer machine not resumed; transfers unavailable", "call_id", c.id, "err", err)
		return
	}
	c.xfer = m
	c.applyTransfer(ctx, transfer.Result{Deadline: m.Deadline()})
	for _, in := range m.PendingInputs(a.pres) {
		res, err := m.Handle(ctx, in)
		if err != nil {
			c.s.log.Warn("adopted call: transfer input refused", "call_id", c.id, "err", err)
			continue
		}
		c.applyTransfer(ctx, res)
	}
}
