package ari

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/metrics"
)

func mustDecode(t testing.TB, s string) ariv5.Event {
	t.Helper()
	ev, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return ev
}

func dtmfEvent(channelID string, seq int) *ariv5.ChannelDtmfReceived {
	ev := &ariv5.ChannelDtmfReceived{Digit: "1", DurationMs: seq}
	ev.Type = "ChannelDtmfReceived"
	ev.Channel.ID = channelID
	return ev
}

func newTestDispatcher() (*Dispatcher, *metrics.ARI) {
	m := metrics.New(prometheus.NewRegistry()).ARI
	return NewDispatcher(nil, m, 64), m
}

// (a) 1,000 events for 100 concurrent channels reach their owners in
// per-channel order; a Dial naming two channels of one call arrives once.
func TestDispatchPerChannelOrder(t *testing.T) {
	const channels, perChannel = 100, 10
	d, m := newTestDispatcher()

	type owner struct {
		mb   *Mailbox
		got  []int
		dial int
	}
	owners := make(map[string]*owner)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d.SetNewOwner(func(ev *ariv5.StasisStart) *Mailbox {
		o := &owner{mb: d.NewMailbox("call-"+ev.Channel.ID, 0)}
		owners[ev.Channel.ID] = o // only the dispatching goroutine writes the map
		// The call also owns its (future) agent leg.
		d.Attach(KindChannel, ev.Channel.ID+"-agent", o.mb)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(o.got) < perChannel {
				dl, err := o.mb.Next(ctx)
				if err != nil {
					t.Errorf("%s: %v", o.mb.Name(), err)
					return
				}
				switch ev := dl.Event.(type) {
				case *ariv5.StasisStart:
					o.got = append(o.got, 0)
				case *ariv5.ChannelDtmfReceived:
					o.got = append(o.got, ev.DurationMs)
				case *ariv5.Dial:
					o.dial++
				default:
					t.Errorf("%s: unexpected delivery %+v", o.mb.Name(), dl)
				}
			}
		}()
		return o.mb
	})

	id := func(i int) string { return fmt.Sprintf("1741915613.%d", i) }
	for i := range channels {
		d.Dispatch(mustDecode(t, stasisStartJSON(id(i))))
	}
	for i := range channels {
		dial := &ariv5.Dial{Dialstatus: "RINGING"}
		dial.Type = "Dial"
		dial.Caller.ID, dial.Peer.ID = id(i), id(i)+"-agent"
		d.Dispatch(dial)
	}
	for seq := 1; seq < perChannel; seq++ { // interleaved across channels
		for i := range channels {
			d.Dispatch(dtmfEvent(id(i), seq))
		}
	}
	wg.Wait()

	if len(owners) != channels {
		t.Fatalf("%d owners, want %d", len(owners), channels)
	}
	for chID, o := range owners {
		for seq, got := range o.got {
			if got != seq {
				t.Fatalf("%s: events %v, want 0..%d in order", chID, o.got, perChannel-1)
			}
		}
		if o.dial != 1 {
			t.Errorf("%s: Dial delivered %d times, want once", chID, o.dial)
		}
	}
	if got := testutil.ToFloat64(m.Overflow); got != 0 {
		t.Errorf("Overflow = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.QueueDepth); got != 0 {
		t.Errorf("QueueDepth = %v, want 0", got)
	}
}

// (b) A blocked owner overflows (counted, then notified once it reads
// again) while the other owners receive all their events.
func TestDispatchSlowOwnerOverflow(t *testing.T) {
	const others, events, slowSize = 20, 50, 4
	d, m := newTestDispatcher()

	slow := d.NewMailbox("slow", slowSize)
	d.Attach(KindChannel, "slow", slow)

	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	counts := make([]int, others)
	for i := range others {
		mb := d.NewMailbox(fmt.Sprintf("fast-%d", i), 8)
		d.Attach(KindChannel, fmt.Sprintf("fast-%d", i), mb)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for counts[i] < events {
				dl, err := mb.Next(ctx)
				if err != nil || dl.Overflowed > 0 {
					t.Errorf("%s: %+v, %v", mb.Name(), dl, err)
					return
				}
				if seq := dl.Event.(*ariv5.ChannelDtmfReceived).DurationMs; seq != counts[i] {
					t.Errorf("%s: got seq %d, want %d", mb.Name(), seq, counts[i])
				}
				counts[i]++
			}
		}()
	}

	// The fast owners keep up (their mailboxes hold 8 and the dispatcher
	// waits for them to drain below that before each round); the slow owner
	// never reads meanwhile.
	for seq := range events {
		d.Dispatch(dtmfEvent("slow", seq))
		for i := range others {
			d.Dispatch(dtmfEvent(fmt.Sprintf("fast-%d", i), seq))
		}
		if seq%4 == 3 {
			waitFor(t, "fast owners to drain", func() bool {
				for i := range others {
					if d.routes[kChannel][fmt.Sprintf("fast-%d", i)].Len() > 4 {
						return false
					}
				}
				return true
			})
		}
	}
	wg.Wait()
	for i, n := range counts {
		if n != events {
			t.Fatalf("fast-%d received %d events, want %d", i, n, events)
		}
	}
	if got, want := testutil.ToFloat64(m.Overflow), float64(events-slowSize); got != want {
		t.Fatalf("Overflow = %v, want %v", got, want)
	}

	// The slow owner now reads: its 4 queued events, then the notice, then
	// whatever came after the notice.
	for seq := range slowSize {
		dl := nextEvent(t, slow)
		if ev, ok := dl.Event.(*ariv5.ChannelDtmfReceived); !ok || ev.DurationMs != seq {
			t.Fatalf("slow delivery %d: %+v", seq, dl)
		}
	}
	d.Dispatch(dtmfEvent("slow", 1000))
	if dl := nextEvent(t, slow); dl.Event != nil || dl.Overflowed != events-slowSize {
		t.Fatalf("slow owner got %+v, want an overflow notice of %d", dl, events-slowSize)
	}
	if dl := nextEvent(t, slow); dl.Event.(*ariv5.ChannelDtmfReceived).DurationMs != 1000 {
		t.Fatalf("after the notice: %+v", dl)
	}
	if _, ok := slow.Pop(); ok {
		t.Fatal("slow mailbox not empty")
	}
	if got := testutil.ToFloat64(m.QueueDepth); got != 0 {
		t.Errorf("QueueDepth = %v, want 0", got)
	}
}

// The notice is delivered even if no event follows the drops (e.g. the
// dropped one was the call's last, StasisEnd).
func TestOverflowNoticeWithoutFurtherEvents(t *testing.T) {
	d, _ := newTestDispatcher()
	mb := d.NewMailbox("call", 1)
	d.Attach(KindChannel, "c1", mb)
	d.Dispatch(dtmfEvent("c1", 0))
	d.Dispatch(mustDecode(t, hangupRequestJSON("c1")))
	if dl := nextEvent(t, mb); dl.Event == nil {
		t.Fatalf("first: %+v", dl)
	}
	if dl := nextEvent(t, mb); dl.Overflowed != 1 {
		t.Fatalf("second: %+v, want notice of 1", dl)
	}
}

func TestDispatchRoutesAndUnrouted(t *testing.T) {
	d, m := newTestDispatcher()
	mb := d.NewMailbox("call", 0)
	d.Attach(KindChannel, "c1", mb)
	d.Attach(KindBridge, "b1", mb)

	pb := mustDecode(t, `{"type":"PlaybackFinished","playback":{"id":"pb-1","media_uri":"sound:hotline/welcome","target_uri":"channel:c1","state":"done"}}`)
	rec := mustDecode(t, `{"type":"RecordingStarted","recording":{"name":"rec/2025/c1","format":"wav","state":"recording","target_uri":"bridge:b1"}}`)
	entered := mustDecode(t, `{"type":"ChannelEnteredBridge","bridge":{"id":"b1","technology":"simple_bridge","bridge_type":"mixing","channels":["c1","c2"]},"channel":{"id":"c2"}}`)
	for _, ev := range []ariv5.Event{pb, rec, entered} {
		d.Dispatch(ev)
		if dl, ok := mb.Pop(); !ok || dl.Event != ev {
			t.Fatalf("%s not routed to its owner", ev.GetType())
		}
	}
	d.Dispatch(dtmfEvent("nobody", 1))
	d.Dispatch(mustDecode(t, stasisStartJSON("c9"))) // no NewOwner hook
	if got := testutil.ToFloat64(m.Unrouted); got != 2 {
		t.Fatalf("Unrouted = %v, want 2", got)
	}
	d.SetNewOwner(func(*ariv5.StasisStart) *Mailbox { return nil }) // refuse
	d.Dispatch(mustDecode(t, stasisStartJSON("c10")))
	if got := testutil.ToFloat64(m.Unrouted); got != 3 {
		t.Fatalf("Unrouted = %v, want 3", got)
	}

	d.Detach(KindBridge, "b1")
	d.Dispatch(rec)
	if _, ok := mb.Pop(); ok {
		t.Fatal("event delivered after Detach")
	}
	d.DetachMailbox(mb)
	if n := d.Routes(); n != 0 {
		t.Fatalf("%d routes left after DetachMailbox", n)
	}
	mb.Close()
	if _, err := mb.Next(context.Background()); err != ErrMailboxClosed {
		t.Fatalf("Next after Close: %v", err)
	}
}

// (h) Decode + dispatch of typical payloads to an attached owner.
func BenchmarkDecodeDispatch(b *testing.B) {
	for _, bc := range []struct{ name, payload string }{
		{"ChannelDtmfReceived", dtmfJSON("1741915613.117", "5", 120)},
		{"StasisStart", stasisStartJSON("1741915613.117")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d, _ := newTestDispatcher()
			mb := d.NewMailbox("call", 1<<20)
			d.Attach(KindChannel, "1741915613.117", mb)
			for i := range 1000 { // a realistic routing table
				d.Attach(KindChannel, fmt.Sprintf("1741915000.%d", i), d.NewMailbox("other", 1))
			}
			data := []byte(bc.payload)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				ev, err := Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				d.Dispatch(ev)
				mb.Pop()
			}
		})
	}
}

// BenchmarkDispatch isolates routing + queueing of an already decoded event.
func BenchmarkDispatch(b *testing.B) {
	d, _ := newTestDispatcher()
	mb := d.NewMailbox("call", 1<<20)
	d.Attach(KindChannel, "1741915613.117", mb)
	for i := range 1000 {
		d.Attach(KindChannel, fmt.Sprintf("1741915000.%d", i), d.NewMailbox("other", 1))
	}
	ev := mustDecode(b, dtmfJSON("1741915613.117", "5", 120))
	b.ReportAllocs()
	for b.Loop() {
		d.Dispatch(ev)
		mb.Pop()
	}
}

// A mailbox starts with minSlots and grows up to its size, in FIFO order
// also when the ring has wrapped; at its size it overflows as before; a
// drained mailbox gives its grown ring back.
func TestMailboxGrowsToItsSize(t *testing.T) {
	d, _ := newTestDispatcher()
	const size = 19
	mb := d.NewMailbox("call", size)
	if got := len(mb.buf); got != minSlots {
		t.Fatalf("new mailbox has %d slots, want %d", got, minSlots)
	}
	d.Attach(KindChannel, "c1", mb)
	seq := 0
	// Wrap the small ring first: push 3, pop 2, so head is not 0 on growth.
	for range 3 {
		d.Dispatch(dtmfEvent("c1", seq))
		seq++
	}
	want := 0
	for range 2 {
		if dl := nextEvent(t, mb); dl.Event.(*ariv5.ChannelDtmfReceived).DurationMs != want {
			t.Fatalf("event %d out of order: %+v", want, dl)
		}
		want++
	}
	for mb.Len() < size {
		d.Dispatch(dtmfEvent("c1", seq))
		seq++
	}
	if got := len(mb.buf); got != size {
		t.Fatalf("full mailbox has %d slots, want its size %d", got, size)
	}
	d.Dispatch(dtmfEvent("c1", seq)) // dropped
	for want < seq {
		dl := nextEvent(t, mb)
		if dl.Event == nil || dl.Event.(*ariv5.ChannelDtmfReceived).DurationMs != want {
			t.Fatalf("event %d: got %+v", want, dl)
		}
		want++
	}
	if dl := nextEvent(t, mb); dl.Overflowed != 1 {
		t.Fatalf("after the queued events: %+v, want a notice of 1 drop", dl)
	}
	if got := len(mb.buf); got != minSlots {
		t.Fatalf("drained mailbox keeps %d slots, want %d", got, minSlots)
	}
	if mb.Len() != 0 {
		t.Fatalf("Len = %d after draining", mb.Len())
	}
}
