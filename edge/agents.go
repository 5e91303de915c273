package edge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway/acd"
)

// AgentServer is the AgentService used by agents' desktops.
//
// The gRPC server's auth.Guard authenticates every RPC (metadata
// "authorization: Bearer <token>", the token configured per extension in
// acd.agents) and admits agent tokens only; the server then lets the
// caller act only on its own extension. Errors become gRPC codes in
// toStatus:
//
//	missing or unknown token (the guard)       Unauthenticated
//	another role's token (the guard)           PermissionDenied
//	malformed extension, skill, state, reason  InvalidArgument (names the field)
//	another agent's extension                  PermissionDenied
//	extension never logged in                  NotFound
//	second Login while a session is live       AlreadyExists
//	state change not allowed (e.g. ready while
//	ringing, anything while logged out)        FailedPrecondition
//	Redis unreachable                          Unavailable
//
// A refused request changes nothing.
type AgentServer struct {
	hotlinev1.UnimplementedAgentServiceServer
	pool *acd.Pool
	log  *slog.Logger
}

// NewAgentServer returns the service over pool. Register it on a server
// whose interceptors are an auth.Guard's.
func NewAgentServer(pool *acd.Pool, log *slog.Logger) *AgentServer {
	return &AgentServer{pool: pool, log: log}
}

// Register registers the service on g.
func (s *AgentServer) Register(g grpc.ServiceRegistrar) { hotlinev1.RegisterAgentServiceServer(g, s) }

// authorize checks that the request's principal is an agent and that ext
// is its own, valid extension.
func (s *AgentServer) authorize(ctx context.Context, ext string) error {
	caller, err := auth.Agents{}.Caller(ctx)
	if err != nil {
		return err
	}
	if !acd.ValidExtension(ext) {
		return toStatus(s.log, "authorize", invalid("extension", "%q must be 2-8 digits", ext))
	}
	if ext != caller {
		return toStatus(s.log, "authorize", denied("token of agent %s may not act on agent %s", caller, ext))
	}
	return nil
}

// Login starts the agent's session; the agent starts paused (reason
// "login") and sets READY when its desktop is ready for calls.
func (s *AgentServer) Login(ctx context.Context, req *hotlinev1.LoginRequest) (*hotlinev1.LoginResponse, error) {
	if err := s.authorize(ctx, req.GetExtension()); err != nil {
		return nil, err
	}
	a, err := s.pool.Login(ctx, req.GetExtension(), req.GetSkills(), time.Duration(req.GetWrapUpSeconds())*time.Second)
	if err != nil {
		return nil, toStatus(s.log, "login", err)
	}
	return &hotlinev1.LoginResponse{SessionId: a.SessionID, State: a.State.Proto()}, nil
}

// SetState sets READY, PAUSED (reason required) or LOGGED_OUT.
func (s *AgentServer) SetState(ctx context.Context, req *hotlinev1.SetStateRequest) (*hotlinev1.SetStateResponse, error) {
	if err := s.authorize(ctx, req.GetExtension()); err != nil {
		return nil, err
	}
	var (
		a   acd.Agent
		err error
	)
	switch req.GetState() {
	case hotlinev1.AgentState_AGENT_STATE_READY:
		a, err = s.pool.SetReady(ctx, req.GetExtension())
	case hotlinev1.AgentState_AGENT_STATE_PAUSED:
		a, err = s.pool.Pause(ctx, req.GetExtension(), req.GetReason())
	case hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT:
		a, err = s.pool.Logout(ctx, req.GetExtension())
	default:
		return nil, toStatus(s.log, "set state", invalid("state", "%s is not READY, PAUSED or LOGGED_OUT", req.GetState()))
	}
	if err != nil {
		return nil, toStatus(s.log, "set state", err)
	}
	return &hotlinev1.SetStateResponse{State: a.State.Proto()}, nil
}

// GetAgent returns the agent's state.
func (s *AgentServer) GetAgent(ctx context.Context, req *hotlinev1.GetAgentRequest) (*hotlinev1.Agent, error) {
	if err := s.authorize(ctx, req.GetExtension()); err != nil {
		return nil, err
	}
	a, err := s.pool.Get(ctx, req.GetExtension())
	if err != nil {
		return nil, toStatus(s.log, "get agent", err)
	}
	return a.Proto(), nil
}

// StreamEvents streams the agent's events from every instance: first a
// snapshot of its state (LOGGED_OUT if it never logged in: a desktop may
// open its stream before Login), then screen pops, call progress and state
// changes. The snapshot is sent once the subscription is active, so every
// event published after the client received it is delivered.
func (s *AgentServer) StreamEvents(req *hotlinev1.StreamEventsRequest, stream grpc.ServerStreamingServer[hotlinev1.AgentEvent]) error {
	ctx := stream.Context()
	ext := req.GetExtension()
	if err := s.authorize(ctx, ext); err != nil {
		return err
	}
	es, err := s.pool.Events(ctx, ext)
	if err != nil {
		return toStatus(s.log, "stream events", err)
	}
	defer es.Close()
	a, err := s.pool.Get(ctx, ext)
	switch {
	case errors.Is(err, acd.ErrUnknownAgent):
		a = acd.Agent{Extension: ext, State: acd.LoggedOut}
	case err != nil:
		return toStatus(s.log, "stream events", err)
	}
	if err := stream.Send(&hotlinev1.AgentEvent{At: timestamppb.Now(), Event: &hotlinev1.AgentEvent_State{State: a.Proto()}}); err != nil {
		return err
	}
	for {
		ev, err := es.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the desktop went away
			}
			return status.Error(codes.Unavailable, "agent event stream interrupted; reconnect")
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}
