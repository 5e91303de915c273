package gateway

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/metrics"
)

// router matches this instance's waiting calls with ready agents. One
// goroutine owns the per-skill lists of waiting calls; calls join and leave
// by message. Claims are atomic in Redis (acd.Pool.Claim), so several
// gateway instances can route from one agent pool without ever offering one
// agent two calls, and a call is taken only at the head of the global queue.
type router struct {
	pool     *acd.Pool
	log      *slog.Logger
	m        *metrics.Router
	interval time.Duration
	waiting  map[string][]*Call // by skill, priority first then entry time

	// Hand-offs from the owners: a bounded queue that never blocks them,
	// whatever the router is doing (a claim stuck on a slow Redis).
	mu    sync.Mutex
	queue []routerMsg
	limit int
	wake  chan struct{} // one pending wake-up
}

type routerMsg struct {
	c     *Call
	skill string
	join  bool
}

// routerQueueLimit bounds the owners' hand-offs waiting for the router.
const routerQueueLimit = 4096

func newRouter(pool *acd.Pool, log *slog.Logger, m *metrics.Router, interval time.Duration) *router {
	return &router{pool: pool, log: log, m: m, interval: interval, waiting: map[string][]*Call{},
		limit: routerQueueLimit, wake: make(chan struct{}, 1)}
}

// join adds a call that is enqueued in the pool under skill; it reports
// false, queueing nothing, when the hand-off queue is full (the owner
// tries again later).
func (r *router) join(c *Call, skill string) bool {
	return r.post(routerMsg{c: c, skill: skill, join: true})
}

// leave removes a call from skill's list (no-op if absent). When the queue
// is full it is dropped: the pool's dequeue is authoritative, and the
// router forgets the call at its next claim (not waiting).
func (r *router) leave(c *Call, skill string) { r.post(routerMsg{c: c, skill: skill}) }

// post queues m without blocking.
func (r *router) post(m routerMsg) bool {
	r.mu.Lock()
	if len(r.queue) >= r.limit {
		r.mu.Unlock()
		kind := "leave"
		if m.join {
			kind = "join"
		}
		r.m.Dropped.WithLabelValues(kind).Inc()
		return false
	}
	r.queue = append(r.queue, m)
	r.m.Queued.Set(float64(len(r.queue)))
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns the queued hand-offs and empties the queue.
func (r *router) take() []routerMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queue
	r.queue = nil
	r.m.Queued.Set(0)
	return q
}

func (r *router) run(ctx context.Context) {
	ready, err := r.pool.Subscribe(ctx)
	if err != nil {
		r.log.Warn("router: no ready-agent notifications; polling only", "err", err)
	}
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
			joined := map[string]bool{}
			for _, m := range r.take() {
				if m.join {
					r.add(m.c, m.skill)
					joined[m.skill] = true
				} else {
					r.remove(m.c, m.skill)
				}
			}
			for skill := range joined {
				r.match(ctx, skill)
			}
		case skill, ok := <-ready:
			if !ok {
				ready = nil
				continue
			}
			r.match(ctx, skill)
		case <-tick.C:
			for skill, list := range r.waiting {
				if len(list) > 0 {
					r.match(ctx, skill)
				}
			}
		}
	}
}

func (r *router) add(c *Call, skill string) {
	list := r.waiting[skill]
	if slices.Contains(list, c) {
		return
	}
	i, _ := slices.BinarySearchFunc(list, c, func(a, b *Call) int {
		switch {
		case a.priority != b.priority:
			if a.priority {
				return -1
			}
			return 1
		case a.entered.Before(b.entered):
			return -1
		case a.entered.After(b.entered):
			return 1
		}
		return 0
	})
	r.waiting[skill] = slices.Insert(list, i, c)
}

func (r *router) remove(c *Call, skill string) {
	list := r.waiting[skill]
	if i := slices.Index(list, c); i >= 0 {
		r.waiting[skill] = slices.Delete(list, i, i+1)
	}
	if len(r.waiting[skill]) == 0 {
		delete(r.waiting, skill)
	}
}

// match offers ready agents to this instance's waiting calls of skill, in
// order, until no agent is ready or this instance's next call is not at the
// head of the global queue.
func (r *router) match(ctx context.Context, skill string) {
	for len(r.waiting[skill]) > 0 {
		c := r.waiting[skill][0]
		ext, err := r.pool.Claim(ctx, skill, c.id)
		switch {
		case err == nil:
			r.remove(c, skill)
			// Never wait on the owner: one stuck owner must not hold up
			// every other call of the skill.
			if err := tryTell(c, func(c *Call) { c.offer(ext, skill) }); err != nil {
				// The call ended meanwhile, or its owner is stuck: give the
				// agent back at once; a live call waits again at its place.
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = r.pool.Release(rctx, ext, c.id, acd.Cancelled)
				if errors.Is(err, ErrOwnerBusy) {
					r.log.Warn("router: call owner did not take the offer; call queued again", "call_id", c.id, "agent", ext, "err", err)
					if err := r.pool.Enqueue(rctx, skill, c.id, c.priority, c.entered); err == nil {
						r.add(c, skill)
					}
					cancel()
					return // the next turn tries again
				}
				cancel()
			}
		case errors.Is(err, acd.ErrNotWaiting):
			r.remove(c, skill)
		case errors.Is(err, acd.ErrNoAgent), errors.Is(err, acd.ErrNotHead):
			return
		default:
			r.log.Warn("router: claim failed", "skill", skill, "call_id", c.id, "err", err)
			return
		}
	}
}
