package ari

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
	"golang.org/x/net/websocket"

	"github.com/hotline12345/hotline-gw/metrics"
)

const (
	// maxMessageBytes bounds one websocket message (an event); larger ones
	// are skipped and counted as "too_large".
	maxMessageBytes = 8 << 20
	// eventBuffer decouples the socket reader from dispatch, so that the
	// socket keeps being read while OnConnect runs (Asterisk drops a
	// websocket whose writes block).
	eventBuffer = 4096
	// logPayloadBytes bounds the payload excerpt logged for a bad message.
	logPayloadBytes = 256
)

// ConnectInfo describes a successful (re)connection, passed to OnConnect.
type ConnectInfo struct {
	// First is true for the first connection of Run.
	First bool
	// Restarted is true when Asterisk's entity ID or startup time differ from
	// those of the previous connection: every channel and bridge is gone.
	Restarted bool
	// EntityID is Asterisk's entity ID (a MAC-like identifier).
	EntityID string
	// StartupTime is when this Asterisk instance started.
	StartupTime time.Time
	// Info is the full /asterisk/info answer.
	Info *ariv5.AsteriskInfo
	// Progress tells the health check that OnConnect, which runs on the
	// event loop, is making progress (see LastProgress): call it between
	// the bounded steps of a long resynchronisation. Nil outside OnConnect.
	Progress func()
}

// Beat calls Progress, if set.
func (ci ConnectInfo) Beat() {
	if ci.Progress != nil {
		ci.Progress()
	}
}

// Client is the gateway's connection to ARI: REST methods (see rest.go), the
// event websocket (Run) and the Dispatcher that routes events to owners.
type Client struct {
	http   http.Client // shared with the native client (same transport)
	cfg    Config
	log    *slog.Logger
	m      *metrics.ARI
	native *native.Client
	disp   *Dispatcher
	wsURL  string
	lim    *limiter // REST requests in flight (cfg.MaxInflight), latency average

	hookMu       sync.Mutex
	onConnect    func(context.Context, ConnectInfo)
	onDisconnect func()
	onReplaced   func()

	running atomic.Bool
	ready   atomic.Bool
	// busySince is when the dispatch loop started its current step
	// (OnConnect, or handing one event to the Dispatcher), in Unix ns; 0
	// while it waits for events (or while Run is not connected).
	busySince atomic.Int64
}

// New validates cfg (after SetDefaults) and builds a client. It does not
// connect: call Run. A nil logger discards; nil metrics use a private
// registry.
func New(cfg Config, logger *slog.Logger, m *metrics.ARI) (*Client, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ari config: %w", err)
	}
	wsURL, err := cfg.websocketURL()
	if err != nil {
		return nil, fmt.Errorf("ari config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = metrics.NewUnregistered().ARI
	}
	nc := native.New(&native.Options{
		Application:  cfg.Application,
		URL:          cfg.URL,
		WebsocketURL: cfg.WebsocketURL,
		Username:     cfg.Username,
		Password:     cfg.Password,
	})
	hc := newHTTPClient(cfg.RequestTimeout, cfg.DialTimeout, cfg.TLS)
	if err := setNativeHTTPClient(nc, hc); err != nil {
		return nil, fmt.Errorf("ari client: %w", err)
	}
	return &Client{
		http:   hc,
		cfg:    cfg,
		log:    logger,
		m:      m,
		native: nc,
		disp:   NewDispatcher(logger, m, cfg.QueueSize),
		wsURL:  wsURL,
		lim:    newLimiter(cfg.MaxInflight, m.InFlight),
	}, nil
}

// Dispatcher returns the dispatcher fed by Run.
func (c *Client) Dispatcher() *Dispatcher { return c.disp }

// Config returns the effective configuration (defaults applied).
func (c *Client) Config() Config { return c.cfg }

// SetOnConnect installs the hook run after every successful (re)connection,
// synchronously on Run's goroutine, before any event of the new connection is
// dispatched; the gateway resynchronises its calls there. Its context is
// cancelled if the connection is lost meanwhile. Set it before Run.
func (c *Client) SetOnConnect(fn func(ctx context.Context, info ConnectInfo)) {
	c.hookMu.Lock()
	c.onConnect = fn
	c.hookMu.Unlock()
}

// SetOnDisconnect installs the hook run when an established connection is
// lost (after the events already read have been dispatched). Set it before Run.
func (c *Client) SetOnDisconnect(fn func()) {
	c.hookMu.Lock()
	c.onDisconnect = fn
	c.hookMu.Unlock()
}

// SetOnReplaced installs the hook run when another websocket takes over the
// Stasis application (ApplicationReplaced): this client receives no more
// events for it, and its owner should hand its calls over. Set it before Run.
func (c *Client) SetOnReplaced(fn func()) {
	c.hookMu.Lock()
	c.onReplaced = fn
	c.hookMu.Unlock()
}

// Ready reports whether the event websocket is connected, the application is
// registered in Asterisk and OnConnect has returned.
func (c *Client) Ready() bool { return c.ready.Load() }

// LastProgress is when the event loop was last seen making progress: now
// while it waits for events (or for a connection), else the start of the
// step it is in (OnConnect, or handing one event to its owner). A health
// check that finds it older than a few seconds has found a loop that no
// longer dispatches events: the process should be restarted.
func (c *Client) LastProgress() time.Time {
	if b := c.busySince.Load(); b != 0 {
		return time.Unix(0, b)
	}
	return time.Now()
}

// Stalled reports whether the event loop has been stuck in one step for
// longer than d (see LastProgress).
func (c *Client) Stalled(d time.Duration) bool { return time.Since(c.LastProgress()) > d }

// step marks the start of a dispatch-loop step; the returned func marks its end.
func (c *Client) step() func() {
	c.busySince.Store(time.Now().UnixNano())
	return func() { c.busySince.Store(0) }
}

// Run connects the event websocket and keeps it connected until ctx is done:
// it dispatches events to the Dispatcher and reconnects with exponential
// backoff (ReconnectMin doubling up to ReconnectMax, full jitter). A
// connection is usable once the websocket is up, /asterisk/info answered and
// /applications/{app} shows the application. Run returns nil when ctx is
// done, or an error if it is already running.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("ari run: already running")
	}
	defer c.running.Store(false)

	var prev *ConnectInfo
	failures := 0
	for {
		ws, wc, info, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			c.m.ConnectFailures.Inc()
			delay := c.backoff(failures)
			c.log.Warn("ari: connection failed", "error", err, "attempt", failures, "retry_in", delay)
			if !sleepCtx(ctx, delay) {
				return nil
			}
			continue
		}
		failures = 0
		ci := c.connectInfo(prev, info)
		prev = &ci
		lostErr := c.serve(ctx, ws, wc, ci)
		if ctx.Err() != nil {
			return nil
		}
		delay := c.backoff(1)
		c.log.Warn("ari: connection lost", "error", lostErr, "retry_in", delay)
		if !sleepCtx(ctx, delay) {
			return nil
		}
	}
}

// backoff returns the delay before attempt n (n >= 1): full jitter over
// [0, min(ReconnectMax, ReconnectMin·2^(n-1))].
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.cfg.ReconnectMin
	for i := 1; i < n && ceiling < c.cfg.ReconnectMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.cfg.ReconnectMax)
	return rand.N(ceiling + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// connect dials the websocket, then checks that ARI answers and that the
// application is registered.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, *watchedConn, *ariv5.AsteriskInfo, error) {
	wsCfg, err := websocket.NewConfig(c.wsURL, "http://localhost/")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ari websocket config %q: %w", c.wsURL, err)
	}
	wsCfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.cfg.Username+":"+c.cfg.Password)))
	ws, wc, err := c.dialWebsocket(ctx, wsCfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ari websocket dial %s: %w", redact(c.wsURL), err)
	}
	ws.MaxPayloadBytes = maxMessageBytes
	info, err := c.Info(ctx)
	if err != nil {
		_ = ws.Close()
		return nil, nil, nil, err
	}
	app, err := c.application(ctx)
	if err != nil {
		_ = ws.Close()
		if errors.Is(err, ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("ari application %q not registered after websocket connect: %w", c.cfg.Application, err)
		}
		return nil, nil, nil, err
	}
	if app.Name != "" && app.Name != c.cfg.Application {
		_ = ws.Close()
		return nil, nil, nil, fmt.Errorf("ari application: asked for %q, ARI answered %q", c.cfg.Application, app.Name)
	}
	if len(c.cfg.DisallowEvents) > 0 {
		// Fewer events: less JSON for Asterisk to write and for us to read.
		if err := c.setEventFilter(ctx, c.cfg.DisallowEvents); err != nil {
			c.log.Warn("ari: event filter not set; all events will be decoded", "err", err)
		}
	}
	return ws, wc, info, nil
}

func (c *Client) connectInfo(prev *ConnectInfo, info *ariv5.AsteriskInfo) ConnectInfo {
	ci := ConnectInfo{
		First:       prev == nil,
		EntityID:    info.SystemInfo.EntityID,
		StartupTime: time.Time(info.StatusInfo.StartupTime),
		Info:        info,
	}
	kind := "first"
	if prev != nil {
		kind = "reconnect"
		if prev.EntityID != ci.EntityID || !prev.StartupTime.Equal(ci.StartupTime) {
			ci.Restarted = true
			kind = "restart"
		}
	}
	c.m.Connects.WithLabelValues(kind).Inc()
	return ci
}

// serve runs one connection: reader goroutine, OnConnect, dispatch loop. It
// returns the reason the connection ended.
func (c *Client) serve(ctx context.Context, ws *websocket.Conn, wc *watchedConn, ci ConnectInfo) error {
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	events := make(chan ariv5.Event, eventBuffer)
	var readErr error
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(events)
		defer cancel(nil)
		readErr = c.read(connCtx, ws, wc, events)
	}()
	go func() {
		<-connCtx.Done()
		_ = ws.Close() // unblocks the reader
	}()
	go c.keepAlive(connCtx, cancel, ws, wc)

	c.hookMu.Lock()
	onConnect, onDisconnect := c.onConnect, c.onDisconnect
	c.hookMu.Unlock()

	c.log.Info("ari: connected", "entity_id", ci.EntityID, "first", ci.First, "restarted", ci.Restarted,
		"startup_time", ci.StartupTime, "application", c.cfg.Application)
	if onConnect != nil {
		done := c.step()
		ci.Progress = func() { c.busySince.Store(time.Now().UnixNano()) }
		onConnect(connCtx, ci)
		done()
	}
	if connCtx.Err() == nil {
		c.ready.Store(true)
		c.m.Connected.Set(1)
	}

	for ev := range events {
		if _, ok := ev.(*ariv5.ApplicationReplaced); ok {
			c.log.Error("ari: another websocket took over the Stasis application; no more events will arrive on this connection",
				"application", c.cfg.Application)
			c.ready.Store(false)
			c.m.Connected.Set(0)
			c.hookMu.Lock()
			onReplaced := c.onReplaced
			c.hookMu.Unlock()
			if onReplaced != nil {
				done := c.step()
				onReplaced()
				done()
			}
			continue
		}
		done := c.step()
		c.disp.Dispatch(ev)
		done()
	}
	<-readerDone
	c.ready.Store(false)
	c.m.Connected.Set(0)
	if onDisconnect != nil {
		onDisconnect()
	}
	if readErr == nil {
		readErr = context.Cause(connCtx)
	}
	return readErr
}

// read receives and decodes messages until the connection fails or ctx is
// done. One bad message never ends the connection.
func (c *Client) read(ctx context.Context, ws *websocket.Conn, wc *watchedConn, out chan<- ariv5.Event) error {
	for {
		var data []byte
		err := websocket.Message.Receive(ws, &data)
		if errors.Is(err, websocket.ErrFrameTooLarge) {
			c.m.Undecodable.WithLabelValues(ReasonTooLarge).Inc()
			c.log.Warn("ari: oversized websocket message skipped", "limit_bytes", maxMessageBytes)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("ari websocket read: %w", err)
		}
		ev := c.decode(data)
		if ev == nil {
			continue
		}
		wc.handing.Store(true)
		select {
		case out <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
		wc.touch() // silence is counted from now: the reader was not reading
		wc.handing.Store(false)
	}
}

// decode decodes one message, updates the metrics and logs; it returns nil
// for a message to skip.
func (c *Client) decode(data []byte) ariv5.Event {
	ev, err := Decode(data)
	if err != nil {
		reason := ReasonBadJSON
		var de *DecodeError
		if errors.As(err, &de) {
			reason = de.Reason
		}
		c.m.Undecodable.WithLabelValues(reason).Inc()
		level := slog.LevelWarn
		if reason == ReasonPanic {
			level = slog.LevelError
		}
		c.log.Log(context.Background(), level, "ari: undecodable websocket message skipped",
			"reason", reason, "error", err, "payload", truncate(string(data), logPayloadBytes))
		return nil
	}
	if u, ok := ev.(*UnknownEvent); ok {
		c.m.Undecodable.WithLabelValues(ReasonUnknownType).Inc()
		c.m.Events.WithLabelValues("unknown").Inc()
		c.log.Debug("ari: event type unknown to the ARI library", "type", u.Type)
		return ev
	}
	c.m.Events.WithLabelValues(ev.GetType()).Inc()
	return ev
}

// redact hides a password in a URL for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
