package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors of asking a call's owner to do something.
var (
	// ErrOwnerGone: the call's owner ended before it ran the request.
	ErrOwnerGone = errors.New("call owner has ended")
	// ErrOwnerBusy: the call's owner did not run the request within its
	// deadline (it is stuck in a slow request, or its command queue is full).
	ErrOwnerBusy = errors.New("call owner did not answer in time")
)

// askTimeout bounds every wait on a call owner: long enough for an owner
// busy in one ARI request, short enough that no loop stalls on it.
func (s *Service) askTimeout() time.Duration { return 2*s.o.OpTimeout + time.Second }

// ask runs fn on c's owner goroutine and returns its result. It never waits
// longer than the owner lives, ctx lasts or the Service's ask timeout: a
// call that ends before running fn returns ErrOwnerGone, an owner that does
// not run it in time ErrOwnerBusy (fn may still run later; its result is
// then dropped). Every wait on an owner goes through ask.
func ask[T any](ctx context.Context, c *Call, fn func(*Call) T) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(ctx, c.s.askTimeout())
	defer cancel()
	out := make(chan T, 1)
	gone := make(chan struct{})
	if c.ended() {
		return zero, fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	}
	run := func(c *Call) {
		if c.phase == phaseEnded {
			close(gone) // run after the owner ended (drainLate): too late
			return
		}
		out <- fn(c)
	}
	select {
	case c.cmds <- run:
		c.wake()
		c.lateCheck()
	case <-c.done:
		return zero, fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	case <-ctx.Done():
		return zero, fmt.Errorf("call %s: queueing the request: %w (%w)", c.id, ErrOwnerBusy, ctx.Err())
	}
	select {
	case v := <-out:
		return v, nil
	case <-gone:
		return zero, fmt.Errorf("call %s: ended before running the request: %w", c.id, ErrOwnerGone)
	case <-c.done:
		// The owner may have run fn just before it ended.
		select {
		case v := <-out:
			return v, nil
		default:
		}
		return zero, fmt.Errorf("call %s: ended before running the request: %w", c.id, ErrOwnerGone)
	case <-ctx.Done():
		return zero, fmt.Errorf("call %s: waiting for the answer: %w (%w)", c.id, ErrOwnerBusy, ctx.Err())
	}
}

// tell queues fn on c's owner without waiting for it to run; it gives up
// when the owner has ended or does not take it within the ask timeout.
// fn runs even if the owner ends just after taking it (see drainLate): it
// then finds the call ended (an offer gives its agent back).
func tell(ctx context.Context, c *Call, fn func(*Call)) error {
	if c.ended() {
		return fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.askTimeout())
	defer cancel()
	select {
	case c.cmds <- fn:
		c.wake()
		c.lateCheck()
		return nil
	case <-c.done:
		return fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	case <-ctx.Done():
		return fmt.Errorf("call %s: queueing the request: %w (%w)", c.id, ErrOwnerBusy, ctx.Err())
	}
}

// tryTell is tell without any wait: an owner whose command queue is full
// is busy at once (the router never waits on an owner).
func tryTell(c *Call, fn func(*Call)) error {
	if c.ended() {
		return fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	}
	select {
	case c.cmds <- fn:
		c.wake()
		c.lateCheck()
		return nil
	case <-c.done:
		return fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	default:
		return fmt.Errorf("call %s: its command queue is full: %w", c.id, ErrOwnerBusy)
	}
}

// ended reports whether c's owner has ended.
func (c *Call) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// lateCheck runs after a command was queued: if the owner ended
// meanwhile, the command may sit in the queue nobody reads; run what is
// left there (drainLate).
func (c *Call) lateCheck() {
	if c.ended() {
		c.drainLate()
	}
}

// drainLate runs the commands left in the queue of an ended owner, one
// goroutine at a time (the owner's own exit and any late sender): each
// finds the call ended, so an offer gives its agent back and an ask gets
// its answer instead of its deadline.
func (c *Call) drainLate() {
	c.lateMu.Lock()
	defer c.lateMu.Unlock()
	for {
		select {
		case fn := <-c.cmds:
			fn(c)
		default:
			return
		}
	}
}
