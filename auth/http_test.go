package auth

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

func TestHTTPGuard(t *testing.T) {
	g, err := NewGuard(testCreds, Options{Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/", g.HTTP(RoleSupervisor, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		io.WriteString(w, "hello "+p.String())
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	get := func(auth string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/debug/pprof/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	sup := tokenOf(t, RoleSupervisor)
	if code, body, _ := get("Bearer " + sup); code != 200 || body != "hello supervisor duty-desk" {
		t.Errorf("supervisor: %d %q", code, body)
	}
	code, _, h := get("")
	if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d, WWW-Authenticate %q", code, h.Get("WWW-Authenticate"))
	}
	if code, body, _ := get("Bearer not-a-configured-token-1"); code != http.StatusUnauthorized || strings.Contains(body, "not-a-configured-token-1") {
		t.Errorf("unknown token: %d %q", code, body)
	}
	agent := tokenOf(t, RoleAgent)
	if code, body, _ := get("Bearer " + agent); code != http.StatusForbidden || strings.Contains(body, agent) {
		t.Errorf("agent token: %d %q", code, body)
	}
	if got := testutil.ToFloat64(g.failures.WithLabelValues("supervisor", ReasonWrongRole)); got != 1 {
		t.Errorf("wrong_role failures = %v", got)
	}
}

func TestBearerCredentials(t *testing.T) {
	ts := startServer(t, Options{})
	target := ts.conn.Target()
	// The token is refused over plaintext unless plaintext was chosen.
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(Bearer{Token: tokenOf(t, RoleSupervisor)}))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = hotlinev1.NewStatsServiceClient(conn).GetStats(ctx, &hotlinev1.GetStatsRequest{})
		conn.Close()
		if err == nil {
			t.Fatal("a bearer token went over plaintext without AllowPlaintext")
		}
	}
	conn, err = grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(Bearer{Token: tokenOf(t, RoleSupervisor), AllowPlaintext: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := hotlinev1.NewStatsServiceClient(conn).GetStats(ctx, &hotlinev1.GetStatsRequest{}); err != nil {
		t.Fatalf("bearer over chosen plaintext: %v", err)
	}
}

// FuzzAdmit drives the guard's decision with arbitrary authorization
// metadata: it never panics, refuses with Unauthenticated (or admits a
// configured token), and never echoes the value.
func FuzzAdmit(f *testing.F) {
	g, err := NewGuard(testCreds, Options{Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range testCreds {
		f.Add("Bearer " + c.Token)
	}
	f.Add("Bearer")
	f.Add("bearer \t x")
	f.Fuzz(func(t *testing.T, v string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {v}})
		out, _, err := g.admit(ctx, hotlinev1.StatsService_GetStats_FullMethodName)
		if err == nil {
			p, ok := FromContext(out)
			if !ok || p.Role != RoleSupervisor {
				t.Fatalf("admitted %q as %+v", v, p)
			}
			return
		}
		st := status.Convert(err)
		tok := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "Bearer"))
		if len(tok) >= 4 && strings.Contains(st.Message(), tok) && !strings.Contains(hotlinev1.StatsService_GetStats_FullMethodName+ErrMalformedToken.Error()+ErrNoToken.Error()+"needs a token of role supervisor", tok) {
			t.Fatalf("message %q echoes %q", st.Message(), tok)
		}
	})
}
