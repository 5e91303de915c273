package edge

import (
	"context"
	"log/slog"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway"
)

// Dispositions is what the DispositionServer needs of the gateway
// (*gateway.Service).
type Dispositions interface {
	SetDisposition(ctx context.Context, r gateway.DispositionRequest) (gateway.DispositionResult, error)
	SetFollowUpVerdict(ctx context.Context, r gateway.FollowUpRequest) (gateway.FollowUpResult, error)
}

// DispositionServer implements hotlinev1.DispositionService: the agent's
// after-call work. An agent token may set the disposition of its own
// calls only (SetDisposition); a supervisor token of any
// (AmendDisposition). Errors become codes in toStatus:
//
//	empty or malformed call_id, unknown code, department without
//	FORWARDED_TO_DEPARTMENT, note or department too long   InvalidArgument
//	call neither live here nor within its disposition window NotFound
//	another agent's call, a call not answered by an agent    PermissionDenied
//	SetFollowUpVerdict: unknown verdict, note too long       InvalidArgument
//	  not an answered outbound follow-up call                FailedPrecondition
type DispositionServer struct {
	hotlinev1.UnimplementedDispositionServiceServer
	Service Dispositions
	Log     *slog.Logger
}

// SetDisposition sets the disposition of a call the agent is on or
// handled within the window.
func (s *DispositionServer) SetDisposition(ctx context.Context, req *hotlinev1.SetDispositionRequest) (*hotlinev1.SetDispositionResponse, error) {
	p, err := auth.Require(ctx, auth.RoleAgent)
	if err != nil {
		return nil, err
	}
	return s.set(ctx, p, req)
}

// AmendDisposition sets the disposition of any call (a supervisor's).
func (s *DispositionServer) AmendDisposition(ctx context.Context, req *hotlinev1.SetDispositionRequest) (*hotlinev1.SetDispositionResponse, error) {
	p, err := auth.Require(ctx, auth.RoleSupervisor)
	if err != nil {
		return nil, err
	}
	return s.set(ctx, p, req)
}

func (s *DispositionServer) set(ctx context.Context, p auth.Principal, req *hotlinev1.SetDispositionRequest) (*hotlinev1.SetDispositionResponse, error) {
	if err := checkCallID(req.GetCallId()); err != nil {
		return nil, toStatus(s.Log, "set disposition", err)
	}
	r := gateway.DispositionRequest{CallID: req.GetCallId(), Code: req.GetCode(), Department: req.GetDepartment(),
		Note: req.GetNote(), SetBy: p.String()}
	if p.Role == auth.RoleAgent {
		if p.Extension == "" {
			return nil, toStatus(s.Log, "set disposition", denied("%s names no extension", p))
		}
		r.Agent = p.Extension
	}
	res, err := s.Service.SetDisposition(ctx, r)
	if err != nil {
		return nil, toStatus(s.Log, "set disposition", err)
	}
	return &hotlinev1.SetDispositionResponse{CallId: req.GetCallId(), Disposition: res.Disposition, AfterCall: res.AfterCall}, nil
}

// SetFollowUpVerdict records the citizen's verdict on the agent's own
// follow-up call (回访), live or within the disposition window.
func (s *DispositionServer) SetFollowUpVerdict(ctx context.Context, req *hotlinev1.SetFollowUpVerdictRequest) (*hotlinev1.SetFollowUpVerdictResponse, error) {
	p, err := auth.Require(ctx, auth.RoleAgent)
	if err != nil {
		return nil, err
	}
	if err := checkCallID(req.GetCallId()); err != nil {
		return nil, toStatus(s.Log, "set follow-up verdict", err)
	}
	if p.Extension == "" {
		return nil, toStatus(s.Log, "set follow-up verdict", denied("%s names no extension", p))
	}
	res, err := s.Service.SetFollowUpVerdict(ctx, gateway.FollowUpRequest{CallID: req.GetCallId(), Verdict: req.GetVerdict(),
		Note: req.GetNote(), Agent: p.Extension, SetBy: p.String()})
	if err != nil {
		return nil, toStatus(s.Log, "set follow-up verdict", err)
	}
	return &hotlinev1.SetFollowUpVerdictResponse{CallId: req.GetCallId(), LinkedTicketId: res.LinkedTicketID,
		Result: res.Result, AfterCall: res.AfterCall}, nil
}
