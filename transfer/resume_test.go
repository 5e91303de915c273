package transfer

import (
	"context"
	"testing"
	"time"
)

// A three-party transfer resumed after a gateway restart: with both legs
// still bridged it stays three-party and Complete leaves the caller with
// 110; a leg gone meanwhile is caught up by PendingInputs.
func TestResumeThreePartyTransfer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       Presence
		state   State
		outcome string
	}{
		{"all bridged", Presence{Agent: true, Peer: true, PeerExists: true}, ThreeParty, ""},
		{"agent left", Presence{Peer: true, PeerExists: true}, Completed, OutcomeCompleted},
		{"110 left", Presence{Agent: true}, Completed, OutcomePeerHangup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
			fx.handle(PeerAnswered{})
			rec := fx.m.Record()
			call := fx.m.call
			if !tc.p.Agent {
				call.AgentChannel = ""
			}
			m, err := fx.mg.Resume(call, []*Record{rec}, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range m.PendingInputs(tc.p) {
				if _, err := m.Handle(context.Background(), in); err != nil {
					t.Fatalf("%T: %v", in, err)
				}
			}
			if m.State() != tc.state || m.Record().Outcome != tc.outcome || m.Record().TransferID != rec.TransferID {
				t.Fatalf("resumed: %s %q (record %s), want %s %q", m.State(), m.Record().Outcome, m.Record().TransferID, tc.state, tc.outcome)
			}
			if tc.state == ThreeParty {
				r, err := m.Handle(context.Background(), Complete{By: ByGRPC})
				if err != nil || r.State != Completed || !r.AgentFreed {
					t.Fatalf("Complete after resume: %+v %v", r, err)
				}
				if _, with110 := m.Peer(); !with110 {
					t.Fatal("caller not with 110 after Complete")
				}
			}
		})
	}
}

// The gateway that stopped had bridged 110's answered leg but was killed
// before it saved the answer, so the record still says ringing: the
// resumed machine takes the leg in the bridge as answered (three-party,
// agent and 110 kept, no second add, no dial timeout left to fail it), and
// Complete leaves the caller with 110. A blind transfer in the same window
// completes.
func TestResumeBridgedPeerSavedRinging(t *testing.T) {
	for _, tc := range []struct {
		mode  Mode
		state State
	}{{ModeThreeParty, ThreeParty}, {ModeBlind, Completed}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			fx := newFixture(t)
			fx.handle(Request{Mode: tc.mode, By: ByGRPC})
			fx.handle(PeerRinging{})
			rec := fx.m.Record() // what Redis holds: ringing
			if rec.State != Ringing || !rec.AnsweredAt.IsZero() {
				t.Fatalf("record before the answer: %+v", rec)
			}
			// The old gateway's last act: 110 answered and was bridged.
			peer := fx.peer()
			if err := fx.pbx.AddChannel(context.Background(), bridge, peer); err != nil {
				t.Fatal(err)
			}
			adds := fx.pbx.count("add")
			p := Presence{Agent: true, Peer: true, PeerExists: true}
			fx.advance(time.Second)
			m, err := fx.mg.Resume(fx.m.call, []*Record{rec}, p)
			if err != nil {
				t.Fatal(err)
			}
			ins := m.PendingInputs(p)
			if len(ins) != 1 {
				t.Fatalf("pending inputs %#v, want one PeerAnswered", ins)
			}
			if _, ok := ins[0].(PeerAnswered); !ok {
				t.Fatalf("pending inputs %#v, want one PeerAnswered", ins)
			}
			r, err := m.Handle(context.Background(), ins[0])
			if err != nil {
				t.Fatal(err)
			}
			if m.State() != tc.state || r.Record == nil || r.Record.AnsweredAt.IsZero() {
				t.Fatalf("after the caught-up answer: %s, result %+v; want %s answered", m.State(), r, tc.state)
			}
			if n := fx.pbx.count("add"); n != adds {
				t.Errorf("the bridged leg was added again: %v", fx.pbx.actions)
			}
			if fx.pbx.did("hangup(" + peer + ")") {
				t.Errorf("110's leg was hung up: %v", fx.pbx.actions)
			}
			if tc.state == ThreeParty {
				fx.wantMembers(chC, chA, peer)
				if !r.Deadline.After(fx.now) || r.Deadline.Sub(fx.now) != fx.mg.cfg.ThreePartyMax.D() {
					t.Errorf("deadline %v, want the three-party limit from now", r.Deadline)
				}
				r, err := m.Handle(context.Background(), Complete{By: ByGRPC})
				if err != nil || r.State != Completed || r.Record.Outcome != OutcomeCompleted {
					t.Fatalf("Complete after resume: %+v %v", r, err)
				}
				fx.wantMembers(chC, peer)
			}
		})
	}
}
