package tlsconf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/tlsconf"
)

func TestServerValidate(t *testing.T) {
	ca := newCA(t, "hotline")
	other := newCA(t, "other")
	srv := ca.valid(t, "gw", true)
	otherSrv := other.valid(t, "gw-other", true)
	expired := ca.issue(t, "old", true, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	notYet := ca.issue(t, "future", true, time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := func() tlsconf.Server {
		return tlsconf.Server{CertFile: srv.certFile, KeyFile: srv.keyFile, ClientCAFile: ca.file}
	}
	if err := valid().Validate("listen.grpc_tls"); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := (tlsconf.Server{Plaintext: true}).Validate("listen.grpc_tls"); err != nil {
		t.Fatalf("explicit plaintext: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*tlsconf.Server)
		want   string
	}{
		{"nothing chosen", func(s *tlsconf.Server) { *s = tlsconf.Server{} }, "listen.grpc_tls: set cert_file and key_file, or plaintext: true"},
		{"plaintext with a cert", func(s *tlsconf.Server) { s.Plaintext = true }, "listen.grpc_tls.plaintext: excludes"},
		{"no key", func(s *tlsconf.Server) { s.KeyFile = "" }, "listen.grpc_tls: set cert_file and key_file"},
		{"missing cert file", func(s *tlsconf.Server) { s.CertFile = filepath.Join(t.TempDir(), "nope.crt") }, "listen.grpc_tls.cert_file:"},
		{"missing key file", func(s *tlsconf.Server) { s.KeyFile = filepath.Join(t.TempDir(), "nope.key") }, "listen.grpc_tls.key_file:"},
		{"key of another cert", func(s *tlsconf.Server) { s.KeyFile = otherSrv.keyFile }, "listen.grpc_tls.cert_file/key_file:"},
		{"cert not PEM", func(s *tlsconf.Server) { s.CertFile = garbage }, "listen.grpc_tls.cert_file/key_file:"},
		{"expired", func(s *tlsconf.Server) { s.CertFile, s.KeyFile = expired.certFile, expired.keyFile }, "listen.grpc_tls.cert_file: the certificate expired"},
		{"not yet valid", func(s *tlsconf.Server) { s.CertFile, s.KeyFile = notYet.certFile, notYet.keyFile }, "listen.grpc_tls.cert_file: the certificate is not valid before"},
		{"client CA not PEM", func(s *tlsconf.Server) { s.ClientCAFile = garbage }, "listen.grpc_tls.client_ca_file: no PEM certificate"},
		{"client CA missing", func(s *tlsconf.Server) { s.ClientCAFile = filepath.Join(t.TempDir(), "ca.crt") }, "listen.grpc_tls.client_ca_file:"},
		{"min version", func(s *tlsconf.Server) { s.MinVersion = "1.0" }, `listen.grpc_tls.min_version: "1.0"`},
	} {
		s := valid()
		tc.mutate(&s)
		err := s.Validate("listen.grpc_tls")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestClientValidate(t *testing.T) {
	ca := newCA(t, "hotline")
	cl := ca.valid(t, "gw-client", false)
	valid := func() tlsconf.Client {
		return tlsconf.Client{CAFile: ca.file, CertFile: cl.certFile, KeyFile: cl.keyFile, ServerName: "tickets.city.test"}
	}
	cfg, err := valid().TLSConfig("tickets.sink_tls")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "tickets.city.test" {
		t.Errorf("config: roots %v, %d certificates, server name %q", cfg.RootCAs != nil, len(cfg.Certificates), cfg.ServerName)
	}
	if cfg, err := (tlsconf.Client{}).TLSConfig("redis.tls"); err != nil || cfg == nil || cfg.RootCAs != nil {
		t.Errorf("zero client: %v, %v; want TLS with the system's roots", cfg, err)
	}
	if cfg, err := (tlsconf.Client{Plaintext: true}).TLSConfig("redis.tls"); err != nil || cfg != nil {
		t.Errorf("plaintext client: %v, %v; want nil, nil", cfg, err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*tlsconf.Client)
		want   string
	}{
		{"plaintext with a CA", func(c *tlsconf.Client) { c.Plaintext = true }, "tickets.sink_tls.plaintext: excludes"},
		{"cert without key", func(c *tlsconf.Client) { c.KeyFile = "" }, "tickets.sink_tls.key_file: required with cert_file"},
		{"key without cert", func(c *tlsconf.Client) { c.CertFile = "" }, "tickets.sink_tls.cert_file: required with key_file"},
		{"CA missing", func(c *tlsconf.Client) { c.CAFile = "/nonexistent/ca.crt" }, "tickets.sink_tls.ca_file:"},
		{"CA is a key", func(c *tlsconf.Client) { c.CAFile = cl.keyFile }, "tickets.sink_tls.ca_file: no PEM certificate"},
		{"key mismatch", func(c *tlsconf.Client) { c.KeyFile = ca.valid(t, "x", false).keyFile }, "tickets.sink_tls.cert_file/key_file:"},
		{"min version", func(c *tlsconf.Client) { c.MinVersion = "tls1" }, "tickets.sink_tls.min_version:"},
	} {
		c := valid()
		tc.mutate(&c)
		err := c.Validate("tickets.sink_tls")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckListenRefusesPlaintextOffLoopback(t *testing.T) {
	pt := tlsconf.Server{Plaintext: true}
	for _, addr := range []string{"127.0.0.1:50051", "[::1]:9108", "localhost:9108", "127.0.0.2:1"} {
		if err := pt.CheckListen("listen.grpc_tls", addr); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{"0.0.0.0:50051", ":50051", "10.1.2.3:50051", "[::]:9108", "gw.example:1"} {
		err := pt.CheckListen("listen.grpc_tls", addr)
		if err == nil || !strings.Contains(err.Error(), "listen.grpc_tls") {
			t.Errorf("plaintext on %s: %v, want an error naming the field", addr, err)
		}
	}
	if err := (tlsconf.Server{CertFile: "a", KeyFile: "b"}).CheckListen("listen.grpc_tls", "0.0.0.0:50051"); err != nil {
		t.Errorf("TLS on any address: %v", err)
	}
}
