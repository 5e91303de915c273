// Package tlsconf builds the gateway's TLS: server configurations for its
// gRPC and HTTP listeners (certificate and key files, an optional client CA
// that turns on mutual TLS), and client configurations for its outgoing
// connections (ticket sink, PoliceLink, Redis, ARI over https/wss).
//
// Plaintext is never a default: a listener or a connection is plaintext
// only when its configuration says plaintext: true, and a plaintext
// listener is refused on a non-loopback address (CheckListen). The lab
// keeps plaintext on loopback.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// versions are the accepted min_version values.
var versions = map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// Server is the TLS of one listener.
//
//	listen:
//	  grpc_tls:
//	    cert_file: /etc/hotline/tls/gw.crt
//	    key_file: /etc/hotline/tls/gw.key
//	    client_ca_file: /etc/hotline/tls/desktops-ca.crt   # optional: mTLS
//	  http_tls: {plaintext: true}                          # loopback only
type Server struct {
	// Plaintext serves without TLS; it must be chosen explicitly and
	// excludes the other fields.
	Plaintext bool   `yaml:"plaintext"`
	CertFile  string `yaml:"cert_file"` // PEM, the leaf first, then intermediates
	KeyFile   string `yaml:"key_file"`  // PEM
	// ClientCAFile, when set, requires every client to present a
	// certificate issued by one of its CAs (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Client is the TLS of one outgoing connection.
//
//	tickets:
//	  sink_tls:
//	    ca_file: /etc/hotline/tls/ticket-ca.crt   # empty: the system's roots
//	    cert_file: /etc/hotline/tls/gw-client.crt # optional client certificate
//	    key_file: /etc/hotline/tls/gw-client.key
//	    server_name: tickets.city.example          # optional
type Client struct {
	// Plaintext connects without TLS; it must be chosen explicitly and
	// excludes the other fields.
	Plaintext bool `yaml:"plaintext"`
	// CAFile holds the CAs that verify the server; empty: the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate, both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName verifies the server under this name instead of the
	// address's host (and is sent as SNI).
	ServerName string `yaml:"server_name"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Validate checks s, reading its files: they exist and parse, the key
// matches the certificate, the certificate is valid now, the client CA
// file holds at least one certificate. Errors are prefixed with field, the
// YAML path of s (e.g. "listen.grpc_tls").
func (s Server) Validate(field string) error {
	_, err := s.load(field)
	return err
}

// Validate checks c as Server.Validate does; field is its YAML path.
func (c Client) Validate(field string) error {
	_, err := c.TLSConfig(field)
	return err
}

// CheckListen refuses a plaintext server on an address that is not
// loopback ("127.0.0.1:50051", "[::1]:9108", "localhost:…"): the gateway
// leaves the host only over TLS.
func (s Server) CheckListen(field, addr string) error {
	if !s.Plaintext {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port", field, addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s.plaintext: the listener %s is not on loopback; configure cert_file and key_file", field, addr)
}

// material is what a server's files hold.
type material struct {
	cert tls.Certificate
	pool *x509.CertPool // nil: no client certificates asked for
}

func (s Server) load(field string) (*material, error) {
	if s.Plaintext {
		if s.CertFile != "" || s.KeyFile != "" || s.ClientCAFile != "" || s.MinVersion != "" {
			return nil, fmt.Errorf("%s.plaintext: excludes cert_file, key_file, client_ca_file and min_version", field)
		}
		return nil, nil
	}
	if _, ok := versions[s.MinVersion]; !ok {
		return nil, fmt.Errorf("%s.min_version: %q is not 1.2 or 1.3", field, s.MinVersion)
	}
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, fmt.Errorf("%s: set cert_file and key_file, or plaintext: true", field)
	}
	cert, err := loadPair(field, s.CertFile, s.KeyFile)
	if err != nil {
		return nil, err
	}
	m := &material{cert: cert}
	if s.ClientCAFile != "" {
		if m.pool, err = loadPool(field+".client_ca_file", s.ClientCAFile); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// loadPair reads a certificate and its key and checks that they match and
// that the certificate is valid now.
func loadPair(field, certFile, keyFile string) (tls.Certificate, error) {
	if _, err := os.Stat(certFile); err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.cert_file: %w", field, err)
	}
	if _, err := os.Stat(keyFile); err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.key_file: %w", field, err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.cert_file/key_file: %w", field, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("%s.cert_file: %w", field, err)
		}
	}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, fmt.Errorf("%s.cert_file: the certificate expired at %s", field, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, fmt.Errorf("%s.cert_file: the certificate is not valid before %s", field, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return cert, nil
}

func loadPool(field, file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", field, file)
	}
	return pool, nil
}

// TLSConfig returns the client configuration, or nil for plaintext.
// field is c's YAML path for errors.
func (c Client) TLSConfig(field string) (*tls.Config, error) {
	if c.Plaintext {
		if c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.MinVersion != "" {
			return nil, fmt.Errorf("%s.plaintext: excludes ca_file, cert_file, key_file, server_name and min_version", field)
		}
		return nil, nil
	}
	minV, ok := versions[c.MinVersion]
	if !ok {
		return nil, fmt.Errorf("%s.min_version: %q is not 1.2 or 1.3", field, c.MinVersion)
	}
	cfg := &tls.Config{MinVersion: minV, ServerName: c.ServerName}
	if c.CAFile != "" {
		pool, err := loadPool(field+".ca_file", c.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		cert, err := loadPair(field, c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	case c.CertFile != "":
		return nil, fmt.Errorf("%s.key_file: required with cert_file", field)
	case c.KeyFile != "":
		return nil, fmt.Errorf("%s.cert_file: required with key_file", field)
	}
	return cfg, nil
}

// ErrPlaintext is returned by ServerTLS.Config for a plaintext listener.
var ErrPlaintext = errors.New("tlsconf: plaintext listener has no TLS configuration")

// Loopback reports whether addr ("127.0.0.1:6379", "[::1]:50051",
// "localhost:8088") is on the loopback interface. Configurations use it to
// default a connection or listener on loopback to plaintext.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsZero reports whether no key of s is set.
func (s Server) IsZero() bool { return s == Server{} }

// IsZero reports whether no key of c is set.
func (c Client) IsZero() bool { return c == Client{} }

// DefaultLoopback makes an unset s plaintext when every one of addrs is on
// loopback: the lab and a gateway beside its peers on one host keep working
// without TLS files, and anything that leaves the host needs TLS (or an
// explicit plaintext: true, which CheckListen refuses for listeners).
func (s *Server) DefaultLoopback(addrs ...string) {
	if s.IsZero() && allLoopback(addrs) {
		s.Plaintext = true
	}
}

// DefaultLoopback makes an unset c plaintext when every one of addrs is on
// loopback; an unset c to another host is TLS verified by the system's roots.
func (c *Client) DefaultLoopback(addrs ...string) {
	if c.IsZero() && allLoopback(addrs) {
		c.Plaintext = true
	}
}

func allLoopback(addrs []string) bool {
	if len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !Loopback(a) {
			return false
		}
	}
	return true
}
