package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
)

// agents is a fake AgentService: GetAgent answers, StreamEvents sends a
// snapshot and then an offer on each tick until the stream ends.
type agents struct {
	hotlinev1.UnimplementedAgentServiceServer
	tick chan struct{}
}

func (a *agents) GetAgent(ctx context.Context, r *hotlinev1.GetAgentRequest) (*hotlinev1.Agent, error) {
	return &hotlinev1.Agent{Extension: r.GetExtension(), State: hotlinev1.AgentState_AGENT_STATE_READY}, nil
}

func (a *agents) StreamEvents(r *hotlinev1.StreamEventsRequest, s grpc.ServerStreamingServer[hotlinev1.AgentEvent]) error {
	if err := s.Send(&hotlinev1.AgentEvent{At: timestamppb.Now(), Event: &hotlinev1.AgentEvent_State{State: &hotlinev1.Agent{Extension: r.GetExtension()}}}); err != nil {
		return err
	}
	for {
		select {
		case <-s.Context().Done():
			return nil
		case <-a.tick:
			if err := s.Send(&hotlinev1.AgentEvent{Event: &hotlinev1.AgentEvent_Offer{Offer: &hotlinev1.CallOffer{CallId: "c1"}}}); err != nil {
				return err
			}
		}
	}
}

// rig is the handler over a real guard and gRPC server on a memory pipe,
// as app wires it.
func rig(t *testing.T) (*Handler, *httptest.Server, *agents) {
	t.Helper()
	g, err := auth.NewGuard([]auth.Credential{auth.AgentCredential("1001", "agent-1001-token-aaaaaaaa"),
		{Role: auth.RoleSupervisor, Name: "sup", Token: "supervisor-token-cccccccc"}},
		auth.Options{Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(g.ServerOptions()...)
	fake := &agents{tick: make(chan struct{})}
	hotlinev1.RegisterAgentServiceServer(gs, fake)
	lis := bufconn.Listen(1 << 16)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///t", grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h, err := New(Options{Conn: conn, Log: slog.New(slog.DiscardHandler), Heartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv, fake
}

func do(t *testing.T, method, url, tok, body string) (*http.Response, Error) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e Error
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = json.Unmarshal(b, &e)
	}
	return resp, e
}

func TestErrorsAreJSONWithReasonAndHTTPStatus(t *testing.T) {
	_, srv, _ := rig(t)
	for _, tt := range []struct {
		name, method, path, tok, body string
		status                        int
		code                          string
	}{
		{"no token", "POST", "AgentService/GetAgent", "", `{}`, 401, "UNAUTHENTICATED"},
		{"wrong role", "POST", "AgentService/GetAgent", "supervisor-token-cccccccc", `{}`, 403, "PERMISSION_DENIED"},
		{"unimplemented", "POST", "AgentService/Login", "agent-1001-token-aaaaaaaa", `{}`, 501, "UNIMPLEMENTED"},
		{"bad JSON", "POST", "AgentService/GetAgent", "agent-1001-token-aaaaaaaa", `{"extension":1`, 400, "INVALID_JSON"},
		{"GET of unary", "GET", "AgentService/GetAgent", "agent-1001-token-aaaaaaaa", ``, 405, "METHOD_NOT_ALLOWED"},
		{"no route", "POST", "Nope/Nope", "agent-1001-token-aaaaaaaa", `{}`, 404, "NOT_FOUND"},
		{"stream, no token", "GET", "AgentService/StreamEvents?extension=1001", "", ``, 401, "UNAUTHENTICATED"},
		{"stream, bad query", "GET", "AgentService/StreamEvents?nope=1", "agent-1001-token-aaaaaaaa", ``, 400, "INVALID_JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, e := do(t, tt.method, srv.URL+Prefix+tt.path, tt.tok, tt.body)
			if resp.StatusCode != tt.status || e.Code != tt.code || e.Message == "" {
				t.Fatalf("HTTP %d %+v; want %d %s with a message", resp.StatusCode, e, tt.status, tt.code)
			}
		})
	}
	resp, _ := do(t, "POST", srv.URL+Prefix+"AgentService/GetAgent", "agent-1001-token-aaaaaaaa", `{"extension":"1001"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("GetAgent: HTTP %d", resp.StatusCode)
	}
}

// The stream is SSE: the snapshot, keep-alive comments, an event per
// message; Close (the HTTP server's shutdown) ends it at once.
func TestStreamIsSSEAndCloseEndsIt(t *testing.T) {
	h, srv, fake := rig(t)
	resp, _ := do(t, "GET", srv.URL+Prefix+"AgentService/StreamEvents?extension=1001", "agent-1001-token-aaaaaaaa", "")
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	want := func(prefix string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", prefix)
				}
				if strings.Contains(l, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q", prefix)
			}
		}
	}
	want("event: state")
	want(`"extension":"1001"`)
	want(": keep-alive")
	fake.tick <- struct{}{}
	want("event: offer")
	want(`"call_id":"c1"`)
	h.Close()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				resp2, e := do(t, "GET", srv.URL+Prefix+"AgentService/StreamEvents?extension=1001", "agent-1001-token-aaaaaaaa", "")
				if resp2.StatusCode != 503 || e.Code != "UNAVAILABLE" {
					t.Fatalf("a stream after Close: HTTP %d %+v, want 503 UNAVAILABLE", resp2.StatusCode, e)
				}
				return
			}
		case <-timeout:
			t.Fatal("Close did not end the stream")
		}
	}
}

func TestCodeNames(t *testing.T) {
	for c, want := range map[codes.Code]string{codes.OK: "OK", codes.Canceled: "CANCELLED", codes.PermissionDenied: "PERMISSION_DENIED",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.Unauthenticated: "UNAUTHENTICATED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED"} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%v) = %s, want %s", c, got, want)
		}
	}
}
