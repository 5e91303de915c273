package transfer

import (
	"fmt"
	"time"
)

// Presence is what Asterisk still holds of a call adopted from a gateway
// that stopped: which legs are in the call's bridge.
type Presence struct {
	// Agent: the agent's channel (Call.AgentChannel) is in the bridge.
	Agent bool
	// Peer: the 110 leg of the last record (Record.PeerChannel) is in the
	// bridge; PeerExists: it exists at all (e.g. still ringing).
	Peer, PeerExists bool
	// PeerUp: the 110 leg answered and waits in the application, outside
	// the bridge (it answered while no gateway watched).
	PeerUp bool
}

// Resume returns the machine of a call adopted after a gateway restart, in
// the state its transfers left it: recs are the call's stored records,
// oldest first (Store.List), and p is what the bridge holds now. The
// machine then goes on as if it had never stopped: a three-party call keeps
// its 110 leg and its agent, a caller handed to 110 stays with 110, a
// transfer still dialling keeps its deadline. Where the bridge no longer
// matches the last record (the agent or 110 left while no gateway
// watched), feed the inputs PendingInputs returns.
//
// Call.AgentChannel may be empty when the agent is no longer on the call.
func (mg *Manager) Resume(call Call, recs []*Record, p Presence) (*Machine, error) {
	agent := call.AgentChannel
	if agent == "" {
		if p.Agent {
			return nil, fmt.Errorf("%w: an agent present without its channel", ErrInvalid)
		}
		call.AgentChannel = call.CallerChannel + "-noagent" // never matches a channel of the call
	}
	m, err := mg.NewMachine(call)
	if err != nil {
		return nil, err
	}
	m.agentPresent = p.Agent
	if len(recs) == 0 {
		return m, nil
	}
	for _, r := range recs[:len(recs)-1] {
		if r.PeerChannel != "" {
			m.oldPeers = append(m.oldPeers, r.PeerChannel)
		}
	}
	last := *recs[len(recs)-1]
	m.rec = &last
	m.seq = len(recs)
	m.peer = last.PeerChannel
	m.peerAnswered = !last.AnsweredAt.IsZero()
	m.peerLive = p.PeerExists || p.Peer
	// In the bridge is joined, even when the record does not yet say the
	// leg answered: the gateway that stopped added it and was killed before
	// it saved the record (PendingInputs then feeds the answer).
	m.peerJoined = p.Peer
	cfg := &mg.cfg
	var deadline time.Time
	switch last.State {
	case Requested, Dialing:
		deadline = last.RequestedAt.Add(cfg.DialTimeout.D())
	case Ringing:
		deadline = last.RequestedAt.Add(cfg.DialTimeout.D() + cfg.RingTimeout.D())
	case ThreeParty, Answered:
		last.State = ThreeParty
		deadline = last.AnsweredAt.Add(cfg.ThreePartyMax.D())
	}
	if last.State.Active() && !m.peerLive {
		// Its leg is gone: the pending input ends it.
		m.peerLive = m.peerAnswered
	}
	if last.State.Active() && last.State != ThreeParty {
		m.moh = last.Mode == ModeBlind || !p.Agent // the caller waits for 110 on hold
	}
	m.setState(last.State, deadline)
	m.rec.State = last.State
	return m, nil
}

// PendingInputs are the inputs that bring a resumed machine in line with
// what the bridge holds (Presence given to Resume): a 110 leg gone while
// the transfer was in progress or after it, an agent gone from a
// three-party call. Feed them to Handle in order.
func (m *Machine) PendingInputs(p Presence) []Input {
	var in []Input
	if m.rec == nil {
		return nil
	}
	switch {
	case m.state.Active() && m.peerAnswered && !p.Peer:
		in = append(in, PeerHangup{})
	case m.state.Active() && !m.peerAnswered && (p.PeerUp || p.Peer):
		// 110 answered while no gateway watched (PeerUp), or the gateway
		// that stopped bridged it but had not yet saved the answer (Peer).
		in = append(in, PeerAnswered{})
	case m.state.Active() && !m.peerAnswered && !p.PeerExists && !p.Peer:
		in = append(in, PeerFailed{})
	case !m.state.Active() && m.peerAnswered && m.peerLive && !p.Peer:
		// The caller was with 110, who left meanwhile.
		m.peerJoined = true
		in = append(in, PeerHangup{})
	}
	if m.state == ThreeParty && !p.Agent && p.Peer {
		m.agentPresent = true // so that AgentHangup completes the transfer
		in = append(in, AgentHangup{})
	}
	return in
}
