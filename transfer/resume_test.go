package transfer

import (
	"context"
	"testing"
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
