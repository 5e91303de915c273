package edge

import (
	"context"
	"errors"
	"log/slog"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
)

// Agent pool and queues, as the AdminServer reads them (*acd.Pool).
type AdminPool interface {
	List(ctx context.Context) ([]acd.Agent, error)
	Queue(ctx context.Context, skill string) ([]acd.Waiter, error)
	Skills() []string
}

// DeadLetters is the ticket dead-letter stream (*ticket.Outbox).
type DeadLetters interface {
	DeadLetters(ctx context.Context, after string, count int) ([]ticket.DeadLetter, string, error)
	Requeue(ctx context.Context, id string) (string, error)
}

// LiveCalls is the shared registry of live calls (store.CallRegistry).
type LiveCalls interface {
	All(ctx context.Context) ([]store.LiveCall, error)
}

// AdminServer implements hotlinev1.AdminService over what the gateway
// instances share in Redis, so that every instance answers the same.
// Supervisor role only (auth.DefaultPolicy).
type AdminServer struct {
	hotlinev1.UnimplementedAdminServiceServer
	Pool  AdminPool
	Calls LiveCalls
	Dead  DeadLetters
	Log   *slog.Logger
}

// maxDead bounds one ListDeadTickets and one RequeueTickets{all}.
const maxDead = 1000

// ListAgents returns every agent the pool knows, by extension.
func (s *AdminServer) ListAgents(ctx context.Context, _ *hotlinev1.ListAgentsRequest) (*hotlinev1.ListAgentsResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	list, err := s.Pool.List(ctx)
	if err != nil {
		return nil, toStatus(s.Log, "list agents", err)
	}
	out := &hotlinev1.ListAgentsResponse{}
	for _, a := range list {
		out.Agents = append(out.Agents, a.Proto())
	}
	return out, nil
}

// ListQueue returns the calls waiting in one skill's queue, or in every
// line's.
func (s *AdminServer) ListQueue(ctx context.Context, req *hotlinev1.ListQueueRequest) (*hotlinev1.ListQueueResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	skills := s.Pool.Skills()
	if sk := req.GetSkill(); sk != "" {
		if !contains(skills, sk) {
			return nil, toStatus(s.Log, "list queue", invalid("skill", "%q is no line's skill (%v)", sk, skills))
		}
		skills = []string{sk}
	}
	sort.Strings(skills)
	out := &hotlinev1.ListQueueResponse{}
	for _, sk := range skills {
		q, err := s.Pool.Queue(ctx, sk)
		if err != nil {
			return nil, toStatus(s.Log, "list queue", err)
		}
		for _, w := range q {
			out.Calls = append(out.Calls, &hotlinev1.QueuedCall{CallId: w.CallID, Skill: w.Skill, Position: uint32(w.Position),
				Priority: w.Priority, Entered: timestamppb.New(w.Entered)})
		}
	}
	return out, nil
}

// ListCalls returns the live calls of every instance, oldest first.
func (s *AdminServer) ListCalls(ctx context.Context, _ *hotlinev1.ListCallsRequest) (*hotlinev1.ListCallsResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	calls, err := s.Calls.All(ctx)
	if err != nil {
		return nil, toStatus(s.Log, "list calls", err)
	}
	sort.Slice(calls, func(i, j int) bool {
		if !calls[i].Entered.Equal(calls[j].Entered) {
			return calls[i].Entered.Before(calls[j].Entered)
		}
		return calls[i].ID < calls[j].ID
	})
	out := &hotlinev1.ListCallsResponse{}
	for _, c := range calls {
		out.Calls = append(out.Calls, &hotlinev1.LiveCall{CallId: c.ID, Entry: c.Entry, Line: c.Line, MainLine: c.Main, Skill: c.Skill,
			CallerNumber: c.Caller, Entered: timestamppb.New(c.Entered), Instance: c.Instance})
	}
	return out, nil
}

// ListDeadTickets returns up to limit dead letters, oldest first.
func (s *AdminServer) ListDeadTickets(ctx context.Context, req *hotlinev1.ListDeadTicketsRequest) (*hotlinev1.ListDeadTicketsResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = 100
	case limit > maxDead:
		return nil, toStatus(s.Log, "list dead tickets", invalid("limit", "%d is more than %d", limit, maxDead))
	}
	list, next, err := s.Dead.DeadLetters(ctx, "", limit)
	if err != nil {
		return nil, toStatus(s.Log, "list dead tickets", err)
	}
	out := &hotlinev1.ListDeadTicketsResponse{More: next != ""}
	for _, d := range list {
		out.Tickets = append(out.Tickets, &hotlinev1.DeadTicket{Id: d.ID, DeadAt: timestamppb.New(d.At), TicketId: d.TicketID,
			Reason: d.Reason, Error: d.Error, Attempts: uint32(max(d.Attempts, 0)), Instance: d.Consumer})
	}
	return out, nil
}

// RequeueTickets moves the named dead letters (or all of them) back to the
// outbox. An ID that is not a dead letter is NotFound and stops there: the
// ones before it are requeued (and listed in the error's message).
func (s *AdminServer) RequeueTickets(ctx context.Context, req *hotlinev1.RequeueTicketsRequest) (*hotlinev1.RequeueTicketsResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	ids := req.GetIds()
	switch {
	case req.GetAll() && len(ids) > 0:
		return nil, toStatus(s.Log, "requeue tickets", invalid("ids", "must be empty with all"))
	case !req.GetAll() && len(ids) == 0:
		return nil, toStatus(s.Log, "requeue tickets", invalid("ids", "name at least one dead letter, or set all"))
	case len(ids) > maxDead:
		return nil, toStatus(s.Log, "requeue tickets", invalid("ids", "at most %d", maxDead))
	}
	for i, id := range ids {
		if !validStreamID(id) {
			return nil, toStatus(s.Log, "requeue tickets", invalid("ids", "[%d] %q is not a dead-letter ID like 1733000000000-0", i, id))
		}
	}
	if req.GetAll() {
		list, _, err := s.Dead.DeadLetters(ctx, "", maxDead)
		if err != nil {
			return nil, toStatus(s.Log, "requeue tickets", err)
		}
		for _, d := range list {
			ids = append(ids, d.ID)
		}
	}
	out := &hotlinev1.RequeueTicketsResponse{}
	for _, id := range ids {
		if _, err := s.Dead.Requeue(ctx, id); err != nil {
			if errors.Is(err, ticket.ErrNoDeadLetter) {
				return nil, toStatus(s.Log, "requeue tickets", &notFoundError{"dead letter " + id + " not found (requeued before it: " + joinOrNone(out.Requeued) + ")"})
			}
			return nil, toStatus(s.Log, "requeue tickets", err)
		}
		out.Requeued = append(out.Requeued, id)
	}
	s.Log.Info("dead letters requeued by a supervisor", "count", len(out.Requeued), "all", req.GetAll())
	return out, nil
}

// notFoundError is a named thing that does not exist; its text is safe to
// show.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func joinOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	s := ids[0]
	for _, id := range ids[1:] {
		s += ", " + id
	}
	return s
}

// validStreamID reports whether id looks like a Redis stream ID
// ("<ms>-<seq>").
func validStreamID(id string) bool {
	ms, seq, ok := cut(id, '-')
	return ok && digits(ms) && digits(seq) && len(id) <= 41
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
