package live

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/metrics"
)

// Update is what a subscriber receives: the latest snapshot, or the error
// of the latest refresh (Redis unreachable) with the last good snapshot.
type Update struct {
	Snapshot *hotlinev1.LiveSnapshot
	Err      error
}

// Hub refreshes the figures every interval from one goroutine (Run), sets
// the oldest-wait gauge and hands each changed snapshot to the
// subscribers. A subscriber that is slow only misses intermediate
// snapshots (each is complete): the hub never waits for one.
type Hub struct {
	src      *Source
	interval time.Duration
	ready    func() bool
	instance string
	m        *metrics.Live
	log      *slog.Logger
	now      func() time.Time
	shed     shedWindow // refusals of the last minute

	mu     sync.Mutex
	last   Update
	subs   map[chan Update]struct{}
	closed bool // Run has returned: subscribers' channels are closed
}

// HubOptions configure a Hub.
type HubOptions struct {
	Source   *Source
	Interval time.Duration // default 500ms
	// Ready reports whether this instance is ready (shown on the wall).
	Ready    func() bool
	Instance string
	Metrics  *metrics.Live
	Logger   *slog.Logger
	Now      func() time.Time
}

// NewHub returns a Hub; start it with Run.
func NewHub(o HubOptions) *Hub {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Hub{src: o.Source, interval: o.Interval, ready: o.Ready, instance: o.Instance, m: o.Metrics,
		log: o.Logger, now: o.Now, subs: map[chan Update]struct{}{}}
}

// Snapshot computes the figures now, for one request.
func (h *Hub) Snapshot(ctx context.Context) (*hotlinev1.LiveSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	now := h.now()
	s, err := h.src.Compute(ctx, now)
	if err != nil {
		return nil, err
	}
	h.shed.fill(now, s)
	s.Ready, s.Instance = h.ready(), h.instance
	return s, nil
}

func (h *Hub) timeout() time.Duration { return max(2*time.Second, 2*h.interval) }

// Subscribe returns a channel that receives the latest update at once (if
// the hub has refreshed) and then every change, until cancel is called.
// The channel is closed when the hub stops (the gateway shuts down), so
// streams end before the servers stop.
func (h *Hub) Subscribe() (<-chan Update, func()) {
	ch := make(chan Update, 1)
	h.mu.Lock()
	if h.closed {
		close(ch)
		h.mu.Unlock()
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	if h.last.Snapshot != nil || h.last.Err != nil {
		ch <- h.last
	}
	h.mu.Unlock()
	if h.m != nil {
		h.m.Streams.Inc()
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			if _, ok := h.subs[ch]; ok {
				delete(h.subs, ch)
				close(ch)
			}
			h.mu.Unlock()
			if h.m != nil {
				h.m.Streams.Dec()
			}
		})
	}
}

// Run refreshes every interval until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	defer h.close()
	failing := false
	for {
		s, err := h.Snapshot(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				h.log.Warn("live figures not refreshed; the wall shows the last ones as stale", "err", err)
			}
			failing = true
			h.count("error")
		default:
			if failing {
				h.log.Info("live figures refreshed again")
			}
			failing = false
			h.count("ok")
			h.gauges(s)
		}
		h.publish(s, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
	}
	clear(h.subs)
}

func (h *Hub) count(result string) {
	if h.m != nil {
		h.m.Refreshes.WithLabelValues(result).Inc()
	}
}

func (h *Hub) gauges(s *hotlinev1.LiveSnapshot) {
	if h.m == nil {
		return
	}
	for _, sk := range s.Skills {
		h.m.OldestWait.WithLabelValues(sk.Skill).Set(float64(sk.OldestWaitSeconds))
	}
}

// publish hands a changed update to every subscriber, replacing one it
// has not taken yet.
func (h *Hub) publish(s *hotlinev1.LiveSnapshot, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := Update{Snapshot: s, Err: err}
	if err != nil {
		u.Snapshot = h.last.Snapshot
		if h.last.Err != nil {
			return // still failing: nothing new to say
		}
	} else if h.last.Err == nil && h.last.Snapshot != nil && Same(h.last.Snapshot, s) {
		return
	}
	h.last = u
	for ch := range h.subs {
		select {
		case <-ch:
		default:
		}
		ch <- u
	}
}

// Same reports whether two snapshots show the same figures (their time
// of reading aside).
func Same(a, b *hotlinev1.LiveSnapshot) bool {
	x, y := proto.CloneOf(a), proto.CloneOf(b)
	x.At, y.At = nil, nil
	return proto.Equal(x, y)
}
