package gateway

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/count"
)

// Follow-up verdicts (回访结果): in an outbound follow-up call the agent
// records the citizen's verdict on the matter followed up. It goes on the
// follow-up call's ticket (beside linked_ticket_id) by the disposition
// mechanism (disposition.go): on the call's state while it lasts, on its
// held ticket within the disposition window after it; counted once per
// call (count kinds followup_*) under the follow-up call's line when the
// ticket is released.

// ErrNotFollowUp: the call is not an answered outbound follow-up call.
var ErrNotFollowUp = errors.New("not an answered follow-up call")

// FollowUpRequest is SetFollowUpVerdict's request, checked by the edge.
type FollowUpRequest struct {
	CallID  string
	Verdict hotlinev1.FollowUpVerdict
	Note    string
	Agent   string // the agent asking (required: agents only)
	SetBy   string
}

// FollowUpResult is what SetFollowUpVerdict set.
type FollowUpResult struct {
	Result         *hotlinev1.FollowUpResult
	LinkedTicketID string
	AfterCall      bool
}

// CheckFollowUp refuses an unknown verdict and a note too long or not UTF-8.
func CheckFollowUp(v hotlinev1.FollowUpVerdict, note string) error {
	if followUpKind(v) == "" {
		return fmt.Errorf("%w: verdict %d is not one of SATISFIED, BASICALLY_SATISFIED, DISSATISFIED", ErrBadDisposition, v)
	}
	if !utf8.ValidString(note) {
		return fmt.Errorf("%w: note is not UTF-8", ErrBadDisposition)
	}
	if n := utf8.RuneCountInString(note); n > MaxDispositionNote {
		return fmt.Errorf("%w: note has %d characters, at most %d allowed", ErrBadDisposition, n, MaxDispositionNote)
	}
	return nil
}

func followUpKind(v hotlinev1.FollowUpVerdict) count.Kind {
	switch v {
	case hotlinev1.FollowUpVerdict_FOLLOW_UP_VERDICT_SATISFIED:
		return count.FollowUpSatisfied
	case hotlinev1.FollowUpVerdict_FOLLOW_UP_VERDICT_BASICALLY_SATISFIED:
		return count.FollowUpBasically
	case hotlinev1.FollowUpVerdict_FOLLOW_UP_VERDICT_DISSATISFIED:
		return count.FollowUpDissatisfied
	}
	return ""
}

// SetFollowUpVerdict records the citizen's verdict on agent r.Agent's
// follow-up call r.CallID (replacing one set before, while the call
// lasts). Errors: ErrBadDisposition; ErrCallNotFound; ErrNotOnCall
// (another agent's call); ErrNotFollowUp (inbound, a call-back, or a
// citizen who never answered).
func (s *Service) SetFollowUpVerdict(ctx context.Context, r FollowUpRequest) (FollowUpResult, error) {
	if err := CheckFollowUp(r.Verdict, r.Note); err != nil {
		return FollowUpResult{}, err
	}
	res := &hotlinev1.FollowUpResult{Verdict: r.Verdict, Note: r.Note, SetBy: r.SetBy, SetAt: timestamppb.Now()}
	if c, ok := s.call(r.CallID); ok {
		var linked string
		err, askErr := ask(ctx, c, func(c *Call) error {
			if c.out == nil || c.out.req.Purpose != "follow_up" {
				return fmt.Errorf("call %s is not an outbound follow-up call: %w", c.id, ErrNotFollowUp)
			}
			if r.Agent != c.out.req.AgentExt {
				return fmt.Errorf("agent %s did not make follow-up call %s: %w", r.Agent, c.id, ErrNotOnCall)
			}
			if c.answered.IsZero() {
				return fmt.Errorf("the citizen has not answered follow-up call %s: %w", c.id, ErrNotFollowUp)
			}
			c.out.verdict = res
			linked = c.out.req.TicketID
			return nil
		})
		switch {
		case askErr == nil && err == nil:
			s.log.Info("follow-up verdict set", "call_id", r.CallID, "verdict", r.Verdict.String(), "by", r.SetBy)
			return FollowUpResult{Result: res, LinkedTicketID: linked}, nil
		case askErr == nil:
			return FollowUpResult{}, err
		case !errors.Is(askErr, ErrOwnerGone):
			return FollowUpResult{}, askErr
		}
	}
	t, err := s.held.complete(r.CallID, r.Agent, func(t *hotlinev1.Ticket) error {
		if t.GetDirection() != hotlinev1.Direction_DIRECTION_OUTBOUND || t.GetPurpose() != "follow_up" {
			return fmt.Errorf("call %s is not an outbound follow-up call: %w", r.CallID, ErrNotFollowUp)
		}
		t.FollowUpResult = res
		return nil
	})
	if err != nil {
		return FollowUpResult{}, err
	}
	s.log.Info("follow-up verdict set after the call", "call_id", r.CallID, "verdict", r.Verdict.String(), "by", r.SetBy)
	s.enqueueTicket(t, true)
	return FollowUpResult{Result: res, LinkedTicketID: t.GetLinkedTicketId(), AfterCall: true}, nil
}

// countFollowUp counts t's follow-up verdict once per call.
func (s *Service) countFollowUp(t *hotlinev1.Ticket) {
	if s.o.Counter == nil || t.GetFollowUpResult() == nil {
		return
	}
	if kind := followUpKind(t.GetFollowUpResult().GetVerdict()); kind != "" {
		s.o.Counter.Add(count.Op{CallID: t.GetCallId(), Kind: kind, Line: t.GetLine(), At: t.GetEnteredAt().AsTime()})
	}
}
