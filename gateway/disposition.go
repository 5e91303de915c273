package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/count"
)

// Dispositions (话后处理): the agent says how a call's matter was closed,
// while the call lasts or within the disposition window after it ended.
//
// Design: a call's ticket carries its disposition. Set during the call, it
// is on the call's state and goes into the ticket at hangup. For a call
// answered by an agent that ended without one, the ticket is held for the
// window (Options.DispositionWindow, tickets.disposition_window) before it
// goes to the outbox: journaled on local disk at once (replayed at start,
// as it is, after a crash), the call out of the live registry. A
// disposition in the window completes the held ticket and releases it at
// once; the window's end releases it without one. So the ticket is
// written once, and the disposition counted once (count kinds
// disposition_*, keyed by the call ID) when the ticket is released.
// With no window (0, the default) only the call's agent during the call
// may set one. Like SupervisorService, it acts on calls of this gateway.

// Disposition limits.
const (
	MaxDispositionNote       = 500 // characters
	MaxDispositionDepartment = 64  // characters
)

// ErrBadDisposition is wrapped by every refused disposition's error.
var ErrBadDisposition = errors.New("invalid disposition")

// DispositionRequest is SetDisposition's request, checked by the edge.
type DispositionRequest struct {
	CallID string
	Code   hotlinev1.DispositionCode
	// Department names the department of FORWARDED_TO_DEPARTMENT.
	Department string
	Note       string
	// Agent is the extension of the agent asking; empty for a supervisor
	// (who may set any call's disposition).
	Agent string
	SetBy string // "agent 1001", "supervisor duty-desk"
}

// DispositionResult is what SetDisposition set.
type DispositionResult struct {
	Disposition *hotlinev1.Disposition
	AfterCall   bool // the call had ended; its held ticket carries it
}

// CheckDisposition refuses an unknown code, a department without
// FORWARDED_TO_DEPARTMENT, and texts too long or not UTF-8.
func CheckDisposition(code hotlinev1.DispositionCode, department, note string) error {
	if _, ok := hotlinev1.DispositionCode_name[int32(code)]; !ok || code == hotlinev1.DispositionCode_DISPOSITION_CODE_UNSPECIFIED {
		return fmt.Errorf("%w: code %d is not one of ANSWERED_ON_SPOT, FORWARDED_TO_DEPARTMENT, TRANSFERRED_TO_110, CONSULTATION_ONLY", ErrBadDisposition, code)
	}
	if department != "" && code != hotlinev1.DispositionCode_DISPOSITION_CODE_FORWARDED_TO_DEPARTMENT {
		return fmt.Errorf("%w: department is only for FORWARDED_TO_DEPARTMENT", ErrBadDisposition)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"department", department, MaxDispositionDepartment}, {"note", note, MaxDispositionNote}} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not UTF-8", ErrBadDisposition, f.name)
		}
		if n := utf8.RuneCountInString(f.v); n > f.max {
			return fmt.Errorf("%w: %s has %d characters, at most %d allowed", ErrBadDisposition, f.name, n, f.max)
		}
	}
	return nil
}

// dispositionKind is the count of a disposition code.
func dispositionKind(code hotlinev1.DispositionCode) count.Kind {
	switch code {
	case hotlinev1.DispositionCode_DISPOSITION_CODE_ANSWERED_ON_SPOT:
		return count.DispositionOnSpot
	case hotlinev1.DispositionCode_DISPOSITION_CODE_FORWARDED_TO_DEPARTMENT:
		return count.DispositionForwarded
	case hotlinev1.DispositionCode_DISPOSITION_CODE_TRANSFERRED_TO_110:
		return count.DispositionTo110
	case hotlinev1.DispositionCode_DISPOSITION_CODE_CONSULTATION_ONLY:
		return count.DispositionConsultation
	}
	return ""
}

// SetDisposition sets the disposition of call r.CallID: on its owner while
// the call lasts, on its held ticket within the window after it ended.
// Errors: ErrBadDisposition; ErrCallNotFound (neither live here nor in its
// window); ErrNotOnCall (an agent's request for another agent's call, or
// a call not answered by an agent yet).
func (s *Service) SetDisposition(ctx context.Context, r DispositionRequest) (DispositionResult, error) {
	if err := CheckDisposition(r.Code, r.Department, r.Note); err != nil {
		return DispositionResult{}, err
	}
	d := &hotlinev1.Disposition{Code: r.Code, Department: r.Department, Note: r.Note, SetBy: r.SetBy, SetAt: timestamppb.Now()}
	if c, ok := s.call(r.CallID); ok {
		err, askErr := ask(ctx, c, func(c *Call) error {
			agent := c.agentExt
			if agent == "" {
				agent = c.ticketAgent
			}
			if c.answered.IsZero() || agent == "" {
				return fmt.Errorf("call %s is not answered by an agent: %w", c.id, ErrNotOnCall)
			}
			if r.Agent != "" && r.Agent != agent && r.Agent != c.ticketAgent {
				return fmt.Errorf("agent %s is not on call %s: %w", r.Agent, c.id, ErrNotOnCall)
			}
			c.disp.d = d
			return nil
		})
		switch {
		case askErr == nil && err == nil:
			s.log.Info("disposition set", "call_id", r.CallID, "code", r.Code.String(), "by", r.SetBy)
			return DispositionResult{Disposition: d}, nil
		case askErr == nil:
			return DispositionResult{}, err
		case !errors.Is(askErr, ErrOwnerGone):
			return DispositionResult{}, askErr
		}
		// The call ended meanwhile: its ticket may be held.
	}
	t, err := s.held.complete(r.CallID, r.Agent, func(t *hotlinev1.Ticket) error { t.Disposition = d; return nil })
	if err != nil {
		return DispositionResult{}, err
	}
	s.log.Info("disposition set after the call", "call_id", r.CallID, "code", r.Code.String(), "by", r.SetBy)
	s.enqueueTicket(t, true)
	return DispositionResult{Disposition: d, AfterCall: true}, nil
}

// heldTickets are tickets waiting for their disposition.
type heldTickets struct {
	mu sync.Mutex
	m  map[string]*heldTicket
}

type heldTicket struct {
	t     *hotlinev1.Ticket
	timer *time.Timer
}

// complete takes the held ticket of callID for agent ("" any) once set
// accepted it (a disposition or a follow-up verdict).
func (h *heldTickets) complete(callID, agent string, set func(*hotlinev1.Ticket) error) (*hotlinev1.Ticket, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ht, ok := h.m[callID]
	if !ok {
		return nil, fmt.Errorf("call_id: %q (nor within its disposition window) is %w", ClipRef(callID), ErrCallNotFound)
	}
	if agent != "" && ht.t.GetAgentExtension() != agent {
		return nil, fmt.Errorf("agent %s did not handle call %s: %w", agent, callID, ErrNotOnCall)
	}
	if err := set(ht.t); err != nil {
		return nil, err
	}
	ht.timer.Stop()
	delete(h.m, callID)
	return ht.t, nil
}

// take removes and returns the held ticket of callID, if any.
func (h *heldTickets) take(callID string) *hotlinev1.Ticket {
	h.mu.Lock()
	defer h.mu.Unlock()
	ht, ok := h.m[callID]
	if !ok {
		return nil
	}
	ht.timer.Stop()
	delete(h.m, callID)
	return ht.t
}

// all removes and returns every held ticket.
func (h *heldTickets) all() []*hotlinev1.Ticket {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*hotlinev1.Ticket, 0, len(h.m))
	for id, ht := range h.m {
		ht.timer.Stop()
		out = append(out, ht.t)
		delete(h.m, id)
	}
	return out
}

// holdForDisposition holds t for the disposition window if its call was
// answered by an agent and is inbound without a disposition yet, or an
// answered follow-up call without a verdict yet (followup.go); it reports
// whether it did.
func (s *Service) holdForDisposition(t *hotlinev1.Ticket) bool {
	w := s.o.DispositionWindow
	if w <= 0 || t.GetAnsweredAt() == nil || t.GetAgentExtension() == "" {
		return false
	}
	if t.GetDirection() == hotlinev1.Direction_DIRECTION_OUTBOUND {
		if t.GetPurpose() != "follow_up" || t.GetFollowUpResult() != nil {
			return false
		}
	} else if t.GetDisposition() != nil {
		return false
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return false
	}
	id := t.GetCallId()
	s.tickets.journal(t)
	s.held.mu.Lock()
	if s.held.m == nil {
		s.held.m = map[string]*heldTicket{}
	}
	s.held.m[id] = &heldTicket{t: t, timer: time.AfterFunc(w, func() {
		if t := s.held.take(id); t != nil {
			s.enqueueTicket(t, true)
		}
	})}
	s.held.mu.Unlock()
	s.unregister(id) // the journal has the ticket; the call is over
	return true
}

// releaseHeld hands every held ticket to the outbox (Close).
func (s *Service) releaseHeld() {
	for _, t := range s.held.all() {
		s.enqueueTicket(t, true)
	}
}

// countDisposition counts t's disposition once per call.
func (s *Service) countDisposition(t *hotlinev1.Ticket) {
	s.countFollowUp(t)
	d := t.GetDisposition()
	if d == nil || s.o.Counter == nil {
		return
	}
	if kind := dispositionKind(d.GetCode()); kind != "" {
		s.o.Counter.Add(count.Op{CallID: t.GetCallId(), Kind: kind, Line: t.GetLine(), At: t.GetEnteredAt().AsTime()})
	}
}

// dispState is a live call's disposition, owned by its owner.
type dispState struct {
	d *hotlinev1.Disposition
}
