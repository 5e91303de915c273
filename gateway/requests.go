package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/hotline12345/hotline-gw/transfer"
)

// Errors of the requests the gRPC edge makes of the Service.
var (
	// ErrCallNotFound: the call is not live on this gateway (never was,
	// has ended, or is held by another instance).
	ErrCallNotFound = errors.New("not a live call on this gateway")
	// ErrNotOnCall: the agent asking is not the call's agent.
	ErrNotOnCall = errors.New("agent is not on this call")
)

// HasLine reports whether number is one of the hotline's lines.
func (s *Service) HasLine(number string) bool {
	_, ok := s.o.Plan.Get(number)
	return ok
}

// HandleTransfer runs a transfer request of agent agentExt on the owner of
// call callID: input builds the request there (after the agent is known to
// be on the call) and the call's transfer machine handles it. It waits for
// the owner's answer until ctx ends.
func (s *Service) HandleTransfer(ctx context.Context, callID, agentExt string, input func() (transfer.Input, error)) (transfer.Result, error) {
	c, ok := s.call(callID)
	if !ok {
		return transfer.Result{}, fmt.Errorf("call_id: %q is %w", ClipRef(callID), ErrCallNotFound)
	}
	type reply struct {
		res transfer.Result
		err error
	}
	ch := make(chan reply, 1)
	sent := c.send(func(c *Call) {
		if c.agentExt != agentExt {
			ch <- reply{err: fmt.Errorf("agent %s is not on call %s: %w", agentExt, c.id, ErrNotOnCall)}
			return
		}
		in, err := input()
		if err != nil {
			ch <- reply{err: err}
			return
		}
		res, err := c.requestTransfer(c.ctx, in)
		ch <- reply{res, err}
	})
	if !sent {
		return transfer.Result{}, fmt.Errorf("call_id: %q has ended: %w", ClipRef(callID), ErrCallNotFound)
	}
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		return transfer.Result{}, ctx.Err()
	}
}

// AttachPoliceRef sets ref on the live from-110 call of caller number num;
// it returns the call ID, or "" when there is none.
func (s *Service) AttachPoliceRef(num, ref string) string {
	s.mu.Lock()
	c := s.from110[num]
	s.mu.Unlock()
	if c == nil {
		return ""
	}
	got := make(chan bool, 1)
	if !c.send(func(c *Call) {
		c.policeRef = ref
		got <- true
	}) {
		return ""
	}
	<-got
	return c.id
}

// PoliceRefs holds 110 case references by caller number until the call
// from 110 arrives.
type PoliceRefs interface {
	Put(ctx context.Context, callerNumber, ref string) error
	Take(ctx context.Context, callerNumber string) (string, error)
}
