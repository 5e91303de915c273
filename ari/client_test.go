package ari

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/metrics"
)

func newTestClient(t *testing.T, f *fakeARI) (*Client, *metrics.ARI, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg).ARI
	c, err := New(testConfig(f.url()), nil, m)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, m, reg
}

// runClient runs c.Run until the test ends.
func runClient(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func nextEvent(t *testing.T, mb *Mailbox) Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := mb.Next(ctx)
	if err != nil {
		t.Fatalf("mailbox %s: %v", mb.Name(), err)
	}
	return d
}

// (c) Unknown event types and invalid JSON are counted and skipped; the
// connection is not re-established and later events are still delivered.
func TestClientSkipsUndecodableWithoutReconnecting(t *testing.T) {
	f := newFakeARI(t)
	c, m, _ := newTestClient(t, f)
	owners := make(chan *Mailbox, 4)
	c.Dispatcher().SetNewOwner(func(ev *ariv5.StasisStart) *Mailbox {
		mb := c.Dispatcher().NewMailbox("call-"+ev.Channel.ID, 0)
		owners <- mb
		return mb
	})
	runClient(t, c)
	fc := f.nextConn(t)

	for _, msg := range []string{
		applicationRegisteredJSON,
		restResponseJSON,
		`{"type":"StasisStart","channel":`, // truncated
		`not json at all`,
		`{"application":"hotline"}`, // no type
		stasisStartJSON("1741915613.117"),
		channelTransferJSON, // unknown type, for the owned channel
		dtmfJSON("1741915613.117", "1", 100),
	} {
		fc.send <- msg
	}
	var mb *Mailbox
	select {
	case mb = <-owners:
	case <-time.After(10 * time.Second):
		t.Fatal("StasisStart not delivered to NewOwner")
	}
	if d := nextEvent(t, mb); d.Event == nil || d.Event.GetType() != "StasisStart" {
		t.Fatalf("first delivery %+v, want StasisStart", d)
	}
	if d := nextEvent(t, mb); d.Event == nil || d.Event.GetType() != "ChannelTransfer" {
		t.Fatalf("second delivery %+v, want the ChannelTransfer UnknownEvent", d)
	} else if _, ok := d.Event.(*UnknownEvent); !ok {
		t.Fatalf("ChannelTransfer delivered as %T", d.Event)
	}
	if d := nextEvent(t, mb); d.Event == nil || d.Event.GetType() != "ChannelDtmfReceived" {
		t.Fatalf("third delivery %+v, want ChannelDtmfReceived", d)
	}

	for reason, want := range map[string]float64{ReasonUnknownType: 3, ReasonBadJSON: 2, ReasonNoType: 1} {
		if got := testutil.ToFloat64(m.Undecodable.WithLabelValues(reason)); got != want {
			t.Errorf("Undecodable{%s} = %v, want %v", reason, got, want)
		}
	}
	for typ, want := range map[string]float64{"unknown": 3, "StasisStart": 1, "ChannelDtmfReceived": 1} {
		if got := testutil.ToFloat64(m.Events.WithLabelValues(typ)); got != want {
			t.Errorf("Events{%s} = %v, want %v", typ, got, want)
		}
	}
	if n := f.conns.Load(); n != 1 {
		t.Errorf("server saw %d websocket connections, want 1", n)
	}
	if got := testutil.ToFloat64(m.Connects.WithLabelValues("first")); got != 1 {
		t.Errorf("Connects{first} = %v, want 1", got)
	}
	if !c.Ready() || testutil.ToFloat64(m.Connected) != 1 {
		t.Errorf("Ready=%v Connected=%v, want true/1", c.Ready(), testutil.ToFloat64(m.Connected))
	}
}

// (d) The client reconnects after the server drops the socket, reports not
// ready meanwhile, and flags an Asterisk restart in OnConnect.
func TestClientReconnectsAndDetectsRestart(t *testing.T) {
	f := newFakeARI(t)
	c, m, _ := newTestClient(t, f)
	connects := make(chan ConnectInfo, 4)
	disconnects := make(chan bool, 4)
	c.SetOnConnect(func(ctx context.Context, ci ConnectInfo) {
		if c.Ready() {
			t.Error("Ready() true during OnConnect")
		}
		connects <- ci
	})
	c.SetOnDisconnect(func() { disconnects <- c.Ready() })
	runClient(t, c)

	fc := f.nextConn(t)
	ci := waitConnect(t, connects)
	if !ci.First || ci.Restarted || ci.EntityID != "52:54:00:12:34:56" || ci.StartupTime.IsZero() {
		t.Fatalf("first ConnectInfo %+v", ci)
	}
	waitFor(t, "ready", c.Ready)

	// Same Asterisk, connection dropped.
	close(fc.kill)
	if readyInHook := <-disconnects; readyInHook {
		t.Error("Ready() true in OnDisconnect")
	}
	fc = f.nextConn(t)
	ci = waitConnect(t, connects)
	if ci.First || ci.Restarted {
		t.Fatalf("reconnect ConnectInfo %+v, want neither first nor restarted", ci)
	}
	waitFor(t, "ready", c.Ready)

	// Asterisk restarted: new entity ID and startup time.
	f.setEntity("52:54:00:ab:cd:ef", "2025-03-14T10:00:00.000+0800")
	close(fc.kill)
	<-disconnects
	f.nextConn(t)
	ci = waitConnect(t, connects)
	if !ci.Restarted || ci.EntityID != "52:54:00:ab:cd:ef" {
		t.Fatalf("restart ConnectInfo %+v, want Restarted with the new entity ID", ci)
	}
	waitFor(t, "ready", c.Ready)
	for kind, want := range map[string]float64{"first": 1, "reconnect": 1, "restart": 1} {
		if got := testutil.ToFloat64(m.Connects.WithLabelValues(kind)); got != want {
			t.Errorf("Connects{%s} = %v, want %v", kind, got, want)
		}
	}
	if n := f.conns.Load(); n != 3 {
		t.Errorf("server saw %d connections, want 3", n)
	}
}

// Connection failures are counted and retried until ARI is reachable.
func TestClientRetriesUnreachable(t *testing.T) {
	f := newFakeARI(t)
	url := f.url()
	f.srv.Close() // nothing listens any more
	cfg := testConfig(url)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg).ARI
	c, err := New(cfg, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	waitFor(t, "3 connect failures", func() bool { return testutil.ToFloat64(m.ConnectFailures) >= 3 })
	if c.Ready() {
		t.Error("Ready() while ARI is down")
	}
}

func waitConnect(t *testing.T, ch <-chan ConnectInfo) ConnectInfo {
	t.Helper()
	select {
	case ci := <-ch:
		return ci
	case <-time.After(10 * time.Second):
		t.Fatal("OnConnect not called")
		return ConnectInfo{}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// (e) REST: classified errors, deadlines, the tuned transport.
func TestREST(t *testing.T) {
	f := newFakeARI(t)
	c, _, reg := newTestClient(t, f)
	ctx := context.Background()

	if err := c.Answer(ctx, "1741915613.117"); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if ua := f.uas(); len(ua) == 0 || ua[len(ua)-1] != userAgent {
		t.Fatalf("request User-Agent %q: the tuned transport was not used", ua)
	}

	err := c.Answer(ctx, "gone")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `answer "gone"`) || !strings.Contains(err.Error(), "Channel not found") {
		t.Fatalf("Answer(gone) = %v, want ErrNotFound naming op, ID and ARI's message", err)
	}
	if _, err := c.Channel(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Channel(gone) = %v, want ErrNotFound", err)
	}
	if err := c.Answer(ctx, "notinstasis"); !errors.Is(err, ErrConflict) {
		t.Fatalf("Answer(notinstasis) = %v, want ErrConflict", err)
	}
	if _, err := c.ListBridges(ctx); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("ListBridges = %v, want a 500 error", err)
	}

	// The transport deadline (RequestTimeout 300ms) ends a hung request.
	start := time.Now()
	err = c.Answer(ctx, "slow")
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 3*time.Second {
		t.Fatalf("Answer(slow) = %v after %v, want ErrUnavailable after ~300ms", err, time.Since(start))
	}
	// A shorter caller deadline returns earlier.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err = c.Answer(cctx, "slow")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Answer(slow, 20ms ctx) = %v, want DeadlineExceeded", err)
	}

	ch, err := c.Channel(ctx, "1741915613.117")
	if err != nil || ch.ID != "1741915613.117" || ch.Caller.Number != "13800138000" {
		t.Fatalf("Channel = %+v, %v", ch, err)
	}
	if v, err := c.GetVar(ctx, "1741915613.117", "CDR(userfield)"); err != nil || v != "v=CDR(userfield)" {
		t.Fatalf("GetVar = %q, %v", v, err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.SystemInfo.EntityID != "52:54:00:12:34:56" || time.Time(info.StatusInfo.StartupTime).IsZero() {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	f.mu.Lock()
	f.appChans = []string{"1741915613.117", "1741915613.118"}
	f.mu.Unlock()
	if ids, err := c.AppChannels(ctx); err != nil || len(ids) != 2 {
		t.Fatalf("AppChannels = %v, %v", ids, err)
	}
	if err := c.Hangup(ctx, "x", "rude"); err == nil {
		t.Fatal("Hangup with an unknown reason accepted")
	}
	if err := c.Answer(ctx, "../bridges"); err == nil {
		t.Fatal("Answer accepted an ID with a slash")
	}

	// Requests histogram: op and result labels.
	for _, want := range []struct{ op, result string }{
		{"answer", "ok"}, {"answer", "not_found"}, {"answer", "error"}, {"answer", "timeout"}, {"channel", "not_found"},
	} {
		if n := histogramCount(t, reg, "hotline_ari_request_duration_seconds", map[string]string{"op": want.op, "result": want.result}); n == 0 {
			t.Errorf("no Requests sample for op=%s result=%s", want.op, want.result)
		}
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return metric.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func TestSetNativeHTTPClientChecksField(t *testing.T) {
	if err := setNativeHTTPClient(nil, newHTTPClient(time.Second, time.Second, nil)); err == nil {
		t.Fatal("nil native client accepted")
	}
}
