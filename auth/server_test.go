package auth

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// The test credentials: one holder per role, and a second agent.
var testCreds = []Credential{
	AgentCredential("1001", "agent-1001-token-aaaaaaaa"),
	AgentCredential("1002", "agent-1002-token-bbbbbbbb"),
	{Role: RoleSupervisor, Name: "duty-desk", Token: "supervisor-token-cccccccc"},
	{Role: RolePolice110, Name: "110-platform", Token: "police110-token-dddddddd"},
	{Role: RoleTicketSystem, Name: "tickets", Token: "ticketsys-token-eeeeeeee"},
	{Role: RoleWall, Name: "hall-screen", Token: "wall-screen-token-gggggggg"},
	{Role: RoleInspector, Name: "qc-1", Token: "inspector-token-hhhhhhhh"},
	{Role: RoleGateway, Name: "gw-a", Token: "gateway-token-ffffffffff"},
}

// tokenOf returns the first test token of role.
func tokenOf(t *testing.T, role Role) string {
	t.Helper()
	for _, c := range testCreds {
		if c.Role == role {
			return c.Token
		}
	}
	t.Fatalf("no test token of role %s", role)
	return ""
}

// eventServer is a tiny AgentService: StreamEvents sends the principal's
// extension as a state event, then holds the stream open until the client
// leaves; GetAgent answers with the caller's extension.
type eventServer struct {
	hotlinev1.UnimplementedAgentServiceServer
}

func (eventServer) GetAgent(ctx context.Context, req *hotlinev1.GetAgentRequest) (*hotlinev1.Agent, error) {
	ext, ok := AgentExtension(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no agent principal in the context")
	}
	return &hotlinev1.Agent{Extension: ext}, nil
}

func (eventServer) StreamEvents(req *hotlinev1.StreamEventsRequest, ss grpc.ServerStreamingServer[hotlinev1.AgentEvent]) error {
	ext, ok := AgentExtension(ss.Context())
	if !ok {
		return status.Error(codes.Internal, "no agent principal in the stream's context")
	}
	ev := &hotlinev1.AgentEvent{At: timestamppb.Now(), Event: &hotlinev1.AgentEvent_State{State: &hotlinev1.Agent{Extension: ext}}}
	if err := ss.Send(ev); err != nil {
		return err
	}
	<-ss.Context().Done()
	return nil
}

// statsServer records the principal of each GetStats call.
type statsServer struct {
	hotlinev1.UnimplementedStatsServiceServer
	seen chan Principal
}

func (s statsServer) GetStats(ctx context.Context, _ *hotlinev1.GetStatsRequest) (*hotlinev1.GetStatsResponse, error) {
	p, _ := FromContext(ctx)
	select {
	case s.seen <- p:
	default:
	}
	return &hotlinev1.GetStatsResponse{Timezone: "Asia/Shanghai"}, nil
}

type testServer struct {
	guard *Guard
	reg   *prometheus.Registry
	conn  *grpc.ClientConn
	stats statsServer
}

// startServer runs a real grpc.Server on loopback with the guard, every
// hotline service (the generated Unimplemented servers, plus the tiny
// implementations above), health and reflection.
func startServer(t *testing.T, o Options) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	g, err := NewGuard(testCreds, o)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(g.ServerOptions()...)
	ts := &testServer{guard: g, reg: reg, stats: statsServer{seen: make(chan Principal, 16)}}
	hotlinev1.RegisterAgentServiceServer(gs, eventServer{})
	hotlinev1.RegisterCallServiceServer(gs, hotlinev1.UnimplementedCallServiceServer{})
	hotlinev1.RegisterTransferServiceServer(gs, hotlinev1.UnimplementedTransferServiceServer{})
	hotlinev1.RegisterSupervisorServiceServer(gs, hotlinev1.UnimplementedSupervisorServiceServer{})
	hotlinev1.RegisterDispositionServiceServer(gs, hotlinev1.UnimplementedDispositionServiceServer{})
	hotlinev1.RegisterStatsServiceServer(gs, ts.stats)
	hotlinev1.RegisterLiveServiceServer(gs, hotlinev1.UnimplementedLiveServiceServer{})
	hotlinev1.RegisterAdminServiceServer(gs, hotlinev1.UnimplementedAdminServiceServer{})
	hotlinev1.RegisterTicketSinkServer(gs, hotlinev1.UnimplementedTicketSinkServer{})
	hotlinev1.RegisterPoliceLinkServer(gs, hotlinev1.UnimplementedPoliceLinkServer{})
	healthpb.RegisterHealthServer(gs, health.NewServer())
	if !RegisterReflection(gs, true) {
		t.Fatal("RegisterReflection(on) did not register")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ts.conn = conn
	return ts
}

// withToken returns a context carrying "authorization: Bearer tok"
// (nothing for an empty tok) and a deadline.
func withToken(t *testing.T, tok string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	return ctx
}

func metadataAppend(ctx context.Context, kv ...string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func newTestRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
