package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/transfer"
)

// greetingMax bounds a line's greeting: a greeting whose end was never
// reported queues the caller after it.
const greetingMax = 2 * time.Minute

// Call is one citizen's conversation from entry to hangup. Its fields are
// owned by the goroutine running run; other goroutines use send.
type Call struct {
	s    *Service
	ctx  context.Context // the owner's context, for commands and timers
	id   string          // the caller channel's ID; also the ticket ID
	mb   *ari.Mailbox
	cmds chan func(*Call)
	done chan struct{}
	// lateMu serialises the commands run after the owner ended (drainLate).
	lateMu sync.Mutex

	phase phase
	// parked: the owner gave up its goroutine while the call waits (park);
	// the next command, event or shutdown starts it again (wake).
	parked   atomic.Bool
	entry    string // EntryInbound or EntryFrom110
	line     line.Line
	caller   string
	dnis     string
	entered  time.Time
	answered time.Time // by an agent
	greeting string    // playback ID of the greeting
	received time.Time // when StasisStart reached the owner's dispatcher
	end      End       // set once, when the call ends

	// Admission control (admission.go) and answer.
	counted   bool // counted as a live call of its line (Active gauge)
	admitted  bool // taken by admission control: one of its live calls
	unsettled bool // admitted and still in phase new or greeting
	upAtStart bool // the dialplan answered the caller before Stasis
	// dismissTries counts the hangups of a refused call (dismiss);
	// noTicket: it ends without a ticket when its StasisEnd comes first.
	noTicket     bool
	dismissTries int
	answerTries  int // failed Answer requests

	// Routing.
	skill      string    // the skill group the call waits in now
	queuedAt   time.Time // when the call joined its current group
	priority   bool      // ahead of other waiting calls (from 110, re-queued)
	enqueued   bool      // in the pool's waiting set of skill
	overflowed bool
	agentUp    bool // the agent's channel answered (in the application)
	moh        bool // hold music started for the caller
	counted110 bool
	attempts   int
	// unstaffedHops counts immediate overflows of an unstaffed group.
	unstaffedHops int
	agentExt      string // the agent offered or talking
	agentLeg      string // the agent's channel ID
	bridge        string
	recording     string
	overflowPB    string // playback ID of the overflow message
	policeRef     string // 110's case reference (from110 calls)

	timers []*timer // pending, at most one per name (schedule)

	// One-key transfer.
	xfer        *transfer.Machine
	transfers   []*transfer.Record
	ticketAgent string    // the agent who talked, once freed by a transfer
	disp        dispState // the agent's disposition (disposition.go)

	// Post-call survey and outbound calls.
	surveyPB     string
	satisfaction string
	out          *outState

	// What a previous gateway left of the call, when this one adopted it
	// connected (adopt.go); nil otherwise.
	adopted *adoption
	// Redis writes left for the call's next step (steps.go).
	entryDue *entryDue
	closeDue *closeDue
	sv       supervision   // supervisors' actions (supervise.go)
	ann      announceState // queue announcements, call-back key (announce.go)
}

// timer is one named pending timer of a call (schedule).
type timer struct {
	name string
	t    *time.Timer
}

// cmdSlots is the size of a call's command queue: commands (timers, the
// router's offers, the edge's requests) are taken at once by an owner that
// is not in the middle of a request, so a few slots do; a full queue makes
// tryTell report the owner busy, and the others wait for a slot.
const cmdSlots = 8

// newCall returns the call of channel id. What the call needs of its
// StasisStart ev (nil for an outbound call) is read now (readStart), so the
// decoded event is not kept: a retried answer or a resynchronisation in
// phaseNew starts again from those fields.
func (s *Service) newCall(id string, ev *ariv5.StasisStart) *Call {
	c := &Call{
		s: s, id: id,
		cmds:     make(chan func(*Call), cmdSlots),
		done:     make(chan struct{}),
		received: time.Now(),
	}
	if ev != nil {
		c.readStart(ev)
	}
	return c
}

// send runs fn on the call's owner goroutine; it reports false if the call
// has ended.
func (c *Call) send(fn func(*Call)) bool {
	if c.ended() {
		return false
	}
	select {
	case c.cmds <- fn:
		c.wake()
		c.lateCheck()
		return true
	case <-c.done:
		return false
	}
}

// schedule runs fn on the owner after d, replacing a pending timer of the
// same name; cancel with unschedule. Timers never outlive the call.
func (c *Call) schedule(name string, d time.Duration, fn func(*Call)) {
	c.unschedule(name)
	tm := &timer{name: name}
	tm.t = time.AfterFunc(d, func() {
		c.send(func(c *Call) {
			if i := slices.Index(c.timers, tm); i >= 0 && c.phase != phaseEnded {
				c.timers = slices.Delete(c.timers, i, i+1)
				fn(c)
			}
		})
	})
	c.timers = append(c.timers, tm)
}

func (c *Call) unschedule(name string) {
	for i, tm := range c.timers {
		if tm.name == name {
			tm.t.Stop()
			c.timers = slices.Delete(c.timers, i, i+1)
			return
		}
	}
}

// run is the call's owner loop: ARI events in order, commands, timers. It
// reports parked when the call lives on without a goroutine (see park):
// the next wake starts run again on a fresh one, and this goroutine ends
// without touching the call.
func (c *Call) run(ctx context.Context) (parked bool) {
	c.ctx = ctx
	for c.phase != phaseEnded {
		select {
		case <-ctx.Done():
			// The gateway is stopping: the call stays in Asterisk and the
			// next gateway adopts it; nothing is counted or torn down here.
			c.handOver()
			c.stop()
			return false
		case fn := <-c.cmds:
			fn(c)
		case <-c.mb.Wait():
			for c.phase != phaseEnded {
				d, ok := c.mb.Pop()
				if !ok {
					break
				}
				c.deliver(ctx, d)
			}
		}
		if c.phase != phaseEnded && c.park(ctx) {
			return true
		}
	}
	c.stop()
	return false
}

// park gives up the owner's goroutine when the call waits for minutes
// (queued, talking) with nothing to do: such a call then costs no stack
// (a parked goroutine keeps at least 4 KiB, the routing on the way there
// grew it), only its Call and mailbox. It reports true when this
// goroutine is to end: the call is parked, or a wake that came meanwhile
// already started the owner on another goroutine. Still one owner at a
// time: the parked flag is handed over with compare-and-swap, and whoever
// clears it owns the call.
func (c *Call) park(ctx context.Context) bool {
	if c.phase != phaseQueue && c.phase != phaseTalking {
		return false
	}
	c.parked.Store(true)
	if len(c.cmds) == 0 && !c.mb.Pending() && ctx.Err() == nil {
		return true // a send, a push or Close will wake it
	}
	// Work came in while parking: keep it unless a waker took it first.
	return !c.parked.CompareAndSwap(true, false)
}

// wake starts the owner of a parked call on a fresh goroutine; it does
// nothing when the owner runs. Commands (send, ask, tell), the mailbox
// (Mailbox.SetWake) and Close call it after queuing their work.
func (c *Call) wake() {
	if c.parked.CompareAndSwap(true, false) {
		go c.s.own(c)
	}
}

// stop ends the owner: timers stopped, done closed, then whatever was
// queued meanwhile (drainLate).
func (c *Call) stop() {
	for _, tm := range c.timers {
		tm.t.Stop()
	}
	close(c.done)
	c.drainLate()
}

func (c *Call) deliver(ctx context.Context, d ari.Delivery) {
	if d.Overflowed > 0 {
		c.resync(ctx, d.Overflowed)
		return
	}
	if c.out != nil {
		c.deliverOutbound(ctx, d.Event)
		return
	}
	if c.superviseEvent(ctx, d.Event) || c.announceEvent(ctx, d.Event) {
		return
	}
	c.transferEvent(ctx, d.Event)
	if c.phase == phaseSurvey {
		c.surveyEvent(ctx, d.Event)
	}
	switch ev := d.Event.(type) {
	case *ariv5.StasisStart:
		switch {
		case ev.Channel.ID == c.id && c.phase == phaseNew:
			c.onStart(ctx, ev)
		case ev.Channel.ID == c.agentLeg && c.agentLeg != "":
			c.agentAnswered(ctx)
		}
	case *ariv5.StasisEnd:
		c.channelLeft(ctx, ev.Channel.ID, 0)
	case *ariv5.ChannelDestroyed:
		c.channelLeft(ctx, ev.Channel.ID, ev.Cause)
	case *ariv5.PlaybackFinished:
		switch {
		case ev.Playback.ID == c.greeting && c.phase == phaseGreeting:
			c.enterQueue(ctx)
		case ev.Playback.ID == c.overflowPB && c.overflowPB != "":
			c.hangupCaller(ctx, "normal")
		}
	}
}

// resync re-reads from ARI what the call depends on after this owner lost
// events (lost > 0: its mailbox overflowed): the caller's channel, the
// agent's leg, and the greeting whose PlaybackFinished may have been lost.
func (c *Call) resync(ctx context.Context, lost int) {
	c.s.log.Warn("call lost events; resynchronising from ARI", "call_id", c.id, "lost", lost, "phase", c.phase)
	if c.out != nil {
		c.outResync(ctx)
		return
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if _, err := c.s.o.PBX.Channel(octx, c.id); errors.Is(err, ari.ErrNotFound) {
		c.channelGone("hangup")
		return
	}
	switch c.phase {
	case phaseNew:
		c.onStart(ctx, nil)
	case phaseGreeting:
		// Its end may be among the lost events: stop what is left of the
		// greeting and queue the caller rather than leave it there.
		_ = c.s.o.PBX.StopPlayback(octx, c.greeting)
		c.unschedule("greeting")
		c.enterQueue(ctx)
	case phaseRinging, phaseTalking:
		c.resyncAgentLeg(ctx, octx)
		c.resyncBridge(ctx, octx) // resync.go
	case phaseQueue:
		c.resyncOverflow(ctx, octx)
	}
}

// resyncAgentLeg re-reads the agent's leg: gone is handled as its
// StasisEnd, up while the call still rings as its StasisStart.
func (c *Call) resyncAgentLeg(ctx, octx context.Context) {
	leg := c.agentLeg
	if leg == "" {
		return
	}
	ch, err := c.s.o.PBX.Channel(octx, leg)
	switch {
	case errors.Is(err, ari.ErrNotFound):
		c.s.log.Warn("resync: the agent's leg is gone", "call_id", c.id, "agent", c.agentExt)
		c.channelLeft(ctx, leg, 0)
	case err != nil:
		c.s.log.Warn("resync: agent leg not read", "call_id", c.id, "err", err)
	case c.phase == phaseRinging && ch.State == "Up":
		c.agentAnswered(ctx)
	}
}

// resyncLegs is the owner's part of a resynchronisation after a
// (re)connection: live is the set of channels in the application. A call
// none of whose legs is there ends (it reports true); a call still there
// re-reads what it depends on (see resync).
func (c *Call) resyncLegs(live map[string]bool) bool {
	if c.phase == phaseEnded {
		return true
	}
	for _, leg := range c.legs() {
		if leg != "" && live[leg] {
			if c.out == nil && (c.phase == phaseGreeting || c.phase == phaseRinging || c.phase == phaseTalking) {
				// Events of the lost connection may be gone: re-read the
				// greeting and the agent's leg.
				c.resync(c.ctx, 0)
			}
			return c.phase == phaseEnded
		}
	}
	if c.out != nil {
		c.outboundEnd(c.ctx, ResultFailed)
		return true
	}
	c.channelGone("resync")
	return true
}

// onStart classifies the call, counts it and answers it.
func (c *Call) onStart(ctx context.Context, ev *ariv5.StasisStart) {
	if ev != nil { // nil: again, from what newCall read
		c.readStart(ev)
	}
	if !c.s.Accepting() {
		c.returnToDialplan(ctx)
		return
	}
	l, ok := c.classify(ctx)
	if !ok {
		return
	}
	c.line = l
	c.skill = l.Skill
	c.priority = c.entry == EntryFrom110
	if c.adopted != nil {
		c.resume(ctx) // adopt.go: connected when the previous gateway stopped
		return
	}
	// New citizens' calls pass admission control; 110's transfers and
	// calls a previous gateway held are always taken.
	if c.entry == EntryInbound && c.bridge == "" && !c.admit(ctx) {
		return
	}
	c.answer(ctx, l)
}

// readStart takes the call's caller, entry, DNIS and 110 reference from
// its StasisStart.
func (c *Call) readStart(ev *ariv5.StasisStart) {
	c.upAtStart = ev.Channel.State == "Up"
	c.entered = time.Time(ev.Timestamp)
	if c.entered.IsZero() {
		c.entered = time.Now()
	}
	if ev.Channel.Caller != nil {
		c.caller = ev.Channel.Caller.Number
	}
	args := dialplan.ParseStasisArgs(ev.Args)
	c.entry = args.Entry
	if args.HasDNIS {
		c.dnis = args.DNIS
	} else if ev.Channel.Dialplan != nil {
		c.dnis = ev.Channel.Dialplan.Exten
	}
	if args.HasRef && c.entry == EntryFrom110 {
		c.policeRef = ClipRef(args.Ref)
	}
	if args.Adopted {
		// The previous gateway's bridge may still hold the caller.
		c.bridge = dialplan.BridgeID(c.id)
	}
}

// classify finds the call's line (110's calls go to the main line); a call
// on no line is counted as rejected and hung up.
func (c *Call) classify(ctx context.Context) (line.Line, bool) {
	switch c.entry {
	case EntryInbound, EntryFrom110:
	default:
		c.s.log.Warn("channel entered the application with an unknown entry", "call_id", c.id, "entry", c.entry)
		c.reject(ctx, "congestion", "unknown entry")
		return line.Line{}, false
	}
	l, err := c.s.o.Plan.Lookup(c.dnis)
	if c.entry == EntryInbound && len(c.s.o.From110DIDs) > 0 {
		if n, nerr := c.s.o.Plan.Normalize(c.dnis); nerr == nil && slices.Contains(c.s.o.From110DIDs, n) {
			c.entry = EntryFrom110
		}
	}
	if c.entry == EntryFrom110 {
		// 110 transfers into the main line whatever number its trunk sends.
		l, err = c.s.o.Plan.Main(), nil
	}
	if err != nil {
		c.s.log.Info("call rejected: not a hotline number", "call_id", c.id, "err", err)
		c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Rejected, Line: count.UnknownLine, At: c.entered})
		c.reject(ctx, "unallocated", "unknown number")
		return line.Line{}, false
	}
	return l, true
}

// answer answers the caller (unless the dialplan did), counts the call
// once, then plays the line's greeting or queues the call. A failed answer
// is retried with backoff; after admission.answer_attempts the caller is
// refused with congestion (shed), never left ringing nor retried forever.
func (c *Call) answer(ctx context.Context, l line.Line) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.s.o.Metrics.Calls.StartToCommand.Observe(time.Since(c.received).Seconds())
	var err error
	if !c.upAtStart {
		err = c.s.o.PBX.Answer(octx, c.id) // first: the caller stops hearing ringing
	}
	if !c.counted {
		c.countEntry(ctx, l)
	}
	if err != nil {
		c.flushEntry(ctx)
		if errors.Is(err, ari.ErrNotFound) {
			c.channelGone("hangup")
			return
		}
		c.answerTries++
		if c.answerTries >= c.s.o.Admission.AnswerAttempts {
			c.s.log.Warn("answer failed; refusing the caller", "call_id", c.id, "attempts", c.answerTries, "err", err)
			c.shed(ctx, ShedAnswerFailed)
			return
		}
		// The caller keeps ringing meanwhile: 250ms, 500ms, 1s... later.
		delay := 250 * time.Millisecond << (c.answerTries - 1)
		c.s.log.Warn("answer failed; retrying", "call_id", c.id, "attempt", c.answerTries, "retry_in", delay, "err", err)
		c.schedule("answer", delay, func(c *Call) {
			if c.phase == phaseNew {
				c.onStart(c.ctx, nil)
			}
		})
		return
	}
	c.unschedule("answer")
	c.s.log.Debug("call entered", "call_id", c.id, "line", l.Number, "main", l.Main, "skill", l.Skill, "entry", c.entry)
	if l.Greeting != "" {
		c.enter(phaseGreeting)
		c.greeting = dialplan.GreetingPlayback(c.id)
		if err := c.s.o.PBX.Play(octx, c.id, c.greeting, l.Greeting); err == nil {
			// Backstop for a PlaybackFinished that never comes.
			c.schedule("greeting", greetingMax, func(c *Call) {
				if c.phase == phaseGreeting {
					c.s.log.Warn("greeting outlived its limit; queueing the caller", "call_id", c.id)
					c.resync(c.ctx, 0)
				}
			})
			return
		}
		c.s.log.Warn("greeting failed; queueing without it", "call_id", c.id, "err", err)
	}
	c.enterQueue(ctx)
}

// countEntry counts the call once on its line as it enters, and registers
// it as live.
func (c *Call) countEntry(ctx context.Context, l line.Line) {
	c.counted = true
	ops := []count.Op{{CallID: c.id, Kind: count.Inbound, Line: l.Number, At: c.entered}}
	if c.entry == EntryFrom110 {
		ops = append(ops, count.Op{CallID: c.id, Kind: count.From110, Line: l.Number, At: c.entered})
	}
	c.s.o.Metrics.Calls.Active.WithLabelValues(l.Number).Inc()
	c.entryDue = &entryDue{ops: ops}
	if !c.s.steps.on() || l.Greeting != "" || c.adopted != nil {
		c.flushEntry(ctx) // no queue step follows at once
	}
	if c.entry == EntryFrom110 {
		c.s.o.Metrics.Transfers.From110Arrived()
		c.s.mu.Lock()
		c.s.from110[c.caller] = append(c.s.from110[c.caller], c)
		c.s.mu.Unlock()
		if c.policeRef == "" && c.s.o.PoliceRefs != nil {
			rctx, cancel := c.s.opCtx(ctx)
			if ref, err := c.s.o.PoliceRefs.Take(rctx, c.caller); err == nil {
				c.policeRef = ClipRef(ref)
			}
			cancel()
		}
	}
}

// reject hangs up a call the gateway does not take.
func (c *Call) reject(ctx context.Context, reason, why string) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.s.o.Metrics.Calls.StartToCommand.Observe(time.Since(c.received).Seconds())
	c.end = End{Result: EndRejected, Reason: why}
	c.dismiss(octx, reason)
}

// dismissAttempts bounds the hangups of a refused channel (dismiss): about
// 40 s of retries.
const dismissAttempts = 10

// dismiss hangs up the channel of a call the gateway refuses (reject, shed)
// and ends the owner once Asterisk took the hangup or the channel is gone.
// A hangup that failed (Asterisk saturated: the request timed out) is
// retried with backoff while the owner stays, so that a refused caller is
// never left ringing in Asterisk; the channel's StasisEnd ends the owner
// too, without a ticket (a refused call has none).
func (c *Call) dismiss(ctx context.Context, reason string) {
	err := c.s.o.PBX.Hangup(ctx, c.id, reason)
	if err == nil || errors.Is(err, ari.ErrNotFound) {
		c.enter(phaseEnded)
		return
	}
	c.dismissTries++
	if c.dismissTries >= dismissAttempts {
		c.s.log.Error("refused call not hung up; left to Asterisk", "call_id", c.id, "attempts", c.dismissTries, "err", err)
		c.enter(phaseEnded)
		return
	}
	delay := min(250*time.Millisecond<<(c.dismissTries-1), 5*time.Second)
	c.s.log.Warn("hangup of a refused call failed; retrying", "call_id", c.id, "attempt", c.dismissTries, "retry_in", delay, "err", err)
	c.noTicket = true
	c.schedule("dismiss", delay, func(c *Call) {
		octx, cancel := c.s.opCtx(c.ctx)
		defer cancel()
		c.dismiss(octx, reason)
	})
}

// returnToDialplan gives a call that arrived while this gateway drains back
// to the dialplan, which offers it to the next gateway instance: it sets
// HOTLINE_RETRY so that the dialplan does not take the Stasis return for
// a finished call. Nothing is counted here; the next gateway counts it.
func (c *Call) returnToDialplan(ctx context.Context) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	err := c.s.o.PBX.SetVar(octx, c.id, dialplan.VarRetry, "1")
	if err == nil {
		err = c.s.o.PBX.Continue(octx, c.id, "", "", 0)
	}
	if err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.s.log.Warn("draining: call not returned to the dialplan; rejecting it", "call_id", c.id, "err", err)
		c.reject(ctx, "congestion", "gateway draining")
		return
	}
	c.s.log.Info("draining: call returned to the dialplan for another gateway", "call_id", c.id)
	c.end = End{Result: EndReturned}
	c.enter(phaseEnded)
}

// channelGone ends the call because its caller channel left.
func (c *Call) channelGone(why string) {
	if c.phase == phaseEnded {
		return
	}
	ctx := c.ctx
	if ctx == nil || ctx.Err() != nil {
		ctx = context.Background()
	}
	c.finish(ctx, why)
}

// handOver ends this owner without recording an outcome: another gateway
// instance has adopted the call and will count its end.
func (c *Call) handOver() {
	c.outHandOver()
	if c.counted {
		c.s.o.Metrics.Calls.Active.WithLabelValues(c.line.Number).Dec()
		c.counted = false
	}
	c.end = End{Result: EndHandedOver}
	c.enter(phaseEnded)
}

// finish records the call's outcome. It is the single exit of a call.
func (c *Call) finish(ctx context.Context, why string) {
	if c.phase == phaseEnded {
		return
	}
	now := time.Now()
	c.flushEntry(ctx)
	c.teardown(ctx, why)
	if c.phase == phaseSurvey && c.satisfaction == "" {
		c.satisfaction = SurveyNoAnswer // hung up without a key
		c.recordSurvey()
	}
	if c.counted {
		wait := now.Sub(c.entered)
		var kind count.Kind
		switch c.phase {
		case phaseNew, phaseGreeting:
			kind = count.AbandonGreeting
		case phaseQueue:
			kind = count.AbandonQueue
		case phaseRinging:
			kind = count.AbandonRinging
		}
		if c.overflowed || c.ann.asked || c.end.Result == EndShed {
			kind = "" // counted overflow, callback_requested or shed already
		}
		if kind == count.AbandonQueue || kind == count.AbandonRinging {
			c.addCallback(ctx, now, callback.ReasonAbandoned)
		}
		if kind != "" {
			c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: kind, Line: c.line.Number, At: c.entered, Value: wait.Milliseconds()})
			c.s.o.Metrics.Calls.Wait.WithLabelValues(c.line.Number).Observe(wait.Seconds())
		}
		c.s.o.Metrics.Calls.Active.WithLabelValues(c.line.Number).Dec()
		c.counted = false
	}
	if c.end.Result == EndUnset {
		c.end = c.endOf(why)
	}
	c.s.log.Debug("call ended", "call_id", c.id, "line", c.line.Number, "phase", c.phase.String(),
		"result", c.end.Result.String(), "reason", c.end.Reason, "why", why)
	var t *hotlinev1.Ticket
	if c.line.Number != "" && !c.noTicket {
		t = c.ticket(now)
	}
	c.endStep(ctx, t) // the release, talk count and ticket; unregisters the call once its ticket is in Redis
	c.enter(phaseEnded)
}

// register records the call in the shared registry of live calls.
func (c *Call) register(ctx context.Context) {
	if c.s.o.Registry == nil {
		return
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	err := c.s.o.Registry.Enter(octx, c.liveCall())
	if err != nil {
		c.s.log.Warn("call not registered as live", "call_id", c.id, "err", err)
	}
}

// ClipRef keeps a 110 case reference printable and short.
func ClipRef(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r >= 0x20 && r != 0x7f {
			out = append(out, r)
		}
		if len(out) == 64 {
			break
		}
	}
	return string(out)
}
