package gateway

import (
	"context"
	"errors"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
)

// phase is where a call is in its journey.
type phase int

const (
	phaseNew      phase = iota
	phaseGreeting       // answered, greeting playing
	phaseQueue          // waiting for an agent, music on hold
	phaseRinging        // an agent's phone is ringing
	phaseTalking        // bridged with an agent
	phaseEnded
)

func (p phase) String() string {
	return [...]string{"new", "greeting", "queue", "ringing", "talking", "ended"}[p]
}

// Call is one citizen's conversation from entry to hangup. Its fields are
// owned by the goroutine running run; other goroutines use send.
type Call struct {
	s     *Service
	id    string // the caller channel's ID; also the ticket ID
	start *ariv5.StasisStart
	mb    *ari.Mailbox
	cmds  chan func(*Call)
	done  chan struct{}

	phase    phase
	entry    string // EntryInbound or EntryFrom110
	line     line.Line
	caller   string
	dnis     string
	entered  time.Time
	answered time.Time // by an agent
	counted  bool      // counted as a live call of its line (Active gauge)
	greeting string    // playback ID of the greeting
	received time.Time // when StasisStart reached the owner's dispatcher
	endCause string
}

func (s *Service) newCall(id string, ev *ariv5.StasisStart) *Call {
	return &Call{
		s: s, id: id, start: ev,
		cmds:     make(chan func(*Call), 8),
		done:     make(chan struct{}),
		received: time.Now(),
	}
}

// send runs fn on the call's owner goroutine; it reports false if the call
// has ended.
func (c *Call) send(fn func(*Call)) bool {
	select {
	case c.cmds <- fn:
		return true
	case <-c.done:
		return false
	}
}

// run is the call's owner loop: ARI events in order, commands, timers.
func (c *Call) run(ctx context.Context) {
	defer close(c.done)
	for c.phase != phaseEnded {
		select {
		case <-ctx.Done():
			c.finish(ctx, "gateway_stopped")
			return
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
	}
}

func (c *Call) deliver(ctx context.Context, d ari.Delivery) {
	if d.Overflowed > 0 {
		c.resync(ctx, d.Overflowed)
		return
	}
	switch ev := d.Event.(type) {
	case *ariv5.StasisStart:
		if ev.Channel.ID == c.id && c.phase == phaseNew {
			c.onStart(ctx, ev)
		}
	case *ariv5.StasisEnd:
		if ev.Channel.ID == c.id {
			c.channelGone("hangup")
		}
	case *ariv5.ChannelDestroyed:
		if ev.Channel.ID == c.id {
			c.channelGone("hangup")
		}
	case *ariv5.PlaybackFinished:
		if ev.Playback.ID == c.greeting && c.phase == phaseGreeting {
			c.enterQueue(ctx)
		}
	}
}

// resync re-reads the caller channel after this owner lost events.
func (c *Call) resync(ctx context.Context, lost int) {
	c.s.log.Warn("call lost events; resynchronising from ARI", "call_id", c.id, "lost", lost, "phase", c.phase)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if _, err := c.s.o.PBX.Channel(octx, c.id); errors.Is(err, ari.ErrNotFound) {
		c.channelGone("hangup")
		return
	}
	if c.phase == phaseNew {
		c.onStart(ctx, c.start)
	}
}

// onStart classifies the call, counts it and answers it.
func (c *Call) onStart(ctx context.Context, ev *ariv5.StasisStart) {
	c.entered = time.Time(ev.Timestamp)
	if c.entered.IsZero() {
		c.entered = time.Now()
	}
	if ev.Channel.Caller != nil {
		c.caller = ev.Channel.Caller.Number
	}
	c.entry = EntryInbound
	if len(ev.Args) > 0 && ev.Args[0] != "" {
		c.entry = ev.Args[0]
	}
	if len(ev.Args) > 1 {
		c.dnis = ev.Args[1]
	} else if ev.Channel.Dialplan != nil {
		c.dnis = ev.Channel.Dialplan.Exten
	}
	if !c.s.Accepting() {
		c.reject(ctx, "congestion", "gateway draining")
		return
	}
	switch c.entry {
	case EntryInbound, EntryFrom110:
	default:
		c.s.log.Warn("channel entered the application with an unknown entry", "call_id", c.id, "entry", c.entry)
		c.reject(ctx, "congestion", "unknown entry")
		return
	}
	l, err := c.s.o.Plan.Lookup(c.dnis)
	if c.entry == EntryFrom110 {
		// 110 transfers into the main line whatever number its trunk sends.
		l, err = c.s.o.Plan.Main(), nil
	}
	if err != nil {
		c.s.log.Info("call rejected: not a hotline number", "call_id", c.id, "err", err)
		c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Rejected, Line: count.UnknownLine, At: c.entered})
		c.reject(ctx, "unallocated", "unknown number")
		return
	}
	c.line = l
	c.counted = true
	c.s.o.Metrics.Calls.Active.WithLabelValues(l.Number).Inc()
	c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.Inbound, Line: l.Number, At: c.entered})
	if c.entry == EntryFrom110 {
		c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.From110, Line: l.Number, At: c.entered})
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.s.o.Metrics.Calls.StartToCommand.Observe(time.Since(c.received).Seconds())
	if err := c.s.o.PBX.Answer(octx, c.id); err != nil {
		c.s.log.Warn("answer failed", "call_id", c.id, "err", err)
		if errors.Is(err, ari.ErrNotFound) {
			c.channelGone("hangup")
		}
		return
	}
	c.s.log.Debug("call entered", "call_id", c.id, "line", l.Number, "main", l.Main, "skill", l.Skill, "entry", c.entry)
	if l.Greeting != "" {
		c.phase = phaseGreeting
		c.greeting = "greet-" + c.id
		if err := c.s.o.PBX.Play(octx, c.id, c.greeting, l.Greeting); err == nil {
			return
		}
		c.s.log.Warn("greeting failed; queueing without it", "call_id", c.id, "err", err)
	}
	c.enterQueue(ctx)
}

// enterQueue puts the caller on hold until an agent takes the call.
func (c *Call) enterQueue(ctx context.Context) {
	c.phase = phaseQueue
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if err := c.s.o.PBX.StartMOH(octx, c.id, c.s.o.MOHClass); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.s.log.Warn("music on hold failed", "call_id", c.id, "err", err)
	}
}

// reject hangs up a call the gateway does not take.
func (c *Call) reject(ctx context.Context, reason, why string) {
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.s.o.Metrics.Calls.StartToCommand.Observe(time.Since(c.received).Seconds())
	if err := c.s.o.PBX.Hangup(octx, c.id, reason); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.s.log.Warn("reject: hangup failed", "call_id", c.id, "err", err)
	}
	c.endCause = why
	c.phase = phaseEnded
}

// channelGone ends the call because its caller channel left.
func (c *Call) channelGone(why string) {
	if c.phase == phaseEnded {
		return
	}
	c.finish(context.Background(), why)
}

// handOver ends this owner without recording an outcome: another gateway
// instance has adopted the call and will count its end.
func (c *Call) handOver() {
	if c.counted {
		c.s.o.Metrics.Calls.Active.WithLabelValues(c.line.Number).Dec()
		c.counted = false
	}
	c.endCause = "handed_over"
	c.phase = phaseEnded
}

// finish records the call's outcome. It is the single exit of a call.
func (c *Call) finish(ctx context.Context, why string) {
	if c.phase == phaseEnded {
		return
	}
	now := time.Now()
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
		if kind != "" {
			c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: kind, Line: c.line.Number, At: c.entered, Value: wait.Milliseconds()})
			c.s.o.Metrics.Calls.Wait.WithLabelValues(c.line.Number).Observe(wait.Seconds())
		}
		c.s.o.Metrics.Calls.Active.WithLabelValues(c.line.Number).Dec()
		c.counted = false
	}
	c.endCause = why
	c.s.log.Debug("call ended", "call_id", c.id, "line", c.line.Number, "phase", c.phase, "why", why)
	c.phase = phaseEnded
}
