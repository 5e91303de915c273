package tlsconf

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ServerTLS is a listener's loaded TLS material. Reload re-reads the files
// and swaps them atomically: connections made after it use the new
// certificate and client CA, established ones keep theirs.
type ServerTLS struct {
	cfg   Server
	field string
	minV  uint16
	cur   atomic.Pointer[material]
}

// LoadServer validates s (see Server.Validate) and loads its files. A
// plaintext s gives a ServerTLS whose options and listener are plaintext.
func LoadServer(field string, s Server) (*ServerTLS, error) {
	m, err := s.load(field)
	if err != nil {
		return nil, err
	}
	st := &ServerTLS{cfg: s, field: field, minV: versions[s.MinVersion]}
	st.cur.Store(m)
	return st, nil
}

// Plaintext reports whether the listener serves without TLS.
func (st *ServerTLS) Plaintext() bool { return st.cfg.Plaintext }

// MutualTLS reports whether clients must present a certificate.
func (st *ServerTLS) MutualTLS() bool { m := st.cur.Load(); return m != nil && m.pool != nil }

// Reload re-reads the certificate, key and client CA. On an error the
// material in use stays.
func (st *ServerTLS) Reload() error {
	m, err := st.cfg.load(st.field)
	if err != nil {
		return fmt.Errorf("tls reload: %w", err)
	}
	st.cur.Store(m)
	return nil
}

// Config returns a tls.Config offering protos by ALPN whose certificate
// and client CA are those in force at each handshake; ErrPlaintext for a
// plaintext listener.
func (st *ServerTLS) Config(protos ...string) (*tls.Config, error) {
	if st.cfg.Plaintext {
		return nil, ErrPlaintext
	}
	protos = append([]string(nil), protos...)
	return &tls.Config{
		MinVersion: st.minV,
		NextProtos: protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := st.cur.Load()
			c := &tls.Config{MinVersion: st.minV, NextProtos: protos, Certificates: []tls.Certificate{m.cert}}
			if m.pool != nil {
				c.ClientCAs = m.pool
				c.ClientAuth = tls.RequireAndVerifyClientCert
			}
			return c, nil
		},
	}, nil
}

// GRPCServerOption is the grpc.NewServer option for this listener:
// TLS credentials (ALPN h2), or no option for plaintext.
func (st *ServerTLS) GRPCServerOption() grpc.ServerOption {
	cfg, err := st.Config("h2")
	if err != nil {
		return grpc.EmptyServerOption{}
	}
	return grpc.Creds(credentials.NewTLS(cfg))
}

// Listener wraps ln for an HTTP server (ALPN h2 and http/1.1); a plaintext
// listener is returned as is.
func (st *ServerTLS) Listener(ln net.Listener) net.Listener {
	cfg, err := st.Config("h2", "http/1.1")
	if err != nil {
		return ln
	}
	return tls.NewListener(ln, cfg)
}

// GRPCDialOption is the transport credentials option for a client
// connection described by c: TLS, or insecure only when c.Plaintext.
func GRPCDialOption(field string, c Client) (grpc.DialOption, error) {
	cfg, err := c.TLSConfig(field)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}
