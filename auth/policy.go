// Package auth decides who may call which RPC of the gateway: roles with
// their own bearer tokens, a policy table keyed by full gRPC method name,
// unary and stream server interceptors that enforce it (with a per-token
// rate limit and a cap on concurrent event streams per agent), and the
// authenticated Principal in the request's context so servers can scope
// what they return (an agent sees its own calls' records only; a call-back's
// number stays masked until claimed).
//
// Codes, decided here once for every service:
//
//	no or malformed authorization metadata, unknown token   Unauthenticated
//	a valid token of a role the method does not accept      PermissionDenied
//	a method without a policy (fail closed)                 PermissionDenied
//	over the token's rate limit, or over the agent's
//	concurrent event streams                                ResourceExhausted
//
// No message ever contains the presented token.
package auth

import (
	"fmt"
	"slices"
	"sort"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// Role is what a credential may do. Each token has exactly one role.
type Role string

// The roles. Names appear in configuration, logs and the
// hotline_auth_failures_total{role} label.
const (
	// RoleAgent is an agent's desktop; its token names one extension.
	RoleAgent Role = "agent"
	// RoleSupervisor is a supervisor or administrator: statistics, every
	// call-back and transfer record, reflection, dead letters.
	RoleSupervisor Role = "supervisor"
	// RolePolice110 is the 110 platform calling in: PushPoliceReference and
	// the transfer records (every transfer record is a transfer to or from
	// 110).
	RolePolice110 Role = "police110"
	// RoleTicketSystem is the city's ticket system where it calls into the
	// gateway. No RPC the gateway serves today is called by it; its tokens
	// can be configured so that such RPCs (e.g. a dead-letter requeue by the
	// ticket system) get a role without a configuration change.
	RoleTicketSystem Role = "ticket_system"
	// RoleWall is a wall screen (大屏) or another read-only display: the
	// live figures (LiveService, /live/snapshot, /live/stream) and nothing
	// else. Its tokens sit in screens in a hall: they reveal no caller.
	RoleWall Role = "wall"
	// RoleInspector is a quality inspector (质检): the calls' recordings
	// (GET /recordings/{ticket_id}, RecordingRule) and nothing else; no RPC
	// is of this role.
	RoleInspector Role = "inspector"
	// RoleGateway is the gateway itself as a client of a peer's service
	// (TicketSink at the ticket system, PoliceLink at 110). The gateway never
	// serves these; the policy is for the peers' servers that use this
	// package, such as cmd/ticket-sink and tests.
	RoleGateway Role = "gateway"
)

// Roles lists every role, in a stable order.
func Roles() []Role {
	return []Role{RoleAgent, RoleSupervisor, RolePolice110, RoleTicketSystem, RoleWall, RoleInspector, RoleGateway}
}

// Valid reports whether r is one of Roles().
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Rule is the access policy of one method.
type Rule struct {
	// Public methods need no token (the standard health service).
	Public bool
	// Roles may call the method. Every method has exactly one role except
	// the scoped reads listed in SharedReads, whose servers narrow the
	// answer by the caller's Principal (see VisibleTransfer, MaskCallback).
	Roles []Role
	// EventStream counts the stream against Options.MaxEventStreamsPerAgent.
	EventStream bool
}

// Allows reports whether a principal of role r may call the method.
func (r Rule) Allows(role Role) bool { return r.Public || slices.Contains(r.Roles, role) }

// String names the accepted roles for error messages.
func (r Rule) String() string {
	if r.Public {
		return "public"
	}
	switch len(r.Roles) {
	case 0:
		return "no role"
	case 1:
		return "role " + string(r.Roles[0])
	}
	s := "one of the roles "
	for i, role := range r.Roles {
		if i > 0 {
			s += ", "
		}
		s += string(role)
	}
	return s
}

// Policy maps full gRPC method names ("/hotline.v1.StatsService/GetStats")
// to their rules. A method missing from the policy is refused.
type Policy map[string]Rule

// SharedReads are the only methods more than one role may call. Each
// returns records several roles legitimately read, and its server must
// scope the answer by the caller:
//
//   - ListTransfers: an agent sees the records of its own calls only
//     (VisibleTransfer), a supervisor and 110 see all.
//   - ListCallbacks: an agent sees an unclaimed task's number masked until
//     it claims it (MaskCallback), a supervisor sees all.
//   - LiveService: supervisors and wall screens read the same figures
//     (no caller numbers in them).
var SharedReads = []string{
	hotlinev1.TransferService_ListTransfers_FullMethodName,
	hotlinev1.CallService_ListCallbacks_FullMethodName,
	hotlinev1.LiveService_GetSnapshot_FullMethodName,
	hotlinev1.LiveService_StreamSnapshots_FullMethodName,
}

// LiveRule is the policy of the live figures, over gRPC (LiveService) and
// HTTP (/live/snapshot, /live/stream).
var LiveRule = Rule{Roles: []Role{RoleSupervisor, RoleWall}}

// RecordingRule is the policy of the calls' recordings over HTTP
// (GET /recordings/{ticket_id}): supervisors and quality inspectors.
var RecordingRule = Rule{Roles: []Role{RoleSupervisor, RoleInspector}}

// DefaultPolicy is the gateway's policy: every method of every service in
// api/hotline/v1, the standard health service and server reflection.
func DefaultPolicy() Policy {
	only := func(r Role) Rule { return Rule{Roles: []Role{r}} }
	public := Rule{Public: true}
	return Policy{
		// Agents' desktops: each acts only on its own extension (the
		// servers compare the request's extension with the Principal's).
		hotlinev1.AgentService_Login_FullMethodName:        only(RoleAgent),
		hotlinev1.AgentService_SetState_FullMethodName:     only(RoleAgent),
		hotlinev1.AgentService_GetAgent_FullMethodName:     only(RoleAgent),
		hotlinev1.AgentService_StreamEvents_FullMethodName: {Roles: []Role{RoleAgent}, EventStream: true},

		hotlinev1.CallService_Originate_FullMethodName:     only(RoleAgent),
		hotlinev1.CallService_ClaimCallback_FullMethodName: only(RoleAgent),
		hotlinev1.CallService_ListCallbacks_FullMethodName: {Roles: []Role{RoleAgent, RoleSupervisor}},

		hotlinev1.TransferService_Transfer_FullMethodName:            only(RoleAgent),
		hotlinev1.TransferService_Complete_FullMethodName:            only(RoleAgent),
		hotlinev1.TransferService_Cancel_FullMethodName:              only(RoleAgent),
		hotlinev1.TransferService_ListTransfers_FullMethodName:       {Roles: []Role{RoleAgent, RoleSupervisor, RolePolice110}},
		hotlinev1.TransferService_PushPoliceReference_FullMethodName: only(RolePolice110),

		hotlinev1.StatsService_GetStats_FullMethodName: only(RoleSupervisor),

		// The wall screen's figures: supervisors and wall screens.
		hotlinev1.LiveService_GetSnapshot_FullMethodName:     LiveRule,
		hotlinev1.LiveService_StreamSnapshots_FullMethodName: LiveRule,
		// The administrator's view of the shared state (hotlinectl).
		hotlinev1.AdminService_ListAgents_FullMethodName:      only(RoleSupervisor),
		hotlinev1.AdminService_ListQueue_FullMethodName:       only(RoleSupervisor),
		hotlinev1.AdminService_ListCalls_FullMethodName:       only(RoleSupervisor),
		hotlinev1.AdminService_ListDeadTickets_FullMethodName: only(RoleSupervisor),
		hotlinev1.AdminService_RequeueTickets_FullMethodName:  only(RoleSupervisor),
		// The shift supervisor's seat (班长席).
		hotlinev1.SupervisorService_Monitor_FullMethodName:       only(RoleSupervisor),
		hotlinev1.SupervisorService_Whisper_FullMethodName:       only(RoleSupervisor),
		hotlinev1.SupervisorService_Barge_FullMethodName:         only(RoleSupervisor),
		hotlinev1.SupervisorService_End_FullMethodName:           only(RoleSupervisor),
		hotlinev1.SupervisorService_ListLiveCalls_FullMethodName: only(RoleSupervisor),
		// After-call work: the agent's own calls; a supervisor's any.
		hotlinev1.DispositionService_SetDisposition_FullMethodName:     only(RoleAgent),
		hotlinev1.DispositionService_AmendDisposition_FullMethodName:   only(RoleSupervisor),
		hotlinev1.DispositionService_SetFollowUpVerdict_FullMethodName: only(RoleAgent),

		// Served by the peers, called by the gateway.
		hotlinev1.TicketSink_SubmitTicket_FullMethodName:   only(RoleGateway),
		hotlinev1.TicketSink_SubmitTickets_FullMethodName:  only(RoleGateway),
		hotlinev1.PoliceLink_NotifyTransfer_FullMethodName: only(RoleGateway),

		// Health is for load balancers and systemd: public.
		healthpb.Health_Check_FullMethodName: public,
		healthpb.Health_List_FullMethodName:  public,
		healthpb.Health_Watch_FullMethodName: public,

		// Reflection describes the whole API: supervisors only, and only
		// registered at all when Config.Reflection is on.
		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      only(RoleSupervisor),
		reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: only(RoleSupervisor),
	}
}

// Check reports every rule that is malformed: no role and not public, a
// public rule with roles, an unknown role, a second role outside
// SharedReads, or an event-stream cap on a method agents cannot call.
func (p Policy) Check() error {
	methods := make([]string, 0, len(p))
	for m := range p {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	for _, m := range methods {
		r := p[m]
		switch {
		case r.Public && len(r.Roles) > 0:
			return fmt.Errorf("policy %s: public and roles %v", m, r.Roles)
		case !r.Public && len(r.Roles) == 0:
			return fmt.Errorf("policy %s: neither public nor any role", m)
		case len(r.Roles) > 1 && !slices.Contains(SharedReads, m):
			return fmt.Errorf("policy %s: %d roles; only the shared reads may have more than one", m, len(r.Roles))
		case r.EventStream && !slices.Contains(r.Roles, RoleAgent):
			return fmt.Errorf("policy %s: event-stream cap on a method agents cannot call", m)
		}
		for _, role := range r.Roles {
			if !role.Valid() {
				return fmt.Errorf("policy %s: unknown role %q", m, role)
			}
		}
	}
	return nil
}
