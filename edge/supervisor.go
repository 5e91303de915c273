package edge

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/acd"
)

// Supervision is what the SupervisorServer needs of the gateway
// (*gateway.Service).
type Supervision interface {
	Supervise(ctx context.Context, r gateway.SuperviseRequest) (gateway.SuperviseResult, error)
	EndBySupervisor(ctx context.Context, callID, supervisor string) error
	LiveCalls(ctx context.Context) ([]gateway.LiveCall, error)
}

// AgentLister lists the agents (*acd.Pool).
type AgentLister interface {
	List(ctx context.Context) ([]acd.Agent, error)
}

// SupervisorServer implements hotlinev1.SupervisorService: the shift
// supervisor's Monitor, Whisper, Barge and End on live agent calls, and
// the list of live calls and agents. The guard admits supervisor tokens
// only; errors become codes in toStatus:
//
//	empty or malformed call_id, supervisor_extension   InvalidArgument
//	call not live on this gateway                      NotFound
//	call not with an agent now; another supervisor
//	extension already on it                            FailedPrecondition
//	Asterisk or Redis unreachable                      Unavailable
type SupervisorServer struct {
	hotlinev1.UnimplementedSupervisorServiceServer
	Service Supervision
	Agents  AgentLister
	Log     *slog.Logger
}

// Monitor rings the supervisor's phone and lets it hear both parties.
func (s *SupervisorServer) Monitor(ctx context.Context, req *hotlinev1.SuperviseRequest) (*hotlinev1.SuperviseResponse, error) {
	return s.supervise(ctx, gateway.SuperviseMonitor, req)
}

// Whisper rings the supervisor's phone; it hears both parties and only
// the agent hears it.
func (s *SupervisorServer) Whisper(ctx context.Context, req *hotlinev1.SuperviseRequest) (*hotlinev1.SuperviseResponse, error) {
	return s.supervise(ctx, gateway.SuperviseWhisper, req)
}

// Barge rings the supervisor's phone and puts it in the call.
func (s *SupervisorServer) Barge(ctx context.Context, req *hotlinev1.SuperviseRequest) (*hotlinev1.SuperviseResponse, error) {
	return s.supervise(ctx, gateway.SuperviseBarge, req)
}

func (s *SupervisorServer) supervise(ctx context.Context, action string, req *hotlinev1.SuperviseRequest) (*hotlinev1.SuperviseResponse, error) {
	p, err := auth.Require(ctx, auth.RoleSupervisor)
	if err != nil {
		return nil, err
	}
	if err := checkCallID(req.GetCallId()); err != nil {
		return nil, toStatus(s.Log, action, err)
	}
	if !acd.ValidExtension(req.GetSupervisorExtension()) {
		return nil, toStatus(s.Log, action, invalid("supervisor_extension", "%q must be 2-8 digits", req.GetSupervisorExtension()))
	}
	res, err := s.Service.Supervise(ctx, gateway.SuperviseRequest{CallID: req.GetCallId(), Action: action,
		Supervisor: p.Name, Extension: req.GetSupervisorExtension()})
	if err != nil {
		return nil, toStatus(s.Log, action, err)
	}
	return &hotlinev1.SuperviseResponse{CallId: req.GetCallId(), Action: action, SupervisorLeg: res.Leg, Switched: res.Switched}, nil
}

// End hangs the call up; its ticket says a supervisor ended it.
func (s *SupervisorServer) End(ctx context.Context, req *hotlinev1.EndCallRequest) (*hotlinev1.EndCallResponse, error) {
	p, err := auth.Require(ctx, auth.RoleSupervisor)
	if err != nil {
		return nil, err
	}
	if err := checkCallID(req.GetCallId()); err != nil {
		return nil, toStatus(s.Log, "end", err)
	}
	if err := s.Service.EndBySupervisor(ctx, req.GetCallId(), p.Name); err != nil {
		return nil, toStatus(s.Log, "end", err)
	}
	return &hotlinev1.EndCallResponse{CallId: req.GetCallId()}, nil
}

// ListLiveCalls returns every instance's live calls and every agent.
func (s *SupervisorServer) ListLiveCalls(ctx context.Context, _ *hotlinev1.ListLiveCallsRequest) (*hotlinev1.ListLiveCallsResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	calls, err := s.Service.LiveCalls(ctx)
	if err != nil {
		return nil, toStatus(s.Log, "list_live_calls", err)
	}
	out := &hotlinev1.ListLiveCallsResponse{}
	for _, c := range calls {
		out.Calls = append(out.Calls, &hotlinev1.LiveCall{CallId: c.ID, Line: c.Line, MainLine: c.Main, Skill: c.Skill,
			CallerNumber: c.Caller, Entered: timestamppb.New(c.Entered), Instance: c.Instance, Entry: c.Entry})
	}
	agents, err := s.Agents.List(ctx)
	if err != nil {
		return nil, toStatus(s.Log, "list_live_calls", err)
	}
	for _, a := range agents {
		out.Agents = append(out.Agents, a.Proto())
	}
	return out, nil
}

// checkCallID refuses an empty or unprintable call ID.
func checkCallID(id string) error {
	if id == "" {
		return invalid("call_id", "is required")
	}
	if len(id) > 128 || gateway.ClipRef(id) != id {
		return invalid("call_id", "%q is not a call ID", gateway.ClipRef(id))
	}
	return nil
}
