package ari

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
)

// errReadTimeout ends a connection from which nothing was read for
// Config.ReadTimeout.
var errReadTimeout = errors.New("ari websocket: nothing read (no event, no pong) within the read timeout: half-open connection")

// watchedConn is the websocket's TCP (or TLS) connection, recording when
// bytes were last read from it: events and pongs alike, since the
// websocket library answers control frames inside its reads.
type watchedConn struct {
	net.Conn
	last atomic.Int64 // Unix ns of the last read that returned bytes
	// handing is true while the reader hands an event to the dispatch loop
	// instead of reading: a busy loop is not a silent socket.
	handing atomic.Bool
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.touch()
	}
	return n, err
}

func (w *watchedConn) touch() { w.last.Store(time.Now().UnixNano()) }

// silentFor is how long nothing was read while the reader was reading.
func (w *watchedConn) silentFor() time.Duration {
	if w.handing.Load() {
		return 0
	}
	return time.Since(time.Unix(0, w.last.Load()))
}

// dialWebsocket opens the TCP (TLS for wss) connection and does the
// websocket handshake, all within DialTimeout, on a watchedConn.
func (c *Client) dialWebsocket(ctx context.Context, cfg *websocket.Config) (*websocket.Conn, *watchedConn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	host := cfg.Location.Host
	if cfg.Location.Port() == "" {
		port := "80"
		if cfg.Location.Scheme == "wss" {
			port = "443"
		}
		host = net.JoinHostPort(cfg.Location.Hostname(), port)
	}
	d := &net.Dialer{KeepAlive: 15 * time.Second}
	var raw net.Conn
	var err error
	if cfg.Location.Scheme == "wss" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.cfg.TLS != nil {
			tc = c.cfg.TLS.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = cfg.Location.Hostname()
		}
		td := &tls.Dialer{NetDialer: d, Config: tc}
		raw, err = td.DialContext(dctx, "tcp", host)
	} else {
		raw, err = d.DialContext(dctx, "tcp", host)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", host, err)
	}
	wc := &watchedConn{Conn: raw}
	wc.touch()
	if dl, ok := dctx.Deadline(); ok {
		_ = raw.SetDeadline(dl) // the handshake must not hang either
	}
	ws, err := websocket.NewClient(cfg, wc)
	if err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("websocket handshake with %s: %w", host, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return ws, wc, nil
}

// pingCodec sends a websocket ping frame (the library answers pongs to
// the server's pings itself, and Asterisk answers ours).
var pingCodec = websocket.Codec{Marshal: func(v any) ([]byte, byte, error) {
	b, _ := v.([]byte)
	return b, websocket.PingFrame, nil
}}

// keepAlive pings the server every PingInterval of silence and ends the
// connection (not ready, reconnect) when nothing at all was read for
// ReadTimeout: a peer that vanished without closing (a half-open TCP
// connection) is noticed within seconds instead of never.
func (c *Client) keepAlive(ctx context.Context, cancel context.CancelCauseFunc, ws *websocket.Conn, wc *watchedConn) {
	tick := max(c.cfg.PingInterval/4, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastPing time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		silent := wc.silentFor()
		if silent >= c.cfg.ReadTimeout {
			c.m.ReadTimeouts.Inc()
			c.ready.Store(false)
			c.m.Connected.Set(0)
			c.log.Error("ari: nothing read from the event websocket within the read timeout; closing it and reconnecting",
				"silent", silent.Round(time.Millisecond), "read_timeout", c.cfg.ReadTimeout)
			cancel(errReadTimeout)
			_ = wc.Close() // unblocks the reader at once
			return
		}
		if silent >= c.cfg.PingInterval && time.Since(lastPing) >= c.cfg.PingInterval {
			lastPing = time.Now()
			_ = wc.SetWriteDeadline(time.Now().Add(c.cfg.PingInterval))
			if err := pingCodec.Send(ws, []byte("hotline-gw")); err != nil {
				c.log.Warn("ari: websocket ping not sent", "err", err)
			}
		}
	}
}
