package edge_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/edge"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

var tokens = map[string]string{
	"1001": "token-of-agent-1001",
	"1002": "token-of-agent-1002",
	"1003": "token-of-agent-1003",
}

// serve runs the AgentService on a real loopback listener and returns a client.
func serve(t *testing.T, p *acd.Pool) hotlinev1.AgentServiceClient {
	t.Helper()
	srv := edge.NewAgentServer(p, slog.New(slog.DiscardHandler))
	g := grpc.NewServer(guard(t).ServerOptions()...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(g)
	done := make(chan struct{})
	go func() { _ = g.Serve(lis); close(done) }()
	t.Cleanup(func() { g.Stop(); <-done })
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return hotlinev1.NewAgentServiceClient(cc)
}

func as(ctx context.Context, ext string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tokens[ext])
}

func wantCode(t *testing.T, what string, err error, code codes.Code, mention string) {
	t.Helper()
	s, _ := status.FromError(err)
	if s.Code() != code {
		t.Errorf("%s: %v, want %s", what, err, code)
		return
	}
	if mention != "" && !strings.Contains(s.Message(), mention) {
		t.Errorf("%s: message %q does not name %q", what, s.Message(), mention)
	}
}

func TestAgentServiceLifecycle(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	c := serve(t, p)
	ctx := as(testCtx(t), "1001")

	lr, err := c.Login(ctx, &hotlinev1.LoginRequest{Extension: "1001", Skills: []string{general, "labour"}, WrapUpSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	if lr.GetSessionId() == "" || lr.GetState() != hotlinev1.AgentState_AGENT_STATE_PAUSED {
		t.Fatalf("login: %v", lr)
	}
	for _, step := range []struct {
		req  *hotlinev1.SetStateRequest
		want hotlinev1.AgentState
	}{
		{&hotlinev1.SetStateRequest{Extension: "1001", State: hotlinev1.AgentState_AGENT_STATE_READY}, hotlinev1.AgentState_AGENT_STATE_READY},
		{&hotlinev1.SetStateRequest{Extension: "1001", State: hotlinev1.AgentState_AGENT_STATE_PAUSED, Reason: "break"}, hotlinev1.AgentState_AGENT_STATE_PAUSED},
		{&hotlinev1.SetStateRequest{Extension: "1001", State: hotlinev1.AgentState_AGENT_STATE_READY}, hotlinev1.AgentState_AGENT_STATE_READY},
	} {
		r, err := c.SetState(ctx, step.req)
		if err != nil || r.GetState() != step.want {
			t.Fatalf("set %v: %v, %v", step.req.GetState(), r, err)
		}
	}
	a, err := c.GetAgent(ctx, &hotlinev1.GetAgentRequest{Extension: "1001"})
	if err != nil {
		t.Fatal(err)
	}
	if a.GetState() != hotlinev1.AgentState_AGENT_STATE_READY || len(a.GetSkills()) != 2 || a.GetStateSince() == nil {
		t.Fatalf("agent: %v", a)
	}
	if n, _ := p.ReadyAgents(ctx, "labour"); n != 1 {
		t.Fatalf("ready agents in labour = %d", n)
	}
	if r, err := c.SetState(ctx, &hotlinev1.SetStateRequest{Extension: "1001", State: hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT}); err != nil || r.GetState() != hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT {
		t.Fatalf("logout: %v, %v", r, err)
	}
	if n, _ := p.ReadyAgents(ctx, general); n != 0 {
		t.Fatalf("ready agents after logout = %d", n)
	}
	if _, err := c.Login(ctx, &hotlinev1.LoginRequest{Extension: "1001", Skills: []string{general}}); err != nil {
		t.Fatalf("login after logout: %v", err)
	}
}

func TestAgentServiceRefusesAndChangesNothing(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	c := serve(t, p)
	bg := testCtx(t)
	for _, e := range []string{"1001", "1002"} {
		login(t, p, e, 0)
		ready(t, p, e)
	}
	mustOffer(t, p, "c1", "1001") // 1001 has waited longest: ringing now
	const ringing, other = "1001", "1002"
	snapshot := func() map[string]acd.Agent {
		m := map[string]acd.Agent{}
		for _, e := range []string{"1001", "1002"} {
			m[e] = get(t, p, e)
		}
		return m
	}
	before := snapshot()

	ready := &hotlinev1.SetStateRequest{Extension: other, State: hotlinev1.AgentState_AGENT_STATE_READY}
	cases := []struct {
		name    string
		call    func() error
		code    codes.Code
		mention string
	}{
		{"no token", func() error {
			_, err := c.SetState(bg, ready)
			return err
		}, codes.Unauthenticated, ""},
		{"wrong token", func() error {
			_, err := c.SetState(metadata.AppendToOutgoingContext(bg, "authorization", "Bearer not-a-token-at-all"), ready)
			return err
		}, codes.Unauthenticated, ""},
		{"not bearer", func() error {
			_, err := c.SetState(metadata.AppendToOutgoingContext(bg, "authorization", "Basic "+tokens[other]), ready)
			return err
		}, codes.Unauthenticated, ""},
		{"another agent's extension", func() error {
			_, err := c.SetState(as(bg, "1003"), ready)
			return err
		}, codes.PermissionDenied, ""},
		{"another agent's events", func() error {
			s, err := c.StreamEvents(as(bg, "1003"), &hotlinev1.StreamEventsRequest{Extension: other})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.PermissionDenied, ""},
		{"malformed extension", func() error {
			_, err := c.GetAgent(as(bg, other), &hotlinev1.GetAgentRequest{Extension: "10x1"})
			return err
		}, codes.InvalidArgument, "extension"},
		{"malformed skill", func() error {
			_, err := c.Login(as(bg, "1003"), &hotlinev1.LoginRequest{Extension: "1003", Skills: []string{general, "Not A Skill"}})
			return err
		}, codes.InvalidArgument, "skills[1]"},
		{"wrap-up too long", func() error {
			_, err := c.Login(as(bg, "1003"), &hotlinev1.LoginRequest{Extension: "1003", Skills: []string{general}, WrapUpSeconds: 86400})
			return err
		}, codes.InvalidArgument, "wrap_up_seconds"},
		{"no state", func() error {
			_, err := c.SetState(as(bg, other), &hotlinev1.SetStateRequest{Extension: other})
			return err
		}, codes.InvalidArgument, "state"},
		{"pause without reason", func() error {
			_, err := c.SetState(as(bg, other), &hotlinev1.SetStateRequest{Extension: other, State: hotlinev1.AgentState_AGENT_STATE_PAUSED})
			return err
		}, codes.InvalidArgument, "reason"},
		{"second login", func() error {
			_, err := c.Login(as(bg, other), &hotlinev1.LoginRequest{Extension: other, Skills: []string{"labour"}, WrapUpSeconds: 5})
			return err
		}, codes.AlreadyExists, ""},
		{"ready while ringing", func() error {
			_, err := c.SetState(as(bg, ringing), &hotlinev1.SetStateRequest{Extension: ringing, State: hotlinev1.AgentState_AGENT_STATE_READY})
			return err
		}, codes.FailedPrecondition, ""},
		{"logout while ringing", func() error {
			_, err := c.SetState(as(bg, ringing), &hotlinev1.SetStateRequest{Extension: ringing, State: hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT})
			return err
		}, codes.FailedPrecondition, ""},
		{"unknown agent", func() error {
			_, err := c.GetAgent(as(bg, "1003"), &hotlinev1.GetAgentRequest{Extension: "1003"})
			return err
		}, codes.NotFound, ""},
		{"unknown agent ready", func() error {
			_, err := c.SetState(as(bg, "1003"), &hotlinev1.SetStateRequest{Extension: "1003", State: hotlinev1.AgentState_AGENT_STATE_READY})
			return err
		}, codes.NotFound, ""},
	}
	for _, tc := range cases {
		wantCode(t, tc.name, tc.call(), tc.code, tc.mention)
		after := snapshot()
		for e, a := range before {
			b := after[e]
			if b.State != a.State || !b.Since.Equal(a.Since) || b.SessionID != a.SessionID || b.CallID != a.CallID || strings.Join(b.Skills, ",") != strings.Join(a.Skills, ",") {
				t.Errorf("%s changed agent %s: %+v → %+v", tc.name, e, a, b)
			}
		}
		if _, err := p.Get(bg, "1003"); !errors.Is(err, acd.ErrUnknownAgent) {
			t.Errorf("%s created agent 1003", tc.name)
		}
	}
}

// The screen pop for an agent whose desktop is connected to instance A is
// published by instance B, which handles the call, and reaches the desktop
// before B would ring the agent's phone.
func TestScreenPopFromAnotherInstance(t *testing.T) {
	srv := redistest.Start(t)
	pa, _ := newPool(t, client(t, srv))
	pb, _ := newPool(t, client(t, srv))
	c := serve(t, pa) // the desktop's instance
	ctx := as(testCtx(t), "1001")

	stream, err := c.StreamEvents(ctx, &hotlinev1.StreamEventsRequest{Extension: "1001"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv() // the snapshot: the subscription is active
	if err != nil {
		t.Fatal(err)
	}
	if first.GetState().GetState() != hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT {
		t.Fatalf("snapshot before login: %v", first)
	}
	if _, err := c.Login(ctx, &hotlinev1.LoginRequest{Extension: "1001", Skills: []string{general}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetState(ctx, &hotlinev1.SetStateRequest{Extension: "1001", State: hotlinev1.AgentState_AGENT_STATE_READY}); err != nil {
		t.Fatal(err)
	}

	// Instance B handles the call.
	if err := pb.Enqueue(ctx, general, "call-1", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	ext, err := pb.Claim(ctx, general, "call-1")
	if err != nil || ext != "1001" {
		t.Fatalf("claim: %q, %v", ext, err)
	}
	if err := pb.Offer(ctx, ext, &hotlinev1.CallOffer{CallId: "call-1", CallerNumber: "13800000000", Line: "12345", Skill: general, Direction: hotlinev1.Direction_DIRECTION_INBOUND}); err != nil {
		t.Fatalf("offer: %v", err)
	}
	// (B would originate PJSIP/agent1001 now.)

	var states []hotlinev1.AgentState
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if s := ev.GetState(); s != nil {
			states = append(states, s.GetState())
			continue
		}
		o := ev.GetOffer()
		if o == nil || o.GetCallId() != "call-1" || o.GetCallerNumber() != "13800000000" {
			t.Fatalf("event: %v", ev)
		}
		break
	}
	want := []hotlinev1.AgentState{hotlinev1.AgentState_AGENT_STATE_PAUSED, hotlinev1.AgentState_AGENT_STATE_READY, hotlinev1.AgentState_AGENT_STATE_RINGING}
	if len(states) != len(want) {
		t.Fatalf("state events before the offer: %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("state events before the offer: %v, want %v", states, want)
		}
	}
}

// The agents' tokens now reach the guard, which refuses the same bad
// tables NewAgentServer used to.
func TestGuardRejectsBadAgentTokens(t *testing.T) {
	for name, m := range map[string]map[string]string{
		"bad extension": {"x1": "0123456789abcdef"},
		"short token":   {"1001": "short"},
		"shared token":  {"1001": "0123456789abcdef", "1002": "0123456789abcdef"},
	} {
		var creds []auth.Credential
		for ext, tok := range m {
			creds = append(creds, auth.AgentCredential(ext, tok))
		}
		if _, err := auth.NewGuard(creds, auth.Options{Registerer: prometheus.NewRegistry()}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// guard is the gateway's guard over the test's agent tokens, a supervisor
// and 110.
func guard(t testing.TB) *auth.Guard {
	t.Helper()
	creds := []auth.Credential{
		{Role: auth.RoleSupervisor, Name: "sup", Token: supervisorToken},
		{Role: auth.RolePolice110, Name: "110", Token: policeToken},
	}
	for ext, tok := range tokens {
		creds = append(creds, auth.AgentCredential(ext, tok))
	}
	g, err := auth.NewGuard(creds, auth.Options{Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	supervisorToken = "token-of-the-supervisor"
	policeToken     = "token-of-the-110-platform"
)
