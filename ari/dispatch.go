package ari

import (
	"context"
	"log/slog"
	"sync"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/metrics"
)

// Route kinds accepted by Dispatcher.Attach.
const (
	KindChannel   = "channel"
	KindBridge    = "bridge"
	KindPlayback  = "playback"
	KindRecording = "recording" // live recording, by name
)

type kind uint8

const (
	kChannel kind = iota
	kBridge
	kPlayback
	kRecording
	numKinds
)

func parseKind(s string) (kind, bool) {
	switch s {
	case KindChannel:
		return kChannel, true
	case KindBridge:
		return kBridge, true
	case KindPlayback:
		return kPlayback, true
	case KindRecording, ariv5.LiveRecordingKey:
		return kRecording, true
	}
	return 0, false
}

func (k kind) String() string {
	return [...]string{KindChannel, KindBridge, KindPlayback, KindRecording}[k]
}

type routeKey struct {
	kind kind
	id   string
}

// Dispatcher routes events to the mailboxes of their owners. An owner (one
// per call) attaches the IDs of the channels, bridges, playbacks and
// recordings it controls; every event whose keys include one of those IDs is
// pushed to its mailbox, once per distinct mailbox, in the order Dispatch is
// called. Dispatch never blocks: see Mailbox for the overflow policy.
//
// All methods are safe for concurrent use. Per-channel order is the order of
// Dispatch calls, so events must be dispatched from one goroutine (the
// Client's reader) to keep a call's events in order.
type Dispatcher struct {
	log       *slog.Logger
	m         *metrics.ARI
	queueSize int

	mu       sync.RWMutex
	routes   [numKinds]map[string]*Mailbox
	newOwner func(*ariv5.StasisStart) *Mailbox
}

// NewDispatcher returns a dispatcher whose mailboxes default to queueSize
// slots (DefaultQueueSize if queueSize <= 0). A nil logger discards; nil
// metrics use a private registry.
func NewDispatcher(logger *slog.Logger, m *metrics.ARI, queueSize int) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = metrics.NewUnregistered().ARI
	}
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}
	d := &Dispatcher{log: logger, m: m, queueSize: queueSize}
	for i := range d.routes {
		d.routes[i] = make(map[string]*Mailbox)
	}
	return d
}

// SetNewOwner installs the hook called for a StasisStart none of whose
// channels is routed: it creates the call's owner and returns its mailbox
// (the channel is then attached to it and the StasisStart delivered), or
// returns nil to refuse the call (the event is counted as unrouted). It runs
// on the reader goroutine: it must not block. It may call Attach.
func (d *Dispatcher) SetNewOwner(fn func(ev *ariv5.StasisStart) *Mailbox) {
	d.mu.Lock()
	d.newOwner = fn
	d.mu.Unlock()
}

// NewMailbox returns an empty mailbox that holds at most size events (the
// dispatcher's queue size if size <= 0); its ring starts with a few slots
// and grows to size only while that many events wait. name identifies the
// owner in logs (e.g. the call ID).
func (d *Dispatcher) NewMailbox(name string, size int) *Mailbox {
	if size <= 0 {
		size = d.queueSize
	}
	return newMailbox(name, size, d.log, d.m)
}

// Attach routes the events of resource kind/id (kind is KindChannel,
// KindBridge, KindPlayback or KindRecording) to mb. A route already held by
// another mailbox is moved to mb. Playback and recording events also follow
// their target channel or bridge, so attaching them is optional.
func (d *Dispatcher) Attach(kindName, id string, mb *Mailbox) {
	k, ok := parseKind(kindName)
	if !ok || id == "" || mb == nil {
		d.log.Error("ari dispatcher: invalid route ignored", "kind", kindName, "id", id, "mailbox_nil", mb == nil)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.routes[k][id]
	if old == mb {
		return
	}
	if old != nil {
		old.removeRoute(routeKey{k, id})
		d.log.Warn("ari dispatcher: route moved to another owner", "kind", kindName, "id", id, "from", old.name, "to", mb.name)
	}
	d.routes[k][id] = mb
	mb.routes = append(mb.routes, routeKey{k, id})
}

// Detach removes the route of kind/id, if any.
func (d *Dispatcher) Detach(kindName, id string) {
	k, ok := parseKind(kindName)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if mb := d.routes[k][id]; mb != nil {
		delete(d.routes[k], id)
		mb.removeRoute(routeKey{k, id})
	}
}

// DetachMailbox removes every route to mb. Call it when the owner is done
// (then Close the mailbox).
func (d *Dispatcher) DetachMailbox(mb *Mailbox) {
	if mb == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, rk := range mb.routes {
		if d.routes[rk.kind][rk.id] == mb {
			delete(d.routes[rk.kind], rk.id)
		}
	}
	mb.routes = nil
}

// Routed reports whether the events of kind/id go to an owner.
func (d *Dispatcher) Routed(kindName, id string) bool {
	k, ok := parseKind(kindName)
	if !ok {
		return false
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.routes[k][id] != nil
}

// Routes returns the number of routes (for tests and diagnostics).
func (d *Dispatcher) Routes() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := 0
	for _, m := range d.routes {
		n += len(m)
	}
	return n
}

// Dispatch pushes ev to the mailbox of every owner whose routes match one of
// its keys, once per mailbox. It never blocks. A StasisStart that matches no
// route goes to the NewOwner hook; other events that match none are counted
// as unrouted (UnknownEvents without a route are only logged: they are
// already counted as unknown).
func (d *Dispatcher) Dispatch(ev ariv5.Event) {
	if ev == nil {
		return
	}
	var kbuf [8]routeKey
	keys := eventRoutes(ev, kbuf[:0])

	var tbuf [4]*Mailbox
	targets := tbuf[:0]
	d.mu.RLock()
	for _, rk := range keys {
		mb := d.routes[rk.kind][rk.id]
		if mb != nil && !containsMailbox(targets, mb) {
			targets = append(targets, mb)
		}
	}
	newOwner := d.newOwner
	d.mu.RUnlock()

	if len(targets) == 0 {
		d.unrouted(ev, newOwner)
		return
	}
	for _, mb := range targets {
		if !mb.push(ev) {
			d.m.Unrouted.Inc()
			d.debug("ari dispatcher: event for a closed mailbox dropped", ev, "mailbox", mb.name)
		}
	}
}

func (d *Dispatcher) unrouted(ev ariv5.Event, newOwner func(*ariv5.StasisStart) *Mailbox) {
	if ss, ok := ev.(*ariv5.StasisStart); ok && newOwner != nil && ss.Channel.ID != "" {
		if mb := newOwner(ss); mb != nil {
			d.Attach(KindChannel, ss.Channel.ID, mb)
			if mb.push(ev) {
				return
			}
		}
		d.m.Unrouted.Inc()
		d.debug("ari dispatcher: StasisStart refused by NewOwner", ev, "channel", ss.Channel.ID)
		return
	}
	if _, ok := ev.(*UnknownEvent); ok {
		d.debug("ari dispatcher: unknown event without owner", ev)
		return
	}
	d.m.Unrouted.Inc()
	d.debug("ari dispatcher: unrouted event", ev)
}

func (d *Dispatcher) debug(msg string, ev ariv5.Event, args ...any) {
	if !d.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	var kbuf [8]routeKey
	keys := eventRoutes(ev, kbuf[:0])
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.kind.String()+":"+k.id)
	}
	d.log.Debug(msg, append([]any{"type", ev.GetType(), "keys", ids}, args...)...)
}

func containsMailbox(list []*Mailbox, mb *Mailbox) bool {
	for _, x := range list {
		if x == mb {
			return true
		}
	}
	return false
}

// eventRoutes appends the routing keys of ev to buf. The common event types
// are handled without allocation; the others fall back to ev.Keys(). Unlike
// the library's Keys, playback and recording events also yield their target
// channel or bridge.
func eventRoutes(ev ariv5.Event, buf []routeKey) []routeKey {
	add := func(k kind, id string) {
		if id != "" {
			buf = append(buf, routeKey{k, id})
		}
	}
	switch e := ev.(type) {
	case *ariv5.StasisStart:
		add(kChannel, e.Channel.ID)
		add(kChannel, e.ReplaceChannel.ID)
	case *ariv5.StasisEnd:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelDtmfReceived:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelHangupRequest:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelStateChange:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelDestroyed:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelVarset:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelDialplan:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelCallerID:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelConnectedLine:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelHold:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelUnhold:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelTalkingStarted:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelTalkingFinished:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelCreated:
		add(kChannel, e.Channel.ID)
	case *ariv5.ChannelEnteredBridge:
		add(kChannel, e.Channel.ID)
		add(kBridge, e.Bridge.ID)
		for _, id := range e.Bridge.ChannelIDs {
			add(kChannel, id)
		}
	case *ariv5.ChannelLeftBridge:
		add(kChannel, e.Channel.ID)
		add(kBridge, e.Bridge.ID)
		for _, id := range e.Bridge.ChannelIDs {
			add(kChannel, id)
		}
	case *ariv5.Dial:
		add(kChannel, e.Caller.ID)
		add(kChannel, e.Peer.ID)
		add(kChannel, e.Forwarded.ID)
	case *ariv5.PlaybackStarted:
		buf = playbackRoutes(buf, &e.Playback)
	case *ariv5.PlaybackContinuing:
		buf = playbackRoutes(buf, &e.Playback)
	case *ariv5.PlaybackFinished:
		buf = playbackRoutes(buf, &e.Playback)
	case *ariv5.RecordingStarted:
		buf = recordingRoutes(buf, &e.Recording)
	case *ariv5.RecordingFinished:
		buf = recordingRoutes(buf, &e.Recording)
	case *ariv5.RecordingFailed:
		buf = recordingRoutes(buf, &e.Recording)
	case *UnknownEvent:
		add(kChannel, e.channelID)
		add(kBridge, e.bridgeID)
	default:
		for _, k := range ev.Keys() {
			if k == nil {
				continue
			}
			if kk, ok := parseKind(k.Kind); ok {
				add(kk, k.ID)
			}
		}
	}
	return buf
}

func playbackRoutes(buf []routeKey, p *ariv5.PlaybackData) []routeKey {
	if p.ID != "" {
		buf = append(buf, routeKey{kPlayback, p.ID})
	}
	return targetRoute(buf, p.TargetURI)
}

func recordingRoutes(buf []routeKey, r *ariv5.LiveRecordingData) []routeKey {
	if r.Name != "" {
		buf = append(buf, routeKey{kRecording, r.Name})
	}
	return targetRoute(buf, r.TargetURI)
}

// targetRoute parses an ARI target URI ("channel:ID" or "bridge:ID").
func targetRoute(buf []routeKey, uri string) []routeKey {
	for i := 0; i < len(uri); i++ {
		if uri[i] != ':' {
			continue
		}
		id := uri[i+1:]
		if id == "" {
			return buf
		}
		switch uri[:i] {
		case "channel":
			return append(buf, routeKey{kChannel, id})
		case "bridge":
			return append(buf, routeKey{kBridge, id})
		}
		return buf
	}
	return buf
}
