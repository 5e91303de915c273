package edge_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/edge"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// The AdminServer answers from Redis: agents, queues, the live-call
// registry and the dead letters, which it requeues one by one or all;
// bad arguments name the field; other roles are refused.
func TestAdminServerReadsTheSharedState(t *testing.T) {
	srv := redistest.Start(t)
	rdb := client(t, srv)
	keys := store.NewKeys("hltest")
	pool, _ := newPool(t, rdb)
	outbox := ticket.NewOutbox(ticket.OutboxOptions{Redis: rdb, Keys: keys, Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.NewUnregistered().Tickets})
	reg := store.CallRegistry{Redis: rdb, Keys: keys}
	s := &edge.AdminServer{Pool: pool, Calls: reg, Dead: outbox, Log: slog.New(slog.DiscardHandler)}
	ctx := auth.NewContext(testCtx(t), auth.Principal{Role: auth.RoleSupervisor, Name: "sup"})

	login(t, pool, "1001", 0)
	ready(t, pool, "1001")
	login(t, pool, "1002", 0, "labour")
	t0 := time.UnixMilli(1764560000000)
	if err := pool.Enqueue(ctx, "labour", "call-q1", false, t0); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"call-b", "call-a"} {
		if err := reg.Enter(ctx, store.LiveCall{ID: id, Entry: "inbound", Line: "12333", Main: "12345", Skill: "labour",
			Caller: "13900000001", Entered: t0.Add(time.Duration(-i) * time.Second), Instance: "gw-a"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"t-1", "t-2", "t-3"} {
		raw, _ := proto.Marshal(&hotlinev1.Ticket{TicketId: id})
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.Key("tickets", "dead"), Values: []any{"id", id, "t", string(raw),
			"reason", "invalid_argument", "error", "sink refused", "attempts", "5", "consumer", "gw-a"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	agents, err := s.ListAgents(ctx, &hotlinev1.ListAgentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(agents.Agents) != 2 || agents.Agents[0].Extension != "1001" || agents.Agents[0].State != hotlinev1.AgentState_AGENT_STATE_READY ||
		agents.Agents[1].State != hotlinev1.AgentState_AGENT_STATE_PAUSED {
		t.Errorf("ListAgents = %v", agents)
	}
	q, err := s.ListQueue(ctx, &hotlinev1.ListQueueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Calls) != 1 || q.Calls[0].CallId != "call-q1" || q.Calls[0].Skill != "labour" || q.Calls[0].Position != 1 ||
		!q.Calls[0].Entered.AsTime().Equal(t0) {
		t.Errorf("ListQueue = %v", q)
	}
	if _, err := s.ListQueue(ctx, &hotlinev1.ListQueueRequest{Skill: "nosuch"}); status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), "skill") {
		t.Errorf("unknown skill: %v", err)
	}
	calls, err := s.ListCalls(ctx, &hotlinev1.ListCallsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls.Calls) != 2 || calls.Calls[0].CallId != "call-a" || calls.Calls[1].CallId != "call-b" || calls.Calls[0].Instance != "gw-a" {
		t.Errorf("ListCalls (oldest first) = %v", calls)
	}
	dead, err := s.ListDeadTickets(ctx, &hotlinev1.ListDeadTicketsRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(dead.Tickets) != 2 || !dead.More || dead.Tickets[0].TicketId != "t-1" || dead.Tickets[0].Attempts != 5 || dead.Tickets[0].Reason != "invalid_argument" {
		t.Errorf("ListDeadTickets{limit 2} = %v", dead)
	}
	for _, bad := range []*hotlinev1.RequeueTicketsRequest{{}, {All: true, Ids: []string{dead.Tickets[0].Id}}, {Ids: []string{"x; FLUSHALL"}}} {
		if _, err := s.RequeueTickets(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("RequeueTickets(%v) = %v, want InvalidArgument", bad, err)
		}
	}
	if _, err := s.ListDeadTickets(ctx, &hotlinev1.ListDeadTicketsRequest{Limit: 5000}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("limit 5000: %v", err)
	}
	one, err := s.RequeueTickets(ctx, &hotlinev1.RequeueTicketsRequest{Ids: []string{dead.Tickets[0].Id}})
	if err != nil || len(one.Requeued) != 1 {
		t.Fatalf("requeue one: %v, %v", one, err)
	}
	if _, err := s.RequeueTickets(ctx, &hotlinev1.RequeueTicketsRequest{Ids: []string{dead.Tickets[0].Id}}); status.Code(err) != codes.NotFound {
		t.Errorf("requeue it again: %v, want NotFound", err)
	}
	all, err := s.RequeueTickets(ctx, &hotlinev1.RequeueTicketsRequest{All: true})
	if err != nil || len(all.Requeued) != 2 {
		t.Fatalf("requeue all: %v, %v", all, err)
	}
	if n, _ := rdb.XLen(ctx, keys.Key("tickets", "outbox")).Result(); n != 3 {
		t.Errorf("outbox holds %d entries after requeueing 3, want 3", n)
	}
	if left, _ := s.ListDeadTickets(ctx, &hotlinev1.ListDeadTicketsRequest{}); len(left.Tickets) != 0 {
		t.Errorf("dead letters left: %v", left)
	}
	agentCtx := auth.NewContext(context.Background(), auth.Principal{Role: auth.RoleAgent, Name: "1001", Extension: "1001"})
	if _, err := s.ListAgents(agentCtx, &hotlinev1.ListAgentsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an agent lists agents: %v, want PermissionDenied", err)
	}
}
