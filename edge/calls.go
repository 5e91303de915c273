package edge

import (
	"context"
	"errors"
	"log/slog"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
)

// CallbackStore is what the CallService needs of the call-back tasks.
type CallbackStore interface {
	List(ctx context.Context, day string, openOnly bool) ([]callback.Task, error)
	Claim(ctx context.Context, id, agentExt string) (callback.Task, error)
}

// Originator is what the CallServer needs of the gateway
// (*gateway.Service): a request reaches it only once every field the
// edge can check is valid.
type Originator interface {
	Originate(ctx context.Context, req gateway.OriginateRequest) (callID, result string, err error)
	HasLine(number string) bool
}

// CallServer implements hotlinev1.CallService: agents' outbound calls and
// the missed-call call-back list.
type CallServer struct {
	hotlinev1.UnimplementedCallServiceServer
	Service   Originator
	Auth      Authenticator
	Numbers   *number.Policy
	Callbacks CallbackStore
	// Outcome counts refused requests (invalid or not allowed numbers).
	Outcome func(purpose, result string)
	Log     *slog.Logger
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
	ext, purpose, err := cs.checkOriginate(ctx, req)
	if err != nil {
		return nil, toStatus(cs.Log, "originate", err)
	}
	n, err := cs.dialledNumber(ctx, req, ext, purpose)
	if err != nil {
		return nil, toStatus(cs.Log, "originate", err)
	}
	callID, result, err := cs.Service.Originate(ctx, gateway.OriginateRequest{
		AgentExt: ext, Number: n, Purpose: purpose, Line: req.GetLine(), TicketID: req.GetTicketId(), CallbackID: req.GetCallbackId(),
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The call exists: its ID lets the desktop follow it.
		return &hotlinev1.OriginateResponse{CallId: callID}, toStatus(cs.Log, "originate", err)
	case err != nil:
		return nil, toStatus(cs.Log, "originate", err)
	}
	return &hotlinev1.OriginateResponse{CallId: callID, Result: result}, nil
}

// checkOriginate authenticates the agent and checks the request's own fields.
func (cs *CallServer) checkOriginate(ctx context.Context, req *hotlinev1.OriginateRequest) (ext, purpose string, err error) {
	if ext, err = cs.Auth.Caller(ctx); err != nil {
		return "", "", err
	}
	if req.GetAgentExtension() != ext {
		return "", "", denied("agent_extension: %q is not the token's agent", gateway.ClipRef(req.GetAgentExtension()))
	}
	purpose, ok := purposeOf(req.GetPurpose())
	if !ok {
		return "", "", invalid("purpose", "must be FOLLOW_UP or CALLBACK")
	}
	if id := req.GetTicketId(); id != "" {
		if err := ticket.ValidateID(id); err != nil {
			return "", "", invalid("ticket_id", "%v", err)
		}
	}
	if l := req.GetLine(); l != "" && !cs.Service.HasLine(l) {
		return "", "", invalid("line", "%q is not a hotline line", gateway.ClipRef(l))
	}
	if req.GetCallbackId() != "" && purpose != "callback" {
		return "", "", invalid("callback_id", "only with purpose CALLBACK")
	}
	return ext, purpose, nil
}

// dialledNumber claims the call-back task, if any, and validates the
// citizen's number against the outbound policy.
func (cs *CallServer) dialledNumber(ctx context.Context, req *hotlinev1.OriginateRequest, ext, purpose string) (number.Number, error) {
	raw := req.GetNumber()
	if req.GetCallbackId() != "" {
		task, err := cs.Callbacks.Claim(ctx, req.GetCallbackId(), ext)
		if err != nil {
			return number.Number{}, err
		}
		if raw != "" && raw != task.CallerNumber {
			return number.Number{}, invalid("number", "a call-back dials the task's own number; leave number empty")
		}
		raw = task.CallerNumber
	}
	n, err := cs.Numbers.Outbound(raw)
	if err != nil {
		result := gateway.ResultInvalidNumber
		if errors.Is(err, number.ErrNotAllowed) {
			result = gateway.ResultRejected
		}
		if cs.Outcome != nil {
			cs.Outcome(purpose, result)
		}
		return number.Number{}, invalid("number", "%v", err)
	}
	return n, nil
}

// ListCallbacks lists a day's call-back tasks: whole to a supervisor; to
// an agent with the citizen's number masked on every task it has not
// claimed itself (auth.MaskCallbacks).
func (cs *CallServer) ListCallbacks(ctx context.Context, req *hotlinev1.ListCallbacksRequest) (*hotlinev1.ListCallbacksResponse, error) {
	p, err := auth.Require(ctx, auth.RoleAgent, auth.RoleSupervisor)
	if err != nil {
		return nil, err
	}
	tasks, err := cs.Callbacks.List(ctx, req.GetDay(), req.GetOpenOnly())
	if err != nil {
		return nil, toStatus(cs.Log, "list call-backs", err)
	}
	return &hotlinev1.ListCallbacksResponse{Callbacks: auth.MaskCallbacks(p, callback.ProtoList(tasks))}, nil
}

// ClaimCallback gives a call-back task to the authenticated agent.
func (cs *CallServer) ClaimCallback(ctx context.Context, req *hotlinev1.ClaimCallbackRequest) (*hotlinev1.CallbackTask, error) {
	ext, err := cs.Auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetAgentExtension() != ext {
		return nil, toStatus(cs.Log, "claim call-back", denied("agent_extension: %q is not the token's agent", gateway.ClipRef(req.GetAgentExtension())))
	}
	t, err := cs.Callbacks.Claim(ctx, req.GetCallbackId(), ext)
	if err != nil {
		return nil, toStatus(cs.Log, "claim call-back", err)
	}
	return t.Proto(), nil
}
