package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// fakePBX records every request as "op arg..." and answers from optional
// hooks; without a hook a request succeeds (Channel and GetVar: not found).
type fakePBX struct {
	mu      sync.Mutex
	actions []string
	// ops counts every request by its operation ("originate", "moh", ...);
	// keepOnly, when set, keeps only the actions of that operation in
	// actions (the memory benchmark: the log of 5,000 calls and its copies
	// would be most of the process's garbage).
	ops      map[string]int
	keepOnly string

	answer      func(ctx context.Context, id string) error
	originate   func(ctx context.Context, p ari.OriginateParams) error
	hangup      func(ctx context.Context, id, reason string) error
	play        func(ctx context.Context, id, playbackID, uri string) error
	startMOH    func(ctx context.Context, id, class string) error
	channel     func(ctx context.Context, id string) (*ariv5.ChannelData, error)
	appChannels func(ctx context.Context) ([]string, error)
	getVar      func(ctx context.Context, id, name string) (string, error)
	addChannel  func(ctx context.Context, bridgeID, channelID string) error
	bridgeChans func(ctx context.Context, bridgeID string) ([]string, error)
	listBridges func(ctx context.Context) ([]string, error)

	load ari.Load // what Load reports (admission control)
}

var _ PBX = (*fakePBX)(nil)

func notFound(what, id string) error { return fmt.Errorf("ari %s %q: %w", what, id, ari.ErrNotFound) }

// set changes hooks while owners may be calling them.
func (f *fakePBX) set(fn func(f *fakePBX)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// record appends an action and returns a copy of the hooks, read under the
// lock so that set may run concurrently.
func (f *fakePBX) record(format string, a ...any) fakePBX {
	f.mu.Lock()
	defer f.mu.Unlock()
	op, _, _ := strings.Cut(format, " ")
	if f.ops == nil {
		f.ops = map[string]int{}
	}
	f.ops[op]++
	if f.keepOnly == "" || f.keepOnly == op {
		f.actions = append(f.actions, fmt.Sprintf(format, a...))
	}
	return fakePBX{answer: f.answer, originate: f.originate, hangup: f.hangup, play: f.play, startMOH: f.startMOH,
		channel: f.channel, appChannels: f.appChannels, getVar: f.getVar, addChannel: f.addChannel,
		bridgeChans: f.bridgeChans, listBridges: f.listBridges}
}

// Actions returns the requests so far.
func (f *fakePBX) Actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.actions)
}

// count returns how many requests of operation op were made.
func (f *fakePBX) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op]
}

// has reports whether action was requested.
func (f *fakePBX) has(action string) bool { return slices.Contains(f.Actions(), action) }

// about returns the requests that name channel or bridge id.
func (f *fakePBX) about(id string) []string {
	var out []string
	for _, a := range f.Actions() {
		if slices.Contains(strings.Fields(a)[1:], id) {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakePBX) Answer(ctx context.Context, id string) error {
	if h := f.record("answer %s", id); h.answer != nil {
		return h.answer(ctx, id)
	}
	return nil
}

func (f *fakePBX) Hangup(ctx context.Context, id, reason string) error {
	if h := f.record("hangup %s %s", id, reason); h.hangup != nil {
		return h.hangup(ctx, id, reason)
	}
	return nil
}

func (f *fakePBX) Originate(ctx context.Context, p ari.OriginateParams) error {
	if h := f.record("originate %s %s", p.ChannelID, p.Endpoint); h.originate != nil {
		return h.originate(ctx, p)
	}
	return nil
}

func (f *fakePBX) CreateBridge(ctx context.Context, bridgeID, bridgeType string) error {
	f.record("create_bridge %s %s", bridgeID, bridgeType)
	return nil
}

func (f *fakePBX) AddChannel(ctx context.Context, bridgeID, channelID string) error {
	if h := f.record("add_channel %s %s", bridgeID, channelID); h.addChannel != nil {
		return h.addChannel(ctx, bridgeID, channelID)
	}
	return nil
}

// AddChannels is one request ("add_channels br a b"); the addChannel hook,
// if set, answers for each channel and the first error is the request's.
func (f *fakePBX) AddChannels(ctx context.Context, bridgeID string, channelIDs ...string) error {
	h := f.record("add_channels %s %s", bridgeID, strings.Join(channelIDs, " "))
	if h.addChannel != nil {
		for _, ch := range channelIDs {
			if err := h.addChannel(ctx, bridgeID, ch); err != nil {
				return err
			}
		}
	}
	return nil
}

// Load reports f.load (not recorded: it is no request).
func (f *fakePBX) Load() ari.Load {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load
}

func (f *fakePBX) SetGlobal(ctx context.Context, name, value string) error {
	f.record("set_global %s %s", name, value)
	return nil
}

func (f *fakePBX) RemoveChannel(ctx context.Context, bridgeID, channelID string) error {
	f.record("remove_channel %s %s", bridgeID, channelID)
	return nil
}

func (f *fakePBX) DestroyBridge(ctx context.Context, bridgeID string) error {
	f.record("destroy_bridge %s", bridgeID)
	return nil
}

func (f *fakePBX) StartMOH(ctx context.Context, id, class string) error {
	if h := f.record("moh %s %s", id, class); h.startMOH != nil {
		return h.startMOH(ctx, id, class)
	}
	return nil
}

func (f *fakePBX) StopMOH(ctx context.Context, id string) error {
	f.record("stop_moh %s", id)
	return nil
}

func (f *fakePBX) Play(ctx context.Context, id, playbackID, uri string) error {
	if h := f.record("play %s %s %s", id, playbackID, uri); h.play != nil {
		return h.play(ctx, id, playbackID, uri)
	}
	return nil
}

func (f *fakePBX) StopPlayback(ctx context.Context, playbackID string) error {
	f.record("stop_playback %s", playbackID)
	return nil
}

func (f *fakePBX) RecordBridge(ctx context.Context, bridgeID, name, format string) error {
	f.record("record %s %s %s", bridgeID, name, format)
	return nil
}

func (f *fakePBX) Channel(ctx context.Context, id string) (*ariv5.ChannelData, error) {
	if h := f.record("channel %s", id); h.channel != nil {
		return h.channel(ctx, id)
	}
	return nil, notFound("channel", id)
}

func (f *fakePBX) AppChannels(ctx context.Context) ([]string, error) {
	if h := f.record("app_channels"); h.appChannels != nil {
		return h.appChannels(ctx)
	}
	return nil, nil
}

func (f *fakePBX) GetVar(ctx context.Context, id, name string) (string, error) {
	if h := f.record("get_var %s %s", id, name); h.getVar != nil {
		return h.getVar(ctx, id, name)
	}
	return "", notFound("channel variable", id)
}

func (f *fakePBX) ListChannels(ctx context.Context) ([]string, error) {
	f.record("list_channels")
	return nil, nil
}

func (f *fakePBX) ListBridges(ctx context.Context) ([]string, error) {
	if h := f.record("list_bridges"); h.listBridges != nil {
		return h.listBridges(ctx)
	}
	return nil, nil
}

func (f *fakePBX) BridgeChannels(ctx context.Context, bridgeID string) ([]string, error) {
	if h := f.record("bridge_channels %s", bridgeID); h.bridgeChans != nil {
		return h.bridgeChans(ctx, bridgeID)
	}
	// Without a hook: what was added to the bridge and not removed since.
	var in []string
	for _, a := range f.Actions() {
		w := strings.Fields(a)
		if len(w) < 3 || w[1] != bridgeID {
			continue
		}
		switch w[0] {
		case "add_channel", "add_channels":
			for _, ch := range w[2:] {
				if !slices.Contains(in, ch) {
					in = append(in, ch)
				}
			}
		case "remove_channel":
			in = slices.DeleteFunc(in, func(id string) bool { return id == w[2] })
		}
	}
	if in == nil {
		return nil, notFound("bridge", bridgeID)
	}
	return in, nil
}

func (f *fakePBX) SetVar(ctx context.Context, id, name, value string) error {
	f.record("set_var %s %s %s", id, name, value)
	return nil
}

func (f *fakePBX) Continue(ctx context.Context, id, dialplanContext, exten string, priority int) error {
	f.record("continue %s", id)
	return nil
}

func (f *fakePBX) Snoop(ctx context.Context, id string, p ari.SnoopParams) error {
	f.record("snoop %s %s spy=%s whisper=%s", id, p.SnoopID, p.Spy, p.Whisper)
	return nil
}

// fakeOutbox collects tickets; fail, when set, refuses Enqueue.
type fakeOutbox struct {
	mu      sync.Mutex
	tickets []*hotlinev1.Ticket
	fail    func(t *hotlinev1.Ticket) error
}

func (o *fakeOutbox) Enqueue(ctx context.Context, t *hotlinev1.Ticket) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		if err := o.fail(t); err != nil {
			return err
		}
	}
	o.tickets = append(o.tickets, t)
	return nil
}

func (o *fakeOutbox) all() []*hotlinev1.Ticket {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.tickets)
}

// syncBuffer is a log sink shared by the owners; printed when a test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLines: the main line, a merged line, a merged line with a greeting.
var testLines = []line.Config{
	{Number: "12345", Name: "12345 hotline", Skill: "general"},
	{Number: "12333", Name: "renshe", Skill: "renshe", MergedInto: "12345"},
	{Number: "12315", Name: "shichang", Skill: "shichang", MergedInto: "12345", Greeting: "sound:welcome-12315"},
}

const testCaller = "13800138000"

// rig is a Service over a fake PBX, a real dispatcher and a real Counter on
// a real redis-server.
type rig struct {
	t       testing.TB
	pbx     *fakePBX
	disp    *ari.Dispatcher
	svc     *Service
	counter *count.Counter
	out     *fakeOutbox
	m       *metrics.Metrics
	loc     *time.Location
}

type rigOptions struct {
	queueSize int              // dispatcher's mailbox size; 0 = ari default
	tweak     func(o *Options) // adjusts the Service's options
	pbx       func(f *fakePBX) // installs hooks before the first call
	outbox    func(o *fakeOutbox)
	quiet     bool // log at Info into nothing (benchmarks: no log kept in memory)
}

func newRig(t testing.TB, ro rigOptions) *rig {
	t.Helper()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if ro.quiet {
		log = slog.New(slog.DiscardHandler)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })

	m := metrics.New(prometheus.NewRegistry())
	counter := count.New(count.Options{
		Redis: rdb, Keys: store.NewKeys("gwtest"), Location: loc, Logger: log,
		Metrics: m.Calls, PendingLimit: 10000, Timeout: 5 * time.Second,
	})
	cctx, cancel := context.WithCancel(context.Background())
	counterDone := make(chan struct{})
	go func() { counter.Run(cctx); close(counterDone) }()
	t.Cleanup(func() { cancel(); <-counterDone })

	r := &rig{t: t, pbx: &fakePBX{}, out: &fakeOutbox{}, m: m, counter: counter, loc: loc}
	if ro.pbx != nil {
		ro.pbx(r.pbx)
	}
	if ro.outbox != nil {
		ro.outbox(r.out)
	}
	r.disp = ari.NewDispatcher(log, m.ARI, ro.queueSize)
	o := Options{
		PBX: r.pbx, Dispatcher: r.disp, Plan: line.New(testLines, line.Numbering{StripPrefixes: []string{"+86", "0739"}}),
		Counter: counter, Metrics: m, Logger: log, Location: loc, AnswerTarget: 15 * time.Second,
		OpTimeout: 10 * time.Second, MOHClass: "hold", Outbox: r.out, Instance: "gw-test",
	}
	if ro.tweak != nil {
		ro.tweak(&o)
	}
	r.svc = New(o)
	r.svc.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.svc.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// waitFor polls cond until it holds, failing the test after a bounded wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recv receives from ch within a bounded wait.
func recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func eventData(typ string) ariv5.EventData {
	return ariv5.EventData{Type: typ, Application: "hotline-gw", Timestamp: ariv5.DateTime(time.Now())}
}

// start sends the StasisStart of a citizen's call with the dialplan's args
// (entry, DNIS[, ref]).
func (r *rig) start(id string, args ...string) {
	r.disp.Dispatch(&ariv5.StasisStart{
		EventData: eventData("StasisStart"),
		Args:      args,
		Channel: ariv5.ChannelData{ID: id, Name: "PJSIP/trunk-" + id, State: "Ring",
			Caller:   &ariv5.CallerID{Number: testCaller},
			Dialplan: &ariv5.DialplanCEP{Context: "from-trunk", Exten: "dialplan-exten", Priority: 2}},
	})
}

// hangup sends what Asterisk sends when a channel hangs up.
func (r *rig) hangup(id string) {
	ch := ariv5.ChannelData{ID: id}
	r.disp.Dispatch(&ariv5.StasisEnd{EventData: eventData("StasisEnd"), Channel: ch})
	r.disp.Dispatch(&ariv5.ChannelDestroyed{EventData: eventData("ChannelDestroyed"), Cause: 16, CauseTxt: "Normal Clearing", Channel: ch})
}

func (r *rig) playbackFinished(channelID, playbackID string) {
	r.disp.Dispatch(&ariv5.PlaybackFinished{EventData: eventData("PlaybackFinished"),
		Playback: ariv5.PlaybackData{ID: playbackID, State: "done", TargetURI: "channel:" + channelID}})
}

func (r *rig) live(id string) bool {
	_, ok := r.svc.call(id)
	return ok
}

func (r *rig) waitAction(action string) {
	r.t.Helper()
	waitFor(r.t, "PBX request "+action, func() bool { return r.pbx.has(action) })
}

func (r *rig) waitEnded(id string) {
	r.t.Helper()
	waitFor(r.t, "call "+id+" to end", func() bool { return !r.live(id) })
}

// inspect runs fn on the call's owner and waits for it.
func (r *rig) inspect(id string, fn func(c *Call)) {
	r.t.Helper()
	c, ok := r.svc.call(id)
	if !ok {
		r.t.Fatalf("call %s is not live", id)
	}
	done := make(chan struct{})
	if !c.send(func(c *Call) { fn(c); close(done) }) {
		r.t.Fatalf("call %s ended", id)
	}
	recv(r.t, "the owner of "+id, done)
}

func (r *rig) phase(id string) phase {
	var p phase
	r.inspect(id, func(c *Call) { p = c.phase })
	return p
}

// counts applies every count queued so far and returns the totals of the
// days around now.
func (r *rig) counts() count.Totals {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.counter.Flush(ctx); err != nil {
		r.t.Fatal(err)
	}
	now := time.Now().In(r.loc)
	rg, err := count.ParseRange(now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly), r.loc, now)
	if err != nil {
		r.t.Fatal(err)
	}
	tot, err := r.counter.Query(ctx, rg)
	if err != nil {
		r.t.Fatal(err)
	}
	return tot
}

// tickets waits until every finished call's ticket is in the outbox.
func (r *rig) tickets() []*hotlinev1.Ticket {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.svc.FlushTickets(ctx); err != nil {
		r.t.Fatal(err)
	}
	return r.out.all()
}

func (r *rig) ticket(id string) *hotlinev1.Ticket {
	r.t.Helper()
	var found *hotlinev1.Ticket
	for _, tk := range r.tickets() {
		if tk.GetCallId() == id {
			if found != nil {
				r.t.Fatalf("two tickets for call %s", id)
			}
			found = tk
		}
	}
	if found == nil {
		r.t.Fatalf("no ticket for call %s", id)
	}
	return found
}

func (r *rig) activeGauge(line string) float64 {
	var pb dto.Metric
	if err := r.m.Calls.Active.WithLabelValues(line).Write(&pb); err != nil {
		r.t.Fatal(err)
	}
	return pb.GetGauge().GetValue()
}

// waitObservations is how often the gateway observed a wait (answer or
// abandon) on line: once per call, whatever Redis deduplicates.
func (r *rig) waitObservations(line string) uint64 {
	var pb dto.Metric
	if err := r.m.Calls.Wait.WithLabelValues(line).(prometheus.Metric).Write(&pb); err != nil {
		r.t.Fatal(err)
	}
	return pb.GetHistogram().GetSampleCount()
}
