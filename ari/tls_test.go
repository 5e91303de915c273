package ari

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// With an https:// URL the REST requests go over TLS and the events over
// wss, both verified with Config.TLS; without the CA the client never
// connects.
func TestTLSToARIForRESTAndEvents(t *testing.T) {
	f := newFakeARIServer(t, true)
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())

	cfg := testConfig(f.url())
	cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	connects := make(chan ConnectInfo, 4)
	c.SetOnConnect(func(_ context.Context, ci ConnectInfo) { connects <- ci })
	runClient(t, c)
	f.nextConn(t) // the wss handshake reached the server
	if ci := waitConnect(t, connects); ci.EntityID != "52:54:00:12:34:56" {
		t.Errorf("connect info over https: %+v", ci)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Info(ctx); err != nil {
		t.Errorf("REST over https: %v", err)
	}

	// The same server without its CA: the system's roots refuse it.
	bare, err := New(testConfig(f.url()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Info(ctx); err == nil {
		t.Error("REST over https without the server's CA succeeded; want a certificate error")
	}
	if _, _, err := bare.dialWebsocket(ctx, mustWSConfig(t, bare)); err == nil {
		t.Error("wss without the server's CA connected; want a certificate error")
	}
}

func mustWSConfig(t *testing.T, c *Client) *websocket.Config {
	t.Helper()
	cfg, err := websocket.NewConfig(c.wsURL, "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
