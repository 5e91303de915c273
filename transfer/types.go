package transfer

import (
	"errors"
	"time"
)

// Errors of Handle; test with errors.Is. The gRPC edge maps ErrInvalid to
// InvalidArgument and the others to FailedPrecondition (see Code).
var (
	// ErrNoTransfer: Complete or Cancel while no transfer is in progress.
	ErrNoTransfer = errors.New("no transfer in progress")
	// ErrWrongState: the input is not valid in the current state (e.g. a
	// transfer while the caller is already with 110, or Complete after the
	// agent left).
	ErrWrongState = errors.New("transfer: wrong state")
	// ErrConflict: a transfer in another mode is already in progress.
	ErrConflict = errors.New("transfer: another transfer is in progress")
	// ErrCallEnded: the caller has hung up. It wraps ErrWrongState.
	ErrCallEnded = errorWrap{"transfer: the caller has hung up", ErrWrongState}
	// ErrTooMany: the call has had transfer.max_per_call transfers. It
	// wraps ErrWrongState.
	ErrTooMany = errorWrap{"transfer: the call has reached its transfer limit", ErrWrongState}
	// ErrInvalid: the request is malformed (mode, note, target...).
	ErrInvalid = errors.New("invalid transfer request")
)

type errorWrap struct {
	msg string
	err error
}

func (e errorWrap) Error() string { return e.msg }
func (e errorWrap) Unwrap() error { return e.err }

// Direction values of records and metrics.
const (
	DirectionTo110   = "to110"
	DirectionFrom110 = "from110"
)

// Mode is how the caller is handed to 110.
type Mode string

const (
	// ModeBlind: the caller hears music on hold while 110 is dialled, the agent
	// stays on the call (and may Cancel, or leave early with Complete);
	// when 110 answers it joins the caller and the agent is freed.
	ModeBlind Mode = "blind"
	// ModeThreeParty: 110 joins the caller and the agent (会商); Complete lets
	// the agent leave, Cancel drops 110.
	ModeThreeParty Mode = "three_party"
)

// State of a call's transfer machine.
type State string

const (
	Idle       State = "idle"        // no transfer yet
	Requested  State = "requested"   // accepted, 110 leg being originated
	Dialing    State = "dialing"     // 110 leg originated, not ringing yet
	Ringing    State = "ringing"     // 110 is ringing
	Answered   State = "answered"    // 110 answered, being joined (passed through within one Handle)
	ThreeParty State = "three_party" // caller, agent and 110 in the bridge
	Completed  State = "completed"   // caller is (or was) with 110; agent gone, or 110 left a three-party call
	Cancelled  State = "cancelled"   // cancelled by the agent, or the caller hung up
	Failed     State = "failed"      // 110 busy, no answer, failed or timed out
)

// Active reports whether a transfer is in progress in state s.
func (s State) Active() bool {
	switch s {
	case Requested, Dialing, Ringing, Answered, ThreeParty:
		return true
	}
	return false
}

// Terminal reports whether s ends a transfer.
func (s State) Terminal() bool { return s == Completed || s == Cancelled || s == Failed }

// Outcomes recorded in Record.Outcome and used as the metrics' result.
const (
	OutcomeCompleted    = "completed"     // caller connected to 110, agent gone
	OutcomePeerHangup   = "peer_hangup"   // 110 left a three-party call; caller and agent go on
	OutcomeBusy         = "busy"          // 110 busy (cause 17)
	OutcomeNoAnswer     = "no_answer"     // 110 did not answer (cause 18/19, or ring timeout)
	OutcomeFailed       = "failed"        // originate error, other causes, join failure
	OutcomeTimeout      = "timeout"       // 110 never rang (dial timeout) or the request timed out
	OutcomeCancelled    = "cancelled"     // the agent cancelled
	OutcomeCallerHangup = "caller_hangup" // the caller hung up during the transfer
)

// Trigger values of Request.By.
const (
	ByDTMF = "dtmf"
	ByGRPC = "grpc"
)

// Input is what the call owner feeds to Machine.Handle: one of Request,
// Complete, Cancel, PeerRinging, PeerAnswered, PeerBusy, PeerNoAnswer,
// PeerFailed, PeerHangup, CallerHangup, AgentHangup, Timeout, StrayPeer.
type Input interface{ input() }

// Request asks for a transfer to 110 (DTMF *1/*2 or gRPC Transfer).
type Request struct {
	Mode     Mode
	Note     string // data only, carried in the record; validated
	By       string // ByDTMF or ByGRPC
	AgentExt string // the requesting agent; empty: the call's agent
}

// Complete lets the agent leave (three-party → caller stays with 110; while
// 110 is still being dialled → the agent leaves early, the caller waits on
// hold and is re-queued if 110 fails).
type Complete struct{ By string }

// Cancel abandons the transfer: the 110 leg is hung up and the caller stays
// with the agent (or is re-queued when the agent has left).
type Cancel struct{ By string }

// PeerRinging: the 110 leg rings (ChannelStateChange "Ringing", Dial RINGING).
type PeerRinging struct{}

// PeerAnswered: the 110 leg answered and entered Stasis (its StasisStart).
type PeerAnswered struct{}

// PeerBusy: the 110 leg ended before answer with cause 17 (user busy).
type PeerBusy struct{}

// PeerNoAnswer: the 110 leg ended before answer with cause 18 or 19.
type PeerNoAnswer struct{}

// PeerFailed: the 110 leg ended before answer with another cause.
type PeerFailed struct{ Cause int }

// PeerHangup: the 110 leg hung up after answering.
type PeerHangup struct{}

// CallerHangup: the caller's channel hung up.
type CallerHangup struct{}

// AgentHangup: the agent's channel hung up.
type AgentHangup struct{}

// StrayPeer: a 110 leg the machine already gave up (e.g. its originate
// timed out on our side but went through) shows signs of life; Handle hangs
// it up. InputFor produces it.
type StrayPeer struct{ ChannelID string }

// Timeout: the timer armed for Result.Deadline fired. Stale timeouts (the
// deadline moved or was cleared) are ignored, so the owner needs no token.
type Timeout struct{}

func (Request) input()      {}
func (Complete) input()     {}
func (Cancel) input()       {}
func (PeerRinging) input()  {}
func (PeerAnswered) input() {}
func (PeerBusy) input()     {}
func (PeerNoAnswer) input() {}
func (PeerFailed) input()   {}
func (PeerHangup) input()   {}
func (CallerHangup) input() {}
func (AgentHangup) input()  {}
func (Timeout) input()      {}
func (StrayPeer) input()    {}

// Result tells the call owner what Handle did and what it must do next.
type Result struct {
	// State is the machine's state after the input.
	State State
	// Record is the transfer's record after the input; non-nil whenever it
	// changed (persist it with Store.Save before acknowledging a gRPC
	// request) and, for an idempotent Request/Complete/Cancel, the existing
	// record (Existing is then true). It is a copy.
	Record *Record
	// Existing: the input repeated an accepted one (duplicate Request in the
	// same mode, second Complete/Cancel); nothing was done.
	Existing bool
	// AgentFreed: the agent's channel was removed from the bridge during
	// this input. The owner now owns it (hang it up / wrap-up / next call)
	// and must not treat its later hangup as the end of the call.
	AgentFreed bool
	// Requeue: the transfer failed or was cancelled after the agent had
	// left; the caller (still in the bridge, music on hold still playing)
	// must be re-queued at the front of its line's queue.
	Requeue bool
	// EndCall: 110 hung up after a completed transfer, the caller is alone;
	// end the call as after any far-end hangup (hang up the caller).
	EndCall bool
	// Deadline is when to feed Timeout; zero means disarm the timer.
	Deadline time.Time
	// Errs are PBX failures during an accepted transition (already handled
	// as well as possible; log them). The state has changed regardless.
	Errs []error
}

// Record is one transfer of a call, as stored and reported (TransferRecord).
type Record struct {
	TransferID      string    `json:"transfer_id"`
	CallID          string    `json:"call_id"`
	Direction       string    `json:"direction"`
	Mode            Mode      `json:"mode"`
	State           State     `json:"state"`
	AgentExt        string    `json:"agent_extension,omitempty"`
	Note            string    `json:"note,omitempty"`
	Outcome         string    `json:"outcome,omitempty"`
	By              string    `json:"by,omitempty"`
	PeerChannel     string    `json:"peer_channel,omitempty"`
	PoliceReference string    `json:"police_reference,omitempty"`
	RequestedAt     time.Time `json:"requested_at,omitzero"`
	AnsweredAt      time.Time `json:"answered_at,omitzero"`
	AgentLeftAt     time.Time `json:"agent_left_at,omitzero"`
	EndedAt         time.Time `json:"ended_at,omitzero"`
	// Version increases with every change; Store.Save never overwrites a
	// newer version with an older one.
	Version int64 `json:"version"`
}
