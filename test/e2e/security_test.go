package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// rpc is one method found in the generated descriptors.
type rpc struct {
	full    string // "/hotline.v1.StatsService/GetStats"
	service string // "hotline.v1.StatsService"
	desc    protoreflect.MethodDescriptor
}

// gatewayRPCs enumerates every method of every service of package
// hotline.v1 from the generated descriptors, plus health and reflection, so
// that a new RPC shows up here without anyone listing it.
func gatewayRPCs(t *testing.T) []rpc {
	t.Helper()
	_ = hotlinev1.File_hotline_v1_agent_proto // links the generated files in
	var files []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("hotline.v1", func(fd protoreflect.FileDescriptor) bool {
		files = append(files, fd)
		return true
	})
	if len(files) < 6 {
		t.Fatalf("found %d files of package hotline.v1; the generated code is not linked in", len(files))
	}
	files = append(files, healthpb.File_grpc_health_v1_health_proto,
		reflectionv1.File_grpc_reflection_v1_reflection_proto, reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto)
	var out []rpc
	for _, fd := range files {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				out = append(out, rpc{full: fmt.Sprintf("/%s/%s", sd.FullName(), md.Name()), service: string(sd.FullName()), desc: md})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].full < out[j].full })
	return out
}

// servedServices asks the gateway's reflection (as a supervisor) which
// services it serves.
func servedServices(t *testing.T, conn *grpc.ClientConn) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(labtest.AsSupervisor(context.Background()), 10*time.Second)
	defer cancel()
	st, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	if err := st.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{ListServices: ""}}); err != nil {
		t.Fatalf("reflection send: %v", err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("reflection list services as a supervisor: %v", err)
	}
	out := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		out[s.GetName()] = true
	}
	return out
}

// invoke calls m over conn with req (for streams: sends req, then reads
// the first answer) and returns the status.
func invoke(ctx context.Context, conn *grpc.ClientConn, m rpc, req *dynamicpb.Message) error {
	out := dynamicpb.NewMessage(m.desc.Output())
	if !m.desc.IsStreamingClient() && !m.desc.IsStreamingServer() {
		return conn.Invoke(ctx, m.full, req, out)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: string(m.desc.Name()),
		ServerStreams: m.desc.IsStreamingServer(), ClientStreams: m.desc.IsStreamingClient()}, m.full)
	if err != nil {
		return err
	}
	if err := cs.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	return cs.RecvMsg(out)
}

// request is m's request, empty except that a field naming an agent
// (extension, agent_extension) is the caller's own extension, so that a
// request of the right role is judged on its content, not refused as
// another agent's.
func request(m rpc, ext string) *dynamicpb.Message {
	msg := dynamicpb.NewMessage(m.desc.Input())
	for _, name := range []protoreflect.Name{"extension", "agent_extension"} {
		if fd := m.desc.Input().Fields().ByName(name); fd != nil && fd.Kind() == protoreflect.StringKind {
			msg.Set(fd, protoreflect.ValueOfString(ext))
		}
	}
	return msg
}

// TestRoleMatrix: every RPC the gateway serves × (no token, an unknown
// token, each other role's token, the right role's token) against a real
// gateway process: Unauthenticated, Unauthenticated, PermissionDenied, and
// no authentication error (the empty requests may well be invalid). The
// methods come from the generated descriptors; one without an access
// policy, or one the gateway serves that is not in the descriptors, fails.
func TestRoleMatrix(t *testing.T) {
	l := startRoutingLab(t, "")
	conn, err := grpc.NewClient(l.g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	tokens := roleTokens()
	served := servedServices(t, conn)
	pol := auth.DefaultPolicy()
	checked := map[string]bool{}
	for _, m := range gatewayRPCs(t) {
		rule, ok := pol[m.full]
		if !ok {
			t.Errorf("%s has no access policy (auth.DefaultPolicy); the gateway refuses it to everyone", m.full)
			continue
		}
		if !served[m.service] {
			// The peers' services (TicketSink, PoliceLink) are called by
			// the gateway, never served by it.
			if !rule.Allows(auth.RoleGateway) || rule.Public {
				t.Errorf("%s: the gateway does not serve %s, yet its policy is %s", m.full, m.service, rule)
			}
			continue
		}
		checked[m.service] = true
		t.Run(strings.TrimPrefix(m.full, "/"), func(t *testing.T) {
			check := func(who, tok string, want codes.Code) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if tok != "" {
					ctx = labtest.WithToken(ctx, tok)
				}
				err := invoke(ctx, conn, m, request(m, "1001"))
				got := status.Code(err)
				switch {
				case want == codes.OK && (got == codes.Unauthenticated || got == codes.PermissionDenied ||
					got == codes.ResourceExhausted || got == codes.Unimplemented):
					t.Errorf("%s: %v; want no authentication error (the right role)", who, err)
				case want != codes.OK && got != want:
					t.Errorf("%s: %v; want %s", who, err, want)
				}
				if tok != "" && strings.Contains(status.Convert(err).Message(), tok) {
					t.Errorf("%s: the error echoes the token: %v", who, err)
				}
			}
			if rule.Public {
				check("no token", "", codes.OK)
				return
			}
			check("no token", "", codes.Unauthenticated)
			check("unknown token", "not-a-configured-token-0123", codes.Unauthenticated)
			right := 0
			for _, r := range auth.Roles() {
				tok, ok := tokens[r]
				if !ok {
					continue // the gateway role has no token on the gateway
				}
				if rule.Allows(r) {
					right++
					check(string(r)+" token", tok, codes.OK)
				} else {
					check(string(r)+" token", tok, codes.PermissionDenied)
				}
			}
			if right == 0 {
				t.Errorf("%s: no role that the gateway can configure may call it (%s)", m.full, rule)
			}
		})
	}
	for svc := range served {
		if !checked[svc] {
			t.Errorf("the gateway serves %s, which is not in the generated descriptors the matrix walks", svc)
		}
	}
	for _, svc := range []string{"hotline.v1.AgentService", "hotline.v1.CallService", "hotline.v1.TransferService",
		"hotline.v1.StatsService", "hotline.v1.LiveService", "hotline.v1.AdminService", "hotline.v1.SupervisorService", "hotline.v1.DispositionService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !checked[svc] {
			t.Errorf("%s was not checked: the gateway does not serve it", svc)
		}
	}
}

// pki is a CA and the certificates a test issues from it.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	serial int64
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), caCert: cert, caKey: key, serial: 1}
	p.caFile = p.write(t, name+"-ca.crt", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue returns the files of a new certificate and key: a server
// certificate for 127.0.0.1 or a client certificate.
func (p *pki) issue(t *testing.T, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".crt", "CERTIFICATE", der), p.write(t, name+".key", "PRIVATE KEY", kder)
}

// TestTLSDesktopWithClientCertificate: a gateway whose gRPC listener has a
// certificate and a client CA (mTLS). A desktop with a client certificate
// from that CA logs in over TLS and its event stream carries the screen
// pop of a real SIPp call; a plaintext client, a TLS client without a
// certificate and one with a certificate from another CA are refused.
func TestTLSDesktopWithClientCertificate(t *testing.T) {
	labtest.RequireLab(t)
	ca := newPKI(t, "desktops")
	srvCert, srvKey := ca.issue(t, "gateway", true)
	cliCert, cliKey := ca.issue(t, "desktop-1001", false)
	stranger := newPKI(t, "stranger")
	badCert, badKey := stranger.issue(t, "intruder", false)

	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: labtest.AgentsYAML(sink.Addr, ""),
		GRPCTLS: fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}", srvCert, srvKey, ca.caFile)})

	roots := x509.NewCertPool()
	roots.AddCert(ca.caCert)
	clientTLS := func(certFile, keyFile string) grpc.DialOption {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if certFile != "" {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
	}

	// Refused: plaintext, TLS without a certificate, a certificate of another CA.
	for _, tc := range []struct {
		name  string
		creds grpc.DialOption
	}{
		{"plaintext", grpc.WithTransportCredentials(insecure.NewCredentials())},
		{"tls without a client certificate", clientTLS("", "")},
		{"client certificate of another CA", clientTLS(badCert, badKey)},
	} {
		conn, err := grpc.NewClient(g.GRPC, tc.creds)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(labtest.WithToken(context.Background(), labtest.AgentToken("1001")), 5*time.Second)
		_, err = hotlinev1.NewAgentServiceClient(conn).GetAgent(ctx, &hotlinev1.GetAgentRequest{Extension: "1001"})
		cancel()
		conn.Close()
		if code := status.Code(err); code != codes.Unavailable {
			t.Errorf("%s: GetAgent = %v; want the connection refused (Unavailable)", tc.name, err)
		}
	}

	// Accepted: the desktop with its certificate streams the screen pop.
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktopDial(t, g.GRPC, clientTLS(cliCert, cliKey), "1001", "general")
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13800138000", Duration: 2 * time.Second})
	callID := waitOffer(t, d)
	o := d.Offers()[0]
	if o.CallerNumber != "13800138000" || o.Line != "12345" {
		t.Errorf("screen pop over mTLS = %v; want caller 13800138000 on 12345", o)
	}
	if res := <-done; res.Failed != 0 {
		t.Errorf("the call: %v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Eventually(t, 10*time.Second, func() error {
		if ks := progressKinds(d, callID); len(ks) == 0 {
			return fmt.Errorf("no call progress for %s on the TLS stream", callID)
		}
		return nil
	})
}
