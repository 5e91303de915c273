package store_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/test/redistest"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

// tlsFront terminates TLS with a certificate for 127.0.0.1 in front of a
// real redis-server (as stunnel or a TLS-enabled Redis would) and returns
// its address and the CA file that verifies it.
func tlsFront(t *testing.T, backend string) (addr, caFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "redis-ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c); b.Close() }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	return ln.Addr().String(), caFile
}

// redis.tls: with the CA the client talks to Redis over TLS; plaintext to
// a TLS port and TLS without the CA fail.
func TestOpenOverTLS(t *testing.T) {
	rd := redistest.Start(t)
	addr, ca := tlsFront(t, rd.Addr)
	ping := func(tc tlsconf.Client) error {
		c, err := store.Open(store.Config{Addrs: []string{addr}, Timeout: conf.Duration(2 * time.Second), TLS: tc})
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := c.Set(ctx, "tls-probe", "1", time.Minute).Err(); err != nil {
			return err
		}
		return c.Get(ctx, "tls-probe").Err()
	}
	if err := ping(tlsconf.Client{CAFile: ca}); err != nil {
		t.Fatalf("redis over TLS with redis.tls.ca_file: %v", err)
	}
	if err := ping(tlsconf.Client{Plaintext: true}); err == nil {
		t.Error("plaintext to the TLS port worked; want an error")
	}
	if err := ping(tlsconf.Client{}); err == nil {
		t.Error("TLS without the CA (system roots) worked; want a certificate error")
	}
	if _, err := store.Open(store.Config{Addrs: []string{addr}, TLS: tlsconf.Client{CAFile: "/nonexistent/ca.crt"}}); err == nil {
		t.Error("Open with a missing CA file: no error")
	}
}
