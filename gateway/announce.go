package gateway

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/count"
)

// EndCallbackRequested is the ticket's end_reason of a caller who pressed
// the call-back key in the queue.
const EndCallbackRequested = "callback_requested"

// announceState is a queued call's announcements, owned by its owner.
type announceState struct {
	n       int      // announcements so far (playback IDs)
	playing []string // playback IDs of the announcement playing now
	bye     string   // playback ID of the call-back goodbye
	asked   bool     // the caller asked to be called back
}

// waitStats keeps each skill group's recent answer waits, for the expected
// wait of announcements.
type waitStats struct {
	mu    sync.Mutex
	waits map[string][]time.Duration // newest last, at most recentWaits
}

const recentWaits = 20

func (w *waitStats) note(skill string, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		w.waits = map[string][]time.Duration{}
	}
	l := append(w.waits[skill], d)
	if len(l) > recentWaits {
		l = l[len(l)-recentWaits:]
	}
	w.waits[skill] = l
}

// expected is the mean of the group's recent answer waits; ok is false
// while none is known.
func (w *waitStats) expected(skill string) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.waits[skill]
	if len(l) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	return sum / time.Duration(len(l)), true
}

// scheduleAnnounce arms the next announcement of the call's group, Every
// after the caller joined the queue or the last announcement ended.
func (c *Call) scheduleAnnounce() {
	a := c.s.o.Groups(c.skill).Announce
	if a.Every <= 0 || c.ann.asked {
		return
	}
	c.schedule("announce", a.Every.D(), func(c *Call) {
		if c.phase == phaseQueue && !c.ann.asked {
			if !c.announce(c.ctx) {
				c.scheduleAnnounce() // nothing played: try again later
			}
		}
	})
}

// announce tells the caller its place in the queue and, once the group's
// recent answer times are known, the expected wait; music on hold pauses
// meanwhile (it resumes when the last prompt ends, and the next
// announcement is armed then). It reports whether a prompt plays.
func (c *Call) announce(ctx context.Context) bool {
	a := c.s.o.Groups(c.skill).Announce
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	pos, err := c.s.o.Pool.Position(octx, c.skill, c.id)
	if err != nil || pos <= 0 {
		c.s.log.Debug("announcement skipped: position unknown", "call_id", c.id, "skill", c.skill, "err", err)
		return false
	}
	media := fill(a.Position, "{position}", strconv.Itoa(pos))
	if d, ok := c.s.waits.expected(c.skill); ok && len(a.Wait) > 0 {
		mins := int((d + time.Minute - 1) / time.Minute)
		media = append(media, fill(a.Wait, "{minutes}", strconv.Itoa(max(mins, 1)))...)
	}
	if a.CallbackKey != "" && a.CallbackOffer != "" {
		media = append(media, a.CallbackOffer)
	}
	c.stopAnnouncement(octx)
	_ = c.s.o.PBX.StopMOH(octx, c.id)
	c.ann.n++
	for i, m := range media {
		// Playbacks on one channel queue up: they play in this order.
		id := "ann-" + c.id + "-" + strconv.Itoa(c.ann.n) + "-" + strconv.Itoa(i)
		if err := c.s.o.PBX.Play(octx, c.id, id, m); err != nil {
			c.s.log.Warn("announcement prompt not played", "call_id", c.id, "media", m, "err", err)
			break
		}
		c.ann.playing = append(c.ann.playing, id)
	}
	if len(c.ann.playing) == 0 {
		c.resumeMOH(octx)
		return false
	}
	c.s.log.Debug("queue announcement", "call_id", c.id, "skill", c.skill, "position", pos, "media", strings.Join(media, " "))
	return true
}

func fill(list []string, key, val string) []string {
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = strings.ReplaceAll(m, key, val)
	}
	return out
}

// stopAnnouncement stops what is left of the announcement playing now.
func (c *Call) stopAnnouncement(octx context.Context) {
	for _, id := range c.ann.playing {
		if err := c.s.o.PBX.StopPlayback(octx, id); err != nil && !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Debug("announcement prompt not stopped", "call_id", c.id, "playback", id, "err", err)
		}
	}
	c.ann.playing = nil
}

func (c *Call) resumeMOH(octx context.Context) {
	if c.phase != phaseQueue && c.phase != phaseRinging || c.ann.asked {
		return
	}
	if err := c.s.o.PBX.StartMOH(octx, c.id, c.s.o.MOHClass); err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.s.log.Warn("music on hold not resumed after the announcement", "call_id", c.id, "err", err)
	}
}

// announceEvent handles the ends of announcement prompts and the caller's
// call-back key; it reports whether ev was one of them.
func (c *Call) announceEvent(ctx context.Context, ev ariv5.Event) bool {
	switch e := ev.(type) {
	case *ariv5.PlaybackFinished:
		id := e.Playback.ID
		if id == c.ann.bye && id != "" {
			c.hangupCaller(ctx, "normal")
			return true
		}
		n := len(c.ann.playing)
		if n == 0 || !strings.HasPrefix(id, "ann-"+c.id+"-") {
			return false
		}
		if id == c.ann.playing[n-1] {
			c.ann.playing = nil
			octx, cancel := c.s.opCtx(ctx)
			defer cancel()
			c.resumeMOH(octx)
			if c.phase == phaseQueue {
				c.scheduleAnnounce()
			}
		}
		return true
	case *ariv5.ChannelDtmfReceived:
		if e.Channel.ID != c.id || c.phase != phaseQueue || c.ann.asked {
			return false
		}
		if key := c.s.o.Groups(c.skill).Announce.CallbackKey; key != "" && e.Digit == key {
			c.requestCallback(ctx)
			return true
		}
	}
	return false
}

// requestCallback takes a waiting caller who pressed the call-back key out
// of the queue, creates its call-back task, counts it callback_requested
// and says goodbye; the goodbye's end hangs up.
func (c *Call) requestCallback(ctx context.Context) {
	now := time.Now()
	c.ann.asked = true
	c.unschedule("announce")
	c.unschedule("queue")
	c.leaveQueue(ctx)
	c.addCallback(ctx, now, callback.ReasonRequested)
	c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.CallbackRequested, Line: c.line.Number, At: c.entered,
		Value: now.Sub(c.entered).Milliseconds()})
	c.end = End{Result: EndOther, Reason: EndCallbackRequested}
	c.s.log.Info("caller asked to be called back instead of waiting", "call_id", c.id, "skill", c.skill, "line", c.line.Number)
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	c.stopAnnouncement(octx)
	_ = c.s.o.PBX.StopMOH(octx, c.id)
	c.ann.bye = "bye-" + c.id
	if err := c.s.o.PBX.Play(octx, c.id, c.ann.bye, c.s.o.Groups(c.skill).Announce.Goodbye); err != nil {
		c.s.log.Warn("call-back goodbye not played; hanging up", "call_id", c.id, "err", err)
		c.hangupCaller(ctx, "normal")
		return
	}
	c.schedule("bye", greetingMax, func(c *Call) { c.hangupCaller(c.ctx, "normal") })
}
