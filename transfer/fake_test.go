package transfer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/metrics"
)

// fakePBX records every action and models the live channels, bridge
// members and music on hold, so tests can assert what is left over.
type fakePBX struct {
	mu         sync.Mutex
	actions    []string
	originates []ari.OriginateParams
	live       map[string]bool            // channel → exists
	bridges    map[string]map[string]bool // bridge → members
	moh        map[string]bool
	plays      []string         // channel:media
	fail       map[string]error // op → error to return (once set, always)
}

func newFakePBX(bridge string, chans ...string) *fakePBX {
	f := &fakePBX{
		live:    map[string]bool{},
		bridges: map[string]map[string]bool{bridge: {}},
		moh:     map[string]bool{},
		fail:    map[string]error{},
	}
	for _, c := range chans {
		f.live[c] = true
		f.bridges[bridge][c] = true
	}
	return f
}

func (f *fakePBX) record(op string, args ...string) error {
	f.actions = append(f.actions, op+"("+strings.Join(args, ",")+")")
	return f.fail[op]
}

func (f *fakePBX) Originate(ctx context.Context, p ari.OriginateParams) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.originates = append(f.originates, p)
	if err := f.record("originate", p.ChannelID, p.Endpoint); err != nil {
		return err
	}
	if f.live[p.ChannelID] {
		return fmt.Errorf("originate %s: %w", p.ChannelID, ari.ErrConflict)
	}
	f.live[p.ChannelID] = true
	return nil
}

func (f *fakePBX) Hangup(ctx context.Context, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("hangup", id); err != nil {
		return err
	}
	if !f.live[id] {
		return fmt.Errorf("hangup %s: %w", id, ari.ErrNotFound)
	}
	f.gone(id)
	return nil
}

// gone removes a channel (hangup from either side).
func (f *fakePBX) gone(id string) {
	delete(f.live, id)
	delete(f.moh, id)
	for _, b := range f.bridges {
		delete(b, id)
	}
}

func (f *fakePBX) farHangup(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gone(id)
}

func (f *fakePBX) AddChannel(ctx context.Context, bridge, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("add", bridge, id); err != nil {
		return err
	}
	b, ok := f.bridges[bridge]
	if !ok || !f.live[id] {
		return fmt.Errorf("add %s/%s: %w", bridge, id, ari.ErrNotFound)
	}
	b[id] = true
	return nil
}

func (f *fakePBX) RemoveChannel(ctx context.Context, bridge, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("remove", bridge, id); err != nil {
		return err
	}
	b, ok := f.bridges[bridge]
	if !ok || !b[id] {
		return fmt.Errorf("remove %s/%s: %w", bridge, id, ari.ErrNotFound)
	}
	delete(b, id)
	return nil
}

func (f *fakePBX) StartMOH(ctx context.Context, id, class string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("start_moh", id); err != nil {
		return err
	}
	if !f.live[id] {
		return fmt.Errorf("moh %s: %w", id, ari.ErrNotFound)
	}
	f.moh[id] = true
	return nil
}

func (f *fakePBX) StopMOH(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("stop_moh", id); err != nil {
		return err
	}
	if !f.live[id] {
		return fmt.Errorf("moh %s: %w", id, ari.ErrNotFound)
	}
	delete(f.moh, id)
	return nil
}

func (f *fakePBX) Play(ctx context.Context, id, playbackID, media string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("play", id, media); err != nil {
		return err
	}
	if !f.live[id] {
		return fmt.Errorf("play %s: %w", id, ari.ErrNotFound)
	}
	f.plays = append(f.plays, id+":"+media)
	return nil
}

func (f *fakePBX) members(bridge string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m []string
	for id := range f.bridges[bridge] {
		m = append(m, id)
	}
	sort.Strings(m)
	return m
}

func (f *fakePBX) liveChannels() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var l []string
	for id := range f.live {
		l = append(l, id)
	}
	sort.Strings(l)
	return l
}

func (f *fakePBX) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.actions {
		if strings.HasPrefix(a, op+"(") {
			n++
		}
	}
	return n
}

func (f *fakePBX) did(action string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.actions, action)
}

// Test fixture: caller C, agent A in bridge B.
const (
	chC    = "C-1"
	chA    = "A-1"
	bridge = "B-1"
	target = "PJSIP/police110"
)

type fixture struct {
	t        *testing.T
	pbx      *fakePBX
	m        *Machine
	mg       *Manager
	met      *metrics.Transfers
	now      time.Time
	attached []string
	ids      int
}

func newFixture(t *testing.T, mod ...func(*Config, *Call)) *fixture {
	t.Helper()
	fx := &fixture{t: t, pbx: newFakePBX(bridge, chC, chA), now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	fx.met = metrics.NewUnregistered().Transfers
	cfg := DefaultConfig()
	call := Call{ID: "call-1", CallerChannel: chC, AgentChannel: chA, AgentExt: "1001", Bridge: bridge,
		CallerNumber: "13800138000", AttachPeer: func(id string) { fx.attached = append(fx.attached, id) }}
	for _, f := range mod {
		f(&cfg, &call)
	}
	mg, err := New(cfg, Deps{PBX: fx.pbx, Metrics: fx.met, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return fx.now },
		NewID: func() string { fx.ids++; return fmt.Sprintf("t%d", fx.ids) }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m, err := mg.NewMachine(call)
	if err != nil {
		t.Fatalf("NewMachine: %v", err)
	}
	fx.mg, fx.m = mg, m
	return fx
}

func (fx *fixture) handle(in Input) Result {
	fx.t.Helper()
	r, err := fx.m.Handle(context.Background(), in)
	if err != nil {
		fx.t.Fatalf("Handle(%T%+v): %v", in, in, err)
	}
	return r
}

func (fx *fixture) handleErr(in Input) (Result, error) {
	return fx.m.Handle(context.Background(), in)
}

func (fx *fixture) advance(d time.Duration) { fx.now = fx.now.Add(d) }

// peer returns the 110 leg's channel ID.
func (fx *fixture) peer() string { p, _ := fx.m.Peer(); return p }

func (fx *fixture) wantState(s State) {
	fx.t.Helper()
	if got := fx.m.State(); got != s {
		fx.t.Fatalf("state = %s, want %s; actions %v", got, s, fx.pbx.actions)
	}
}

func (fx *fixture) wantMembers(want ...string) {
	fx.t.Helper()
	sort.Strings(want)
	if got := fx.pbx.members(bridge); !slices.Equal(got, want) {
		fx.t.Fatalf("bridge members = %v, want %v; actions %v", got, want, fx.pbx.actions)
	}
}

func (fx *fixture) wantCallerSafe() {
	fx.t.Helper()
	if fx.pbx.did("hangup(" + chC + ")") {
		fx.t.Fatalf("the caller was hung up: %v", fx.pbx.actions)
	}
	if !slices.Contains(fx.pbx.liveChannels(), chC) || !slices.Contains(fx.pbx.members(bridge), chC) {
		fx.t.Fatalf("the caller is not live in the bridge: members %v", fx.pbx.members(bridge))
	}
}

func (fx *fixture) counted(mode Mode, outcome string) float64 {
	return testutil.ToFloat64(fx.met.Transfers.WithLabelValues(DirectionTo110, string(mode), outcome))
}

func (fx *fixture) wantEndpointsAreTarget() {
	fx.t.Helper()
	for _, o := range fx.pbx.originates {
		if o.Endpoint != fx.mg.cfg.Target {
			fx.t.Fatalf("originate endpoint %q, want configured %q", o.Endpoint, fx.mg.cfg.Target)
		}
	}
}
