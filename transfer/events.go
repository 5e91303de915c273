package transfer

import (
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/ari"
)

// PeerEndInput maps the cause of a ChannelDestroyed of the 110 leg before
// answer to an input: 17 → PeerBusy, 18/19 → PeerNoAnswer, anything else →
// PeerFailed.
func PeerEndInput(cause int) Input {
	switch ari.ClassifyCause(cause) {
	case ari.CauseBusy:
		return PeerBusy{}
	case ari.CauseNoUserResponse, ari.CauseNoAnswer:
		return PeerNoAnswer{}
	}
	return PeerFailed{Cause: cause}
}

// InputFor translates an ARI event of the call into the machine's input, if
// the transfer cares about it; now is the owner's clock (for the DTMF
// inter-digit timeout). It only reads the machine. The owner calls it for
// every event of the call, feeds the input (if ok) to Handle, and goes on
// with its own handling of the event as usual.
//
//   - the agent's ChannelDtmfReceived: through the feature-code collector
//     (Request / Complete / Cancel); the caller's digits are never looked at;
//   - the 110 leg: ChannelStateChange "Ringing" and Dial RINGING →
//     PeerRinging; StasisStart → PeerAnswered (a channel can only be
//     bridged once in Stasis, so "Up" alone is not used); ChannelDestroyed →
//     PeerHangup after answer, otherwise PeerEndInput(cause);
//   - the caller's ChannelHangupRequest (not soft) / ChannelDestroyed →
//     CallerHangup;
//   - the agent's ChannelHangupRequest (not soft) / ChannelDestroyed →
//     AgentHangup, while the agent is on the call for the transfer;
//   - StasisStart or ChannelStateChange Ringing/Up of a 110 leg the machine
//     already gave up → StrayPeer (Handle hangs it up), so a late-succeeding
//     originate never leaves a call to 110 behind.
func (m *Machine) InputFor(ev ariv5.Event, now time.Time) (Input, bool) {
	switch e := ev.(type) {
	case *ariv5.ChannelDtmfReceived:
		if e.Channel.ID != m.call.AgentChannel || !m.agentPresent || m.callerGone {
			return nil, false
		}
		f := m.dtmf.Feed(e.Digit, now)
		if f == NoFeature {
			return nil, false
		}
		return f.Input(m.call.AgentExt), true
	case *ariv5.StasisStart:
		if m.isPeer(e.Channel.ID) {
			return PeerAnswered{}, true
		}
		if m.isStalePeer(e.Channel.ID) {
			return StrayPeer{ChannelID: e.Channel.ID}, true
		}
	case *ariv5.ChannelStateChange:
		if m.isPeer(e.Channel.ID) && e.Channel.State == "Ringing" {
			return PeerRinging{}, true
		}
		if m.isStalePeer(e.Channel.ID) && (e.Channel.State == "Ringing" || e.Channel.State == "Up") {
			return StrayPeer{ChannelID: e.Channel.ID}, true
		}
	case *ariv5.Dial:
		if m.isPeer(e.Peer.ID) && e.Dialstatus == "RINGING" {
			return PeerRinging{}, true
		}
	case *ariv5.ChannelHangupRequest:
		if e.Soft {
			return nil, false
		}
		return m.hangupInput(e.Channel.ID, false, 0)
	case *ariv5.ChannelDestroyed:
		return m.hangupInput(e.Channel.ID, true, e.Cause)
	}
	return nil, false
}

func (m *Machine) isPeer(id string) bool { return id != "" && id == m.peer && m.peerLive }

func (m *Machine) hangupInput(id string, destroyed bool, cause int) (Input, bool) {
	switch {
	case id == "":
		return nil, false
	case id == m.call.CallerChannel && !m.callerGone:
		return CallerHangup{}, true
	case id == m.call.AgentChannel && m.agentPresent:
		return AgentHangup{}, true
	case destroyed && m.isPeer(id):
		if m.peerAnswered {
			return PeerHangup{}, true
		}
		return PeerEndInput(cause), true
	}
	return nil, false
}
