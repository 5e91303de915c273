package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "gw"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "gw.crt"), filepath.Join(dir, "gw.key")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ = x509.ParseCertificate(der)
	return certFile, keyFile, cert
}

// The app puts the guard on its gRPC server, TLS on its gRPC listener,
// reflection behind auth.reflection and pprof behind a supervisor token.
func TestAppGuardsRPCsPprofAndReflectionOverTLS(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	certFile, keyFile, cert := selfSigned(t, t.TempDir())
	yaml := fmt.Sprintf(`
listen: {http: "127.0.0.1:0", grpc: "127.0.0.1:0", pprof: true, grpc_tls: {cert_file: %q, key_file: %q}}
ari: {url: %q, username: hotline, password: secret}
redis: {addrs: [%q], key_prefix: apptest}
instance: apptest
lines:
  - {number: "12345", name: main, skill: general}
acd: {agents: [{extension: "1001", token: agent-token-1001-aaaa}]}
auth: {supervisors: [{name: sup, token: supervisor-token-bbbb}]}
shutdown: {drain_timeout: 1s}
`, certFile, keyFile, ariSrv.URL+"/ari", rd.Addr)
	cfg, err := config.Parse(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spool.Dir = t.TempDir() // never the production /var/lib/hotline-gw/spool
	a, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-runErr
		sctx, c := context.WithTimeout(context.Background(), 20*time.Second)
		defer c()
		_ = a.Stop(sctx)
	})
	waitFor(t, 10*time.Second, "ready", a.Ready)

	tok := func(s string) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		if s == "" {
			return c
		}
		return metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+s)
	}
	// Plaintext to the TLS listener: refused.
	plain, _ := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer plain.Close()
	if _, err := hotlinev1.NewStatsServiceClient(plain).GetStats(tok("supervisor-token-bbbb"), &hotlinev1.GetStatsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext GetStats = %v; want Unavailable (TLS only)", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	conn, _ := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	defer conn.Close()
	stats := hotlinev1.NewStatsServiceClient(conn)
	for _, tc := range []struct {
		who, tok string
		want     codes.Code
	}{{"no token", "", codes.Unauthenticated}, {"agent", "agent-token-1001-aaaa", codes.PermissionDenied},
		{"supervisor", "supervisor-token-bbbb", codes.InvalidArgument}} { // empty range: invalid, but admitted
		if _, err := stats.GetStats(tok(tc.tok), &hotlinev1.GetStatsRequest{}); status.Code(err) != tc.want {
			t.Errorf("GetStats as %s over TLS = %v; want %s", tc.who, err, tc.want)
		}
	}
	// Reflection is off by default: not registered even for a supervisor.
	rs, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(tok("supervisor-token-bbbb"))
	if err == nil {
		_ = rs.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}})
		_, err = rs.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("reflection with auth.reflection off = %v; want Unimplemented", err)
	}
	// pprof: supervisors only.
	for _, tc := range []struct {
		who, tok string
		want     int
	}{{"no token", "", http.StatusUnauthorized}, {"agent", "agent-token-1001-aaaa", http.StatusForbidden},
		{"supervisor", "supervisor-token-bbbb", http.StatusOK}} {
		req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+"/debug/pprof/", nil)
		if tc.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("/debug/pprof/ as %s = %d; want %d", tc.who, resp.StatusCode, tc.want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// tlsSink is a TicketSink served only over TLS.
type tlsSink struct {
	hotlinev1.UnimplementedTicketSinkServer
	got chan string
}

func (s *tlsSink) SubmitTicket(_ context.Context, req *hotlinev1.SubmitTicketRequest) (*hotlinev1.SubmitTicketResponse, error) {
	s.got <- req.GetTicket().GetTicketId()
	return &hotlinev1.SubmitTicketResponse{}, nil
}

// tickets.sink_tls: a ticket in the outbox reaches a sink that speaks TLS
// only, verified with the configured CA.
func TestAppDeliversTicketsOverTLS(t *testing.T) {
	rd := redistest.Start(t)
	ariSrv := fakeARI(t)
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sink := &tlsSink{got: make(chan string, 4)}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}})))
	hotlinev1.RegisterTicketSinkServer(gs, sink)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	yaml := fmt.Sprintf(`
listen: {http: "127.0.0.1:0", grpc: "127.0.0.1:0"}
ari: {url: %q, username: hotline, password: secret}
redis: {addrs: [%q], key_prefix: apptls}
instance: apptls
lines:
  - {number: "12345", name: main, skill: general}
tickets: {sink: %q, sink_tls: {ca_file: %q}}
shutdown: {drain_timeout: 1s}
`, ariSrv.URL+"/ari", rd.Addr, ln.Addr().String(), certFile)
	cfg, err := config.Parse(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Spool.Dir = t.TempDir() // never the production /var/lib/hotline-gw/spool
	rdb, err := store.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	outbox := ticket.NewOutbox(ticket.OutboxOptions{Redis: rdb, Keys: store.NewKeys("apptls"), Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.New(prometheus.NewRegistry()).Tickets})
	ctx0, cancel0 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel0()
	if err := outbox.Enqueue(ctx0, &hotlinev1.Ticket{TicketId: "1747300000.77", Line: "12345"}); err != nil {
		t.Fatal(err)
	}

	a, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-runErr
		sctx, c := context.WithTimeout(context.Background(), 20*time.Second)
		defer c()
		_ = a.Stop(sctx)
	}()
	select {
	case id := <-sink.got:
		if id != "1747300000.77" {
			t.Errorf("the TLS sink received ticket %q", id)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no ticket reached the TLS-only sink within 15 s")
	}
}
