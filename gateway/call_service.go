package gateway

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
)

// CallbackStore is what the CallService needs of the call-back tasks.
type CallbackStore interface {
	List(ctx context.Context, day string, openOnly bool) ([]callback.Task, error)
	Claim(ctx context.Context, id, agentExt string) (callback.Task, error)
}

// CallServer implements hotlinev1.CallService: agents' outbound calls and
// the missed-call call-back list.
type CallServer struct {
	hotlinev1.UnimplementedCallServiceServer
	Service   *Service
	Auth      Authenticator
	Numbers   *number.Policy
	Callbacks CallbackStore
	// Outcome counts refused requests (invalid or not allowed numbers).
	Outcome func(purpose, result string)
}

func purposeOf(p hotlinev1.CallPurpose) (string, bool) {
	switch p {
	case hotlinev1.CallPurpose_CALL_PURPOSE_FOLLOW_UP:
		return "follow_up", true
	case hotlinev1.CallPurpose_CALL_PURPOSE_CALLBACK:
		return "callback", true
	}
	return "", false
}

// Originate places an outbound call for the authenticated agent.
func (cs *CallServer) Originate(ctx context.Context, req *hotlinev1.OriginateRequest) (*hotlinev1.OriginateResponse, error) {
	ext, err := cs.Auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetAgentExtension() != ext {
		return nil, status.Errorf(codes.PermissionDenied, "agent_extension: %q is not the token's agent", clipRef(req.GetAgentExtension()))
	}
	purpose, ok := purposeOf(req.GetPurpose())
	if !ok {
		return nil, status.Error(codes.InvalidArgument, "purpose: must be FOLLOW_UP or CALLBACK")
	}
	if id := req.GetTicketId(); id != "" {
		if err := ticket.ValidateID(id); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "ticket_id: %v", err)
		}
	}
	if l := req.GetLine(); l != "" {
		if _, ok := cs.Service.o.Plan.Get(l); !ok {
			return nil, status.Errorf(codes.InvalidArgument, "line: %q is not a hotline line", clipRef(l))
		}
	}
	raw := req.GetNumber()
	if req.GetCallbackId() != "" {
		if purpose != "callback" {
			return nil, status.Error(codes.InvalidArgument, "callback_id: only with purpose CALLBACK")
		}
		task, err := cs.Callbacks.Claim(ctx, req.GetCallbackId(), ext)
		if err != nil {
			return nil, callbackStatus(err)
		}
		if raw != "" && raw != task.CallerNumber {
			return nil, status.Error(codes.InvalidArgument, "number: a call-back dials the task's own number; leave number empty")
		}
		raw = task.CallerNumber
	}
	n, err := cs.Numbers.Outbound(raw)
	if err != nil {
		result := ResultInvalidNumber
		if errors.Is(err, number.ErrNotAllowed) {
			result = ResultRejected
		}
		if cs.Outcome != nil {
			cs.Outcome(purpose, result)
		}
		return nil, status.Errorf(codes.InvalidArgument, "number: %v", err)
	}
	callID, result, err := cs.Service.Originate(ctx, OriginateRequest{
		AgentExt: ext, Number: n, Purpose: purpose, Line: req.GetLine(), TicketID: req.GetTicketId(), CallbackID: req.GetCallbackId(),
	})
	switch {
	case errors.Is(err, ErrRateLimited):
		return nil, status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, ErrAgentBusy), errors.Is(err, acd.ErrUnknownAgent):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &hotlinev1.OriginateResponse{CallId: callID}, status.FromContextError(err).Err()
	case err != nil:
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &hotlinev1.OriginateResponse{CallId: callID, Result: result}, nil
}

// ListCallbacks lists a day's call-back tasks.
func (cs *CallServer) ListCallbacks(ctx context.Context, req *hotlinev1.ListCallbacksRequest) (*hotlinev1.ListCallbacksResponse, error) {
	if _, err := cs.Auth.Caller(ctx); err != nil {
		return nil, err
	}
	tasks, err := cs.Callbacks.List(ctx, req.GetDay(), req.GetOpenOnly())
	if err != nil {
		return nil, callbackStatus(err)
	}
	return &hotlinev1.ListCallbacksResponse{Callbacks: callback.ProtoList(tasks)}, nil
}

// ClaimCallback gives a call-back task to the authenticated agent.
func (cs *CallServer) ClaimCallback(ctx context.Context, req *hotlinev1.ClaimCallbackRequest) (*hotlinev1.CallbackTask, error) {
	ext, err := cs.Auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetAgentExtension() != ext {
		return nil, status.Errorf(codes.PermissionDenied, "agent_extension: %q is not the token's agent", clipRef(req.GetAgentExtension()))
	}
	t, err := cs.Callbacks.Claim(ctx, req.GetCallbackId(), ext)
	if err != nil {
		return nil, callbackStatus(err)
	}
	return t.Proto(), nil
}

func callbackStatus(err error) error {
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, callback.ErrAlreadyClaimed), errors.Is(err, callback.ErrAlreadyDone),
		errors.Is(err, callback.ErrNotClaimed), errors.Is(err, callback.ErrNotClaimant):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, callback.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}
