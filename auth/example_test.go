package auth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
)

// The gateway's wiring in small: credentials from the auth section and the
// agents, one guard on the gRPC server, reflection behind the switch, and
// servers reading the principal.
func Example() {
	cfg := auth.Default()
	cfg.Supervisors = []auth.Secret{{Name: "duty-desk", Token: "supervisor-token-cccccccc"}}
	creds, err := cfg.Credentials([]auth.Credential{auth.AgentCredential("1001", "agent-1001-token-aaaaaaaa")})
	if err != nil {
		fmt.Println(err)
		return
	}
	o := cfg.Options()
	o.Registerer = prometheus.NewRegistry()
	o.Log = slog.New(slog.DiscardHandler)
	guard, err := auth.NewGuard(creds, o)
	if err != nil {
		fmt.Println(err)
		return
	}
	gs := grpc.NewServer(guard.ServerOptions()...)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	hotlinev1.RegisterStatsServiceServer(gs, hotlinev1.UnimplementedStatsServiceServer{})
	fmt.Println("reflection registered:", auth.RegisterReflection(gs, cfg.Reflection))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go gs.Serve(ln)
	defer gs.Stop()

	ask := func(tok string) {
		conn, _ := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.Bearer{Token: tok, AllowPlaintext: true}))
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := hotlinev1.NewStatsServiceClient(conn).GetStats(ctx, &hotlinev1.GetStatsRequest{})
		fmt.Println(status.Code(err))
	}
	ask("agent-1001-token-aaaaaaaa")   // an agent may not read statistics
	ask("supervisor-token-cccccccc")   // a supervisor may (this server has no StatsService implementation)
	ask("not-a-configured-token-0000") // nobody

	// Output:
	// reflection registered: false
	// PermissionDenied
	// Unimplemented
	// Unauthenticated
}
