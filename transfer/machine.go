package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/internal/randid"
	"github.com/hotline12345/hotline-gw/metrics"
)

// PBX is the subset of *ari.Client the transfer uses.
type PBX interface {
	Originate(ctx context.Context, p ari.OriginateParams) error
	Hangup(ctx context.Context, channelID, reason string) error
	AddChannel(ctx context.Context, bridgeID, channelID string) error
	RemoveChannel(ctx context.Context, bridgeID, channelID string) error
	StartMOH(ctx context.Context, channelID, class string) error
	StopMOH(ctx context.Context, channelID string) error
	Play(ctx context.Context, channelID, playbackID, mediaURI string) error
}

var _ PBX = (*ari.Client)(nil)

// Deps are the collaborators shared by every call's machine.
type Deps struct {
	PBX     PBX
	Metrics *metrics.Transfers // nil: nothing is counted
	Log     *slog.Logger       // nil: slog.Default()
	Now     func() time.Time   // nil: time.Now
	NewID   func() string      // transfer IDs; nil: 16 random hex digits. Must be [A-Za-z0-9-_].
}

// Manager holds the validated configuration; it creates one Machine per
// call. It is read-only and safe for concurrent use.
type Manager struct {
	cfg  Config
	deps Deps
}

// New validates cfg (after SetDefaults) and returns a Manager.
func New(cfg Config, deps Deps) (*Manager, error) {
	SetDefaults(&cfg)
	if err := ValidateConfig(&cfg); err != nil {
		return nil, err
	}
	if deps.PBX == nil {
		return nil, errors.New("transfer: Deps.PBX is required")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.NewID == nil {
		deps.NewID = randomID
	}
	return &Manager{cfg: cfg, deps: deps}, nil
}

// Config returns the validated configuration.
func (mg *Manager) Config() Config { return mg.cfg }

// Call describes the call the machine works on; the owner built it.
type Call struct {
	ID            string // the gateway's call ID (data only: never sent to ARI)
	CallerChannel string // C
	AgentChannel  string // A
	AgentExt      string // the agent's extension, for records
	Bridge        string // B, the mixing bridge holding C and A (create it with "mixing,dtmf_events")
	CallerNumber  string // the citizen's number, presented to 110 with caller_id "caller"
	// AttachPeer is called with the 110 leg's channel ID just before it is
	// originated; the owner routes that channel's events to its mailbox
	// (Dispatcher.Attach(ari.KindChannel, id, mb)). Required.
	AttachPeer func(channelID string)
}

// Machine is the transfer state machine of one call. It runs inside the
// call owner's goroutine: no locks, no goroutines, no timers of its own.
type Machine struct {
	mg   *Manager
	call Call
	dtmf *Collector

	state    State
	rec      *Record // current or last transfer; nil before the first
	deadline time.Time
	seq      int

	peer         string   // 110 leg channel ID of the current/last transfer
	oldPeers     []string // 110 legs of earlier transfers of this call
	peerLive     bool     // the 110 leg may exist (originated, not known gone)
	peerAnswered bool
	peerJoined   bool // the 110 leg is in the bridge
	agentPresent bool // A is in B and belongs to this call
	callerGone   bool
	moh          bool // we started MOH on C
}

// NewMachine returns the machine of a call, in state Idle.
func (mg *Manager) NewMachine(call Call) (*Machine, error) {
	if call.ID == "" {
		return nil, fmt.Errorf("%w: empty call ID", ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{
		{"CallerChannel", call.CallerChannel}, {"AgentChannel", call.AgentChannel}, {"Bridge", call.Bridge},
	} {
		if !validResourceID(f.v) {
			return nil, fmt.Errorf("%w: Call.%s %q is not an ARI resource ID", ErrInvalid, f.name, f.v)
		}
	}
	if call.AttachPeer == nil {
		return nil, fmt.Errorf("%w: Call.AttachPeer is required", ErrInvalid)
	}
	dtmf, err := NewCollector(mg.cfg.Codes, mg.cfg.InterDigit.D())
	if err != nil {
		return nil, err
	}
	return &Machine{mg: mg, call: call, dtmf: dtmf, state: Idle, agentPresent: true}, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Record returns a copy of the current or last transfer's record (nil
// before the first transfer).
func (m *Machine) Record() *Record { return m.copyRec() }

// Deadline returns when Timeout is due (zero: none).
func (m *Machine) Deadline() time.Time { return m.deadline }

// AgentPresent reports whether the agent is still on the call as far as the
// transfer knows (false once freed, hung up or left).
func (m *Machine) AgentPresent() bool { return m.agentPresent }

// Peer returns the 110 leg's channel ID ("" before the first transfer) and
// whether it is in the bridge with the caller.
func (m *Machine) Peer() (channelID string, joined bool) { return m.peer, m.peerJoined && m.peerLive }

// SetAgent tells the machine that a new agent (channel A in the same bridge)
// took the call, e.g. after the caller was re-queued. Refused while a
// transfer is in progress.
func (m *Machine) SetAgent(channelID, ext string) error {
	if m.state.Active() {
		return fmt.Errorf("%w: a transfer is in progress", ErrWrongState)
	}
	if !validResourceID(channelID) {
		return fmt.Errorf("%w: agent channel %q is not an ARI resource ID", ErrInvalid, channelID)
	}
	m.call.AgentChannel, m.call.AgentExt = channelID, ext
	m.agentPresent = true
	m.dtmf.Reset()
	return nil
}

// Handle applies one input: it executes the PBX actions and returns what the
// owner must do. On error (a rejected input) nothing was done and the Result
// only reports the current state (and, if any, the record).
func (m *Machine) Handle(ctx context.Context, in Input) (Result, error) {
	t := &txn{m: m, ctx: ctx, now: m.mg.deps.Now()}
	var err error
	switch in := in.(type) {
	case Request:
		err = t.request(in)
	case Complete:
		err = t.complete()
	case Cancel:
		err = t.cancel()
	case PeerRinging:
		if m.state == Dialing {
			m.setState(Ringing, t.now.Add(m.mg.cfg.RingTimeout.D()))
			t.changed = true
		}
	case PeerAnswered:
		t.peerAnswered()
	case PeerBusy:
		t.peerEnded(OutcomeBusy)
	case PeerNoAnswer:
		t.peerEnded(OutcomeNoAnswer)
	case PeerFailed:
		t.peerEnded(OutcomeFailed)
	case PeerHangup:
		t.peerHangup()
	case CallerHangup:
		t.callerHangup()
	case AgentHangup:
		t.agentHangup()
	case Timeout:
		t.timeout()
	case StrayPeer:
		if m.isStalePeer(in.ChannelID) && m.rec != nil {
			t.act("hangup_stray", m.mg.deps.PBX.Hangup(ctx, in.ChannelID, "normal"), true)
		}
	case nil:
		err = fmt.Errorf("%w: nil input", ErrInvalid)
	default:
		err = fmt.Errorf("%w: unknown input %T", ErrInvalid, in)
	}
	return t.result(), err
}

// txn is one Handle call.
type txn struct {
	m        *Machine
	ctx      context.Context
	now      time.Time
	changed  bool
	existing bool
	res      Result
}

func (t *txn) result() Result {
	m := t.m
	r := t.res
	r.State = m.state
	r.Deadline = m.deadline
	r.Existing = t.existing
	if t.changed && m.rec != nil {
		m.rec.State = m.state
		m.rec.Version++
	}
	if t.changed || t.existing {
		r.Record = m.copyRec()
	}
	return r
}

func (m *Machine) copyRec() *Record {
	if m.rec == nil {
		return nil
	}
	c := *m.rec
	return &c
}

func (m *Machine) setState(s State, deadline time.Time) {
	m.state = s
	m.deadline = deadline
}

// act records a PBX failure; ErrNotFound (already gone) is not a failure
// for teardown actions.
func (t *txn) act(op string, err error, notFoundOK bool) bool {
	if err == nil {
		return true
	}
	if notFoundOK && errors.Is(err, ari.ErrNotFound) {
		return true
	}
	err = fmt.Errorf("transfer %s: %s: %w", t.m.rec.TransferID, op, err)
	t.res.Errs = append(t.res.Errs, err)
	t.m.mg.deps.Log.Warn("transfer: PBX action failed", "call_id", t.m.call.ID, "transfer_id", t.m.rec.TransferID, "op", op, "err", err)
	return false
}

// request starts a transfer: checks it, opens its record and dials 110.
func (t *txn) request(in Request) error {
	note, ext, err := t.checkRequest(in)
	if err != nil || t.existing {
		return err
	}
	id := t.m.mg.deps.NewID()
	if !isToken(id, 64, "-_") {
		return fmt.Errorf("transfer: generated ID %q is not a token", id)
	}
	t.open(in, id, note, ext)
	t.dial(in.Mode)
	return nil
}

// checkRequest refuses a request the call's state or its fields do not
// allow; a repeat of the active transfer's mode sets t.existing. It returns
// the cleaned note and the agent's extension.
func (t *txn) checkRequest(in Request) (note, ext string, err error) {
	m := t.m
	if in.Mode != ModeBlind && in.Mode != ModeThreeParty {
		return "", "", fmt.Errorf("%w: mode must be %q or %q, not %q", ErrInvalid, ModeBlind, ModeThreeParty, in.Mode)
	}
	if m.callerGone {
		return "", "", ErrCallEnded
	}
	if m.state.Active() {
		if in.Mode == m.rec.Mode {
			t.existing = true
			return "", "", nil
		}
		return "", "", fmt.Errorf("%w: a %s transfer (%s) is %s", ErrConflict, m.rec.Mode, m.rec.TransferID, m.state)
	}
	if m.peerJoined && m.peerLive {
		return "", "", fmt.Errorf("%w: the caller is already connected to 110", ErrWrongState)
	}
	if !m.agentPresent {
		return "", "", fmt.Errorf("%w: no agent on the call", ErrWrongState)
	}
	if limit := m.mg.cfg.MaxPerCall; m.seq >= limit {
		return "", "", fmt.Errorf("%w: call %s already had %d transfers (transfer.max_per_call = %d)", ErrTooMany, m.call.ID, m.seq, limit)
	}
	switch in.By {
	case ByDTMF, ByGRPC:
	default:
		return "", "", fmt.Errorf("%w: by must be %q or %q, not %q", ErrInvalid, ByDTMF, ByGRPC, in.By)
	}
	note, err = ValidateNote(in.Note, m.mg.cfg.NoteMaxRunes)
	if err != nil {
		return "", "", err
	}
	ext = in.AgentExt
	if ext == "" {
		ext = m.call.AgentExt
	}
	if ext != "" && !isToken(ext, 32, "-_.+") {
		return "", "", fmt.Errorf("%w: agent extension %q (letters, digits, - _ . +, at most 32)", ErrInvalid, ext)
	}
	return note, ext, nil
}

// open starts the transfer's record and its 110 leg's bookkeeping.
func (t *txn) open(in Request, id, note, ext string) {
	m := t.m
	m.seq++
	m.rec = &Record{
		TransferID:  id,
		CallID:      m.call.ID,
		Direction:   DirectionTo110,
		Mode:        in.Mode,
		AgentExt:    ext,
		Note:        note,
		By:          in.By,
		PeerChannel: dialplan.TransferLeg(id),
		RequestedAt: t.now,
	}
	if m.peer != "" {
		m.oldPeers = append(m.oldPeers, m.peer)
	}
	m.peer = m.rec.PeerChannel
	m.peerLive, m.peerAnswered, m.peerJoined = true, false, false
	m.setState(Requested, t.now.Add(m.mg.cfg.RequestTimeout.D()))
	t.changed = true
}

// dial originates the leg to 110 (music on hold for the caller of a blind
// transfer); a failed originate fails the transfer.
func (t *txn) dial(mode Mode) {
	m := t.m
	cfg := &m.mg.cfg
	if mode == ModeBlind {
		t.startMOH()
	}
	m.call.AttachPeer(m.peer)
	octx, cancel := context.WithTimeout(t.ctx, cfg.RequestTimeout.D())
	defer cancel()
	err := m.mg.deps.PBX.Originate(octx, ari.OriginateParams{
		ChannelID:  m.peer,
		Endpoint:   cfg.Target,
		CallerID:   m.callerID(),
		Timeout:    cfg.DialTimeout.D() + cfg.RingTimeout.D() + 5*time.Second, // our timers fire first
		App:        cfg.App,
		AppArgs:    dialplan.TransferArgs(DirectionTo110),
		Variables:  m.variables(),
		Originator: m.call.CallerChannel,
	})
	if !t.act("originate", err, false) {
		// The request may have reached Asterisk even if we saw an error
		// (timeout): hang the leg up by its ID, best effort.
		outcome := OutcomeFailed
		if errors.Is(err, context.DeadlineExceeded) {
			outcome = OutcomeTimeout
		}
		t.fail(outcome)
		return
	}
	m.setState(Dialing, t.now.Add(cfg.DialTimeout.D()))
}

func (m *Machine) callerID() string {
	cfg := &m.mg.cfg
	if cfg.CallerID == CallerIDCaller && isPhoneNumber(m.call.CallerNumber) {
		return m.call.CallerNumber
	}
	return cfg.HotlineNumber
}

func (m *Machine) variables() map[string]string {
	// HOTLINE_ROLE marks the leg as the gateway's own, so that a restarted
	// gateway never adopts it as a citizen's call.
	v := map[string]string{dialplan.VarTransferID: m.rec.TransferID, dialplan.VarRole: dialplan.RolePolice110}
	cfg := &m.mg.cfg
	if cfg.TransferHeader != "" && strings.EqualFold(strings.SplitN(cfg.Target, "/", 2)[0], "PJSIP") {
		v["PJSIP_HEADER(add,"+cfg.TransferHeader+")"] = m.rec.TransferID
	}
	return v
}

func (t *txn) startMOH() {
	m := t.m
	if m.moh || m.callerGone {
		return
	}
	if t.act("start_moh", m.mg.deps.PBX.StartMOH(t.ctx, m.call.CallerChannel, m.mg.cfg.MOHClass), false) {
		m.moh = true
	}
}

func (t *txn) stopMOH() {
	m := t.m
	if !m.moh {
		return
	}
	m.moh = false
	if !m.callerGone {
		t.act("stop_moh", m.mg.deps.PBX.StopMOH(t.ctx, m.call.CallerChannel), true)
	}
}

func (t *txn) hangupPeer() {
	m := t.m
	if !m.peerLive {
		return
	}
	m.peerLive = false
	t.act("hangup_peer", m.mg.deps.PBX.Hangup(t.ctx, m.peer, "normal"), true)
}

// releaseAgent removes A from B: the agent is freed.
func (t *txn) releaseAgent() {
	m := t.m
	if !m.agentPresent {
		return
	}
	m.agentPresent = false
	m.rec.AgentLeftAt = t.now
	m.dtmf.Reset()
	t.act("remove_agent", m.mg.deps.PBX.RemoveChannel(t.ctx, m.call.Bridge, m.call.AgentChannel), true)
	t.res.AgentFreed = true
}

// returnCaller gives the caller back to the agent (MOH off, optional prompt
// to the agent) or, with the agent gone, asks for a re-queue.
func (t *txn) returnCaller(prompt bool) {
	m := t.m
	if m.callerGone {
		return
	}
	if !m.agentPresent {
		t.res.Requeue = true
		t.startMOH() // keeps playing until the queue takes over
		return
	}
	t.stopMOH()
	if prompt && m.mg.cfg.FailPrompt != "" {
		pb := fmt.Sprintf("%s-p%d", m.peer, m.rec.Version+1)
		t.act("play_prompt", m.mg.deps.PBX.Play(t.ctx, m.call.AgentChannel, pb, m.mg.cfg.FailPrompt), true)
	}
}

// end moves to a terminal state and counts the transfer.
func (t *txn) end(s State, outcome string) {
	m := t.m
	m.setState(s, time.Time{})
	m.rec.Outcome = outcome
	m.rec.EndedAt = t.now
	t.changed = true
	if mt := m.mg.deps.Metrics; mt != nil {
		mt.Ended(DirectionTo110, string(m.rec.Mode), outcome)
	}
}

// fail ends an unanswered (or unjoinable) transfer: 110 leg down, caller back.
func (t *txn) fail(outcome string) {
	t.hangupPeer()
	t.returnCaller(true)
	t.end(Failed, outcome)
}

func (t *txn) peerAnswered() {
	m := t.m
	if m.state != Dialing && m.state != Ringing && m.state != Requested {
		return // duplicate, stale, or after the end
	}
	m.peerAnswered = true
	m.rec.AnsweredAt = t.now
	t.changed = true
	if mt := m.mg.deps.Metrics; mt != nil {
		mt.Answered(DirectionTo110, t.now.Sub(m.rec.RequestedAt))
	}
	m.setState(Answered, time.Time{})
	t.stopMOH()
	// Already joined: a resumed machine whose leg the gateway that stopped
	// had bridged (Resume).
	if !m.peerJoined && !t.act("add_peer", m.mg.deps.PBX.AddChannel(t.ctx, m.call.Bridge, m.peer), false) {
		t.fail(OutcomeFailed)
		return
	}
	m.peerJoined = true
	if m.rec.Mode == ModeBlind || !m.agentPresent {
		t.releaseAgent()
		t.end(Completed, OutcomeCompleted)
		return
	}
	m.setState(ThreeParty, t.now.Add(m.mg.cfg.ThreePartyMax.D()))
}

func (t *txn) peerEnded(outcome string) {
	m := t.m
	switch m.state {
	case Requested, Dialing, Ringing:
		m.peerLive = false
		t.changed = true
		t.fail(outcome)
	case Answered, ThreeParty:
		t.peerHangup()
	default:
		if m.peerLive && m.peerAnswered {
			t.peerHangup()
		} else {
			m.peerLive = false
		}
	}
}

func (t *txn) peerHangup() {
	m := t.m
	switch m.state {
	case Requested, Dialing, Ringing:
		m.peerLive = false
		t.changed = true
		t.fail(OutcomeFailed)
	case Answered, ThreeParty:
		m.peerLive = false
		m.peerJoined = false
		t.changed = true
		if m.agentPresent {
			t.end(Completed, OutcomePeerHangup)
		} else {
			t.res.Requeue = !m.callerGone
			t.end(Completed, OutcomePeerHangup)
		}
	default:
		if m.peerLive && m.peerJoined && !m.callerGone {
			t.res.EndCall = true
		}
		m.peerLive = false
	}
}

func (t *txn) callerHangup() {
	m := t.m
	if m.callerGone {
		return
	}
	m.callerGone = true
	m.moh = false
	if m.state.Active() {
		t.hangupPeer()
		t.changed = true
		t.end(Cancelled, OutcomeCallerHangup)
		return
	}
	// Transfer over (e.g. caller with 110): the 110 leg goes with the caller.
	if m.peerLive && m.peerAnswered {
		t.hangupPeer()
	}
}

func (t *txn) agentHangup() {
	m := t.m
	if !m.agentPresent {
		return
	}
	m.agentPresent = false
	m.dtmf.Reset()
	if m.rec == nil || !m.state.Active() {
		return
	}
	m.rec.AgentLeftAt = t.now
	t.changed = true
	switch m.state {
	case Requested, Dialing, Ringing:
		t.startMOH() // the caller waits for 110 on hold
	case ThreeParty:
		t.end(Completed, OutcomeCompleted)
	}
}

func (t *txn) complete() error {
	m := t.m
	switch m.state {
	case ThreeParty:
		if !m.agentPresent {
			return fmt.Errorf("%w: the agent has already left", ErrWrongState)
		}
		t.releaseAgent()
		t.end(Completed, OutcomeCompleted)
		return nil
	case Dialing, Ringing:
		if !m.agentPresent {
			return fmt.Errorf("%w: the agent has already left", ErrWrongState)
		}
		// The agent leaves early; the caller waits for 110 on hold.
		t.startMOH()
		t.releaseAgent()
		t.changed = true
		return nil
	case Completed:
		if m.rec != nil && m.rec.Outcome == OutcomeCompleted {
			t.existing = true
			return nil
		}
	}
	if m.callerGone {
		return ErrCallEnded
	}
	if m.state.Active() {
		return fmt.Errorf("%w: cannot complete in state %s", ErrWrongState, m.state)
	}
	return ErrNoTransfer
}

func (t *txn) cancel() error {
	m := t.m
	switch m.state {
	case Dialing, Ringing, ThreeParty:
		t.hangupPeer()
		m.peerJoined = false
		t.returnCaller(false)
		t.end(Cancelled, OutcomeCancelled)
		return nil
	case Cancelled:
		if m.rec != nil && m.rec.Outcome == OutcomeCancelled {
			t.existing = true
			return nil
		}
	}
	if m.callerGone {
		return ErrCallEnded
	}
	if m.state.Active() {
		return fmt.Errorf("%w: cannot cancel in state %s", ErrWrongState, m.state)
	}
	return ErrNoTransfer
}

func (t *txn) timeout() {
	m := t.m
	if m.deadline.IsZero() || t.now.Before(m.deadline) {
		return // stale or early: ignore
	}
	switch m.state {
	case Requested, Dialing:
		t.fail(OutcomeTimeout)
	case Ringing:
		t.fail(OutcomeNoAnswer)
	case ThreeParty:
		t.releaseAgent()
		t.end(Completed, OutcomeCompleted)
	default:
		m.deadline = time.Time{}
	}
}

func validResourceID(id string) bool {
	return id != "" && len(id) <= 128 && !strings.ContainsAny(id, "/?#% \t\r\n")
}

func randomID() string { return randid.Hex(8) }

// isStalePeer reports whether id is a 110 leg of this call that the machine
// considers gone (an originate that timed out on our side but went through).
func (m *Machine) isStalePeer(id string) bool {
	if id == "" {
		return false
	}
	if id == m.peer {
		return !m.peerLive
	}
	for _, p := range m.oldPeers {
		if p == id {
			return true
		}
	}
	return false
}
