package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
	r, err := ask(ctx, c, func(c *Call) reply {
		if c.agentExt != agentExt {
			if agentExt != "" && c.ticketAgent == agentExt && c.xfer != nil {
				// The agent was on the call until its transfer freed it (a
				// blind transfer that won a race): the call's transfer is
				// taken, not someone else's call.
				return reply{err: fmt.Errorf("agent %s's call %s already has its transfer: %w", agentExt, c.id, transfer.ErrWrongState)}
			}
			return reply{err: fmt.Errorf("agent %s is not on call %s: %w", agentExt, c.id, ErrNotOnCall)}
		}
		in, err := input()
		if err != nil {
			return reply{err: err}
		}
		res, err := c.requestTransfer(c.ctx, in)
		return reply{res, err}
	})
	switch {
	case errors.Is(err, ErrOwnerGone):
		return transfer.Result{}, fmt.Errorf("call_id: %q has ended: %w", ClipRef(callID), ErrCallNotFound)
	case err != nil:
		return transfer.Result{}, err
	}
	return r.res, r.err
}

// ErrPoliceRefAmbiguous is returned by AttachPoliceRef when more than one
// live call from 110 has the caller number: the reference could belong to
// either, so it is attached to neither.
var ErrPoliceRefAmbiguous = errors.New("more than one live call from 110 has this caller number")

// AttachPoliceRef sets ref on the live from-110 call of caller number num;
// it returns the call ID, or "" when there is none (or its owner ended or did
// not answer before ctx or the ask timeout ended), and ErrPoliceRefAmbiguous
// when there are several.
func (s *Service) AttachPoliceRef(ctx context.Context, num, ref string) (string, error) {
	s.mu.Lock()
	var c *Call
	n := len(s.from110[num])
	if n == 1 {
		c = s.from110[num][0]
	}
	s.mu.Unlock()
	switch {
	case n == 0:
		return "", nil
	case n > 1:
		return "", fmt.Errorf("police reference for %s: %d calls: %w", num, n, ErrPoliceRefAmbiguous)
	}
	if _, err := ask(ctx, c, func(c *Call) bool { c.policeRef = ref; return true }); err != nil {
		if errors.Is(err, ErrOwnerGone) {
			return "", nil // the call just ended: kept for 110's next call
		}
		// Busy: never keep the reference for a later call while this one
		// is live; 110 retries (Unavailable at the edge).
		s.log.Info("110 reference not attached: the call's owner did not take it", "call_id", c.id, "err", err)
		return "", fmt.Errorf("police reference for call %s: %w", c.id, err)
	}
	return c.id, nil
}

// forgetFrom110 removes an ended call from the from-110 calls by number.
// The caller holds s.mu.
func (s *Service) forgetFrom110(c *Call) {
	calls := slices.DeleteFunc(s.from110[c.caller], func(o *Call) bool { return o == c })
	if len(calls) == 0 {
		delete(s.from110, c.caller)
		return
	}
	s.from110[c.caller] = calls
}

// PoliceRefs holds 110 case references by caller number until the call
// from 110 arrives.
type PoliceRefs interface {
	Put(ctx context.Context, callerNumber, ref string) error
	Take(ctx context.Context, callerNumber string) (string, error)
}
