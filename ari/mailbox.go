package ari

import (
	"context"
	"log/slog"
	"sync"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/metrics"
)

// Delivery is what a mailbox hands to its owner: an event, or an overflow
// notice.
type Delivery struct {
	// Event is the next event; nil for an overflow notice.
	Event ariv5.Event
	// Overflowed, when > 0, makes this Delivery an overflow notice: that many
	// events for this owner were dropped because its mailbox was full. The
	// notice comes after the events queued before the first drop and before
	// any event queued after it; the owner must resynchronise its call from
	// ARI (Channel, AppChannels...).
	Overflowed int
}

// minSlots is a mailbox's ring size when it is new or drained: most calls
// never have more events queued at once, so the ring grows (doubling, up
// to the mailbox's limit) only for those that do, and a grown ring is
// given back once drained.
const minSlots = 4

func newMailbox(name string, limit int, log *slog.Logger, m *metrics.ARI) *Mailbox {
	return &Mailbox{
		name: name, log: log, m: m,
		buf:    make([]ariv5.Event, min(minSlots, limit)),
		limit:  limit,
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

// grow doubles the ring (up to limit), keeping the queued events in
// order; mb.mu is held and the ring is full.
func (mb *Mailbox) grow() {
	buf := make([]ariv5.Event, min(2*len(mb.buf), mb.limit))
	k := copy(buf, mb.buf[mb.head:])
	copy(buf[k:], mb.buf[:mb.head])
	mb.buf, mb.head = buf, 0
}

// Mailbox is a bounded FIFO of events consumed by one owner goroutine. The
// dispatcher pushes without ever blocking: when the mailbox is full the event
// is dropped, counted (Overflow), a warning is logged once per overflow
// episode, and the owner receives a Delivery with Overflowed > 0.
//
// Consume with Next, or, in a select loop, wait on Wait() and then call Pop
// until it reports false.
type Mailbox struct {
	name   string
	log    *slog.Logger
	m      *metrics.ARI
	notify chan struct{} // capacity 1: "there may be something to pop"
	done   chan struct{} // closed by Close

	mu          sync.Mutex
	buf         []ariv5.Event // ring; grows from minSlots up to limit
	limit       int           // the most events queued; more are dropped
	head, n     int
	dropped     int // dropped in the current episode, not yet notified
	noticeAfter int // events to pop before the notice is due
	closed      bool

	routes []routeKey // guarded by the Dispatcher's mutex
	wake   func()     // called after each push (SetWake)
}

// SetWake sets a function called after each event or overflow is queued,
// for an owner that gives up its goroutine while idle (it starts one
// again); call it before the mailbox is attached. fn must not block.
func (mb *Mailbox) SetWake(fn func()) { mb.wake = fn }

// Pending reports whether Pop has something: an event or an overflow
// notice.
func (mb *Mailbox) Pending() bool {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.n > 0 || mb.dropped > 0
}

// Name returns the name given to NewMailbox.
func (mb *Mailbox) Name() string { return mb.name }

// Len returns the number of queued events.
func (mb *Mailbox) Len() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.n
}

// Wait returns a channel that receives a value when Pop may have something.
func (mb *Mailbox) Wait() <-chan struct{} { return mb.notify }

// Done returns a channel closed by Close.
func (mb *Mailbox) Done() <-chan struct{} { return mb.done }

// push enqueues ev; it reports false if the mailbox is closed.
func (mb *Mailbox) push(ev ariv5.Event) bool {
	mb.mu.Lock()
	if mb.closed {
		mb.mu.Unlock()
		return false
	}
	if mb.n == len(mb.buf) && len(mb.buf) < mb.limit {
		mb.grow()
	}
	if mb.n == len(mb.buf) {
		first := mb.dropped == 0
		if first {
			mb.noticeAfter = mb.n
		}
		mb.dropped++
		mb.mu.Unlock()
		mb.m.Overflow.Inc()
		if first {
			mb.log.Warn("ari: owner's event queue is full, dropping events; the owner will resynchronise",
				"mailbox", mb.name, "size", mb.limit, "type", ev.GetType())
		}
		if mb.wake != nil {
			mb.wake()
		}
		return true
	}
	i := mb.head + mb.n
	if i >= len(mb.buf) {
		i -= len(mb.buf)
	}
	mb.buf[i] = ev
	mb.n++
	mb.mu.Unlock()
	mb.m.QueueDepth.Inc()
	select {
	case mb.notify <- struct{}{}:
	default:
	}
	if mb.wake != nil {
		mb.wake()
	}
	return true
}

// Pop returns the next delivery without waiting; ok is false when there is
// none.
func (mb *Mailbox) Pop() (d Delivery, ok bool) {
	mb.mu.Lock()
	if mb.dropped > 0 && mb.noticeAfter == 0 {
		d.Overflowed = mb.dropped
		mb.dropped = 0
		mb.mu.Unlock()
		return d, true
	}
	if mb.n == 0 {
		mb.mu.Unlock()
		return d, false
	}
	d.Event = mb.buf[mb.head]
	mb.buf[mb.head] = nil
	mb.head++
	if mb.head == len(mb.buf) {
		mb.head = 0
	}
	mb.n--
	if mb.n == 0 && len(mb.buf) > minSlots {
		mb.buf, mb.head = make([]ariv5.Event, minSlots), 0 // drained: give the grown ring back
	}
	if mb.dropped > 0 {
		mb.noticeAfter--
	}
	more := mb.n > 0 || mb.dropped > 0
	mb.mu.Unlock()
	mb.m.QueueDepth.Dec()
	if more {
		// Keep the consumer awake if it waits between pops.
		select {
		case mb.notify <- struct{}{}:
		default:
		}
	}
	return d, true
}

// Next waits for the next delivery. It returns ErrMailboxClosed once the
// mailbox is closed, or ctx's error.
func (mb *Mailbox) Next(ctx context.Context) (Delivery, error) {
	for {
		if d, ok := mb.Pop(); ok {
			return d, nil
		}
		select {
		case <-mb.notify:
		case <-mb.done:
			return Delivery{}, ErrMailboxClosed
		case <-ctx.Done():
			return Delivery{}, ctx.Err()
		}
	}
}

// Close discards the queued events and makes the mailbox refuse new ones
// (the dispatcher counts those as unrouted). Detach its routes with
// Dispatcher.DetachMailbox. Close is idempotent.
func (mb *Mailbox) Close() {
	mb.mu.Lock()
	if mb.closed {
		mb.mu.Unlock()
		return
	}
	mb.closed = true
	discarded := mb.n
	mb.buf = nil
	mb.head, mb.n, mb.dropped, mb.noticeAfter = 0, 0, 0, 0
	mb.mu.Unlock()
	mb.m.QueueDepth.Sub(float64(discarded))
	close(mb.done)
}

// removeRoute forgets rk; the caller holds the Dispatcher's mutex.
func (mb *Mailbox) removeRoute(rk routeKey) {
	for i, r := range mb.routes {
		if r == rk {
			last := len(mb.routes) - 1
			mb.routes[i] = mb.routes[last]
			mb.routes = mb.routes[:last]
			return
		}
	}
}
