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
	select {
	case c.cmds <- func(c *Call) { out <- fn(c) }:
	case <-c.done:
		return zero, fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	case <-ctx.Done():
		return zero, fmt.Errorf("call %s: queueing the request: %w (%w)", c.id, ErrOwnerBusy, ctx.Err())
	}
	select {
	case v := <-out:
		return v, nil
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
func tell(ctx context.Context, c *Call, fn func(*Call)) error {
	ctx, cancel := context.WithTimeout(ctx, c.s.askTimeout())
	defer cancel()
	select {
	case c.cmds <- fn:
		return nil
	case <-c.done:
		return fmt.Errorf("call %s: %w", c.id, ErrOwnerGone)
	case <-ctx.Done():
		return fmt.Errorf("call %s: queueing the request: %w (%w)", c.id, ErrOwnerBusy, ctx.Err())
	}
}
