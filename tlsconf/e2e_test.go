package tlsconf_test

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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

const agentToken = "agent-1001-token-aaaaaaaa"

// desktopEvents is a tiny AgentService whose StreamEvents sends three
// events addressed to the authenticated agent, then ends.
type desktopEvents struct {
	hotlinev1.UnimplementedAgentServiceServer
}

func (desktopEvents) StreamEvents(_ *hotlinev1.StreamEventsRequest, ss grpc.ServerStreamingServer[hotlinev1.AgentEvent]) error {
	ext, ok := auth.AgentExtension(ss.Context())
	if !ok {
		return status.Error(codes.Internal, "no agent in the context")
	}
	for i := range 3 {
		ev := &hotlinev1.AgentEvent{At: timestamppb.Now(), Event: &hotlinev1.AgentEvent_Offer{Offer: &hotlinev1.CallOffer{
			CallId: "call-" + string(rune('a'+i)), Line: "12333", MainLine: "12345", Skill: ext}}}
		if err := ss.Send(ev); err != nil {
			return err
		}
	}
	return nil
}

// startTLSServer runs the gateway's shape of gRPC server on loopback: the
// listener's TLS from st, the auth guard, AgentService and health.
func startTLSServer(t *testing.T, st *tlsconf.ServerTLS) string {
	t.Helper()
	g, err := auth.NewGuard([]auth.Credential{auth.AgentCredential("1001", agentToken)},
		auth.Options{Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(append(g.ServerOptions(), st.GRPCServerOption())...)
	hotlinev1.RegisterAgentServiceServer(gs, desktopEvents{})
	healthpb.RegisterHealthServer(gs, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, opt grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func clientOpt(t *testing.T, c tlsconf.Client) grpc.DialOption {
	t.Helper()
	opt, err := tlsconf.GRPCDialOption("test.client_tls", c)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

func ctxWithToken(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+agentToken)
}

// streamEvents opens the agent's event stream and reads it to its end.
func streamEvents(t *testing.T, conn *grpc.ClientConn) ([]*hotlinev1.AgentEvent, error) {
	t.Helper()
	st, err := hotlinev1.NewAgentServiceClient(conn).StreamEvents(ctxWithToken(t), &hotlinev1.StreamEventsRequest{Extension: "1001"})
	if err != nil {
		return nil, err
	}
	var evs []*hotlinev1.AgentEvent
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// watchHealth opens the health Watch stream and reads its first answer.
func watchHealth(t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	r, err := w.Recv()
	if err != nil {
		return err
	}
	if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v", r.GetStatus())
	}
	return nil
}

// refused asserts that the connection cannot carry an RPC.
func refused(t *testing.T, what string, conn *grpc.ClientConn) {
	t.Helper()
	evs, err := streamEvents(t, conn)
	if err == nil || len(evs) != 0 {
		t.Errorf("%s: streamed %d events, err %v; want refused", what, len(evs), err)
	} else if c := status.Code(err); c != codes.Unavailable {
		t.Errorf("%s: %v, want Unavailable (handshake refused)", what, err)
	}
	if err := watchHealth(t, conn); err == nil {
		t.Errorf("%s: health Watch answered", what)
	}
}

func TestMutualTLSDesktopStreamsEvents(t *testing.T) {
	ca := newCA(t, "hotline")
	rogue := newCA(t, "rogue")
	srv := ca.valid(t, "gw", true)
	desk := ca.valid(t, "desktop-1001", false)
	rogueDesk := rogue.valid(t, "rogue-desktop", false)
	st, err := tlsconf.LoadServer("listen.grpc_tls", tlsconf.Server{CertFile: srv.certFile, KeyFile: srv.keyFile, ClientCAFile: ca.file})
	if err != nil {
		t.Fatal(err)
	}
	if !st.MutualTLS() || st.Plaintext() {
		t.Fatalf("MutualTLS %v, Plaintext %v", st.MutualTLS(), st.Plaintext())
	}
	addr := startTLSServer(t, st)

	// A desktop with a certificate of the hotline's CA streams its events.
	good := dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: ca.file, CertFile: desk.certFile, KeyFile: desk.keyFile}))
	evs, err := streamEvents(t, good)
	if err != nil {
		t.Fatalf("desktop with a client certificate: %v", err)
	}
	if len(evs) != 3 || evs[0].GetOffer().GetSkill() != "1001" || evs[2].GetOffer().GetCallId() != "call-c" {
		t.Fatalf("desktop got %v", evs)
	}
	if err := watchHealth(t, good); err != nil {
		t.Fatalf("health Watch over mTLS: %v", err)
	}
	// The token still decides: TLS is not authentication of the agent.
	st2, err := hotlinev1.NewAgentServiceClient(good).StreamEvents(context.Background(), &hotlinev1.StreamEventsRequest{})
	if err == nil {
		_, err = st2.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("mTLS without a token: %v, want Unauthenticated", err)
	}

	// The gateway's own outgoing shape: TLS with a client certificate and
	// the token as per-RPC credentials that require transport security.
	withBearer, err := grpc.NewClient(addr, clientOpt(t, tlsconf.Client{CAFile: ca.file, CertFile: desk.certFile, KeyFile: desk.keyFile}),
		grpc.WithPerRPCCredentials(auth.Bearer{Token: agentToken}))
	if err != nil {
		t.Fatal(err)
	}
	defer withBearer.Close()
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer bcancel()
	bs, err := hotlinev1.NewAgentServiceClient(withBearer).StreamEvents(bctx, &hotlinev1.StreamEventsRequest{Extension: "1001"})
	if err == nil {
		_, err = bs.Recv()
	}
	if err != nil {
		t.Errorf("Bearer credentials over mTLS: %v", err)
	}

	refused(t, "plaintext client", dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials())))
	refused(t, "TLS client without a certificate", dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: ca.file})))
	refused(t, "client certificate of another CA", dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: ca.file, CertFile: rogueDesk.certFile, KeyFile: rogueDesk.keyFile})))
	refused(t, "client that does not trust the server's CA", dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: rogue.file, CertFile: desk.certFile, KeyFile: desk.keyFile})))
	refused(t, "client verifying another server name", dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: ca.file, CertFile: desk.certFile, KeyFile: desk.keyFile, ServerName: "tickets.city.test"})))

	// server_name: the certificate's DNS name instead of the address.
	named := dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: ca.file, CertFile: desk.certFile, KeyFile: desk.keyFile, ServerName: "gw.hotline.test"}))
	if _, err := streamEvents(t, named); err != nil {
		t.Errorf("server_name gw.hotline.test: %v", err)
	}
}

func TestServerTLSWithoutClientCA(t *testing.T) {
	ca := newCA(t, "hotline")
	srv := ca.valid(t, "gw", true)
	st, err := tlsconf.LoadServer("listen.grpc_tls", tlsconf.Server{CertFile: srv.certFile, KeyFile: srv.keyFile, MinVersion: "1.3"})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSServer(t, st)
	if _, err := streamEvents(t, dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: ca.file}))); err != nil {
		t.Fatalf("TLS client without a certificate, no client CA: %v", err)
	}
	refused(t, "plaintext client", dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials())))
}

func TestPlaintextWhenChosen(t *testing.T) {
	st, err := tlsconf.LoadServer("listen.grpc_tls", tlsconf.Server{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Config("h2"); err != tlsconf.ErrPlaintext {
		t.Fatalf("Config of a plaintext listener: %v", err)
	}
	addr := startTLSServer(t, st)
	if _, err := streamEvents(t, dial(t, addr, clientOpt(t, tlsconf.Client{Plaintext: true}))); err != nil {
		t.Fatalf("plaintext on loopback, chosen: %v", err)
	}
}

func TestReloadRotatesTheServerCertificate(t *testing.T) {
	oldCA, newCA_ := newCA(t, "old"), newCA(t, "new")
	srv := oldCA.valid(t, "gw", true)
	st, err := tlsconf.LoadServer("listen.grpc_tls", tlsconf.Server{CertFile: srv.certFile, KeyFile: srv.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLSServer(t, st)
	if _, err := streamEvents(t, dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: oldCA.file}))); err != nil {
		t.Fatal(err)
	}
	// The files are replaced in place (as a certificate renewal does), then
	// Reload: new connections get the new certificate.
	rotated := newCA_.valid(t, "gw-new", true)
	copyFile(t, rotated.certFile, srv.certFile)
	copyFile(t, rotated.keyFile, srv.keyFile)
	if err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := streamEvents(t, dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: newCA_.file}))); err != nil {
		t.Fatalf("client trusting the new CA after reload: %v", err)
	}
	refused(t, "client trusting only the old CA after reload", dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: oldCA.file})))
	// A broken file does not replace the material in force.
	copyFile(t, oldCA.file, srv.keyFile)
	if err := st.Reload(); err == nil {
		t.Fatal("reload accepted a CA certificate as the key")
	}
	if _, err := streamEvents(t, dial(t, addr, clientOpt(t, tlsconf.Client{CAFile: newCA_.file}))); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func TestHTTPListenerMutualTLS(t *testing.T) {
	ca := newCA(t, "hotline")
	srv := ca.valid(t, "gw", true)
	scraper := ca.valid(t, "prometheus", false)
	st, err := tlsconf.LoadServer("listen.http_tls", tlsconf.Server{CertFile: srv.certFile, KeyFile: srv.keyFile, ClientCAFile: ca.file})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(st.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	url := "https://" + ln.Addr().String() + "/healthz"

	get := func(c tlsconf.Client) (string, error) {
		cfg, err := c.TLSConfig("test")
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Proto + " " + string(b), nil
	}
	body, err := get(tlsconf.Client{CAFile: ca.file, CertFile: scraper.certFile, KeyFile: scraper.keyFile})
	if err != nil || !strings.HasSuffix(body, "ok\n") {
		t.Fatalf("scraper with a certificate: %q, %v", body, err)
	}
	if !strings.HasPrefix(body, "HTTP/2") {
		t.Errorf("served over %q, want HTTP/2 by ALPN", body)
	}
	if body, err := get(tlsconf.Client{CAFile: ca.file}); err == nil {
		t.Errorf("client without a certificate got %q", body)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plaintext HTTP answered %s", resp.Status)
		}
	}
}
