package transfer

import (
	"reflect"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

func destroyed(id string, cause int) *ariv5.ChannelDestroyed {
	return &ariv5.ChannelDestroyed{Cause: cause, Channel: ariv5.ChannelData{ID: id}}
}

func dtmf(id, digit string) *ariv5.ChannelDtmfReceived {
	return &ariv5.ChannelDtmfReceived{Digit: digit, Channel: ariv5.ChannelData{ID: id}}
}

func TestInputForTranslatesEvents(t *testing.T) {
	fx := newFixture(t)
	fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
	p := fx.peer()
	cases := []struct {
		name string
		ev   ariv5.Event
		want Input
	}{
		{"peer ringing", &ariv5.ChannelStateChange{Channel: ariv5.ChannelData{ID: p, State: "Ringing"}}, PeerRinging{}},
		{"dial ringing", &ariv5.Dial{Peer: ariv5.ChannelData{ID: p}, Dialstatus: "RINGING"}, PeerRinging{}},
		{"peer up is not enough to bridge", &ariv5.ChannelStateChange{Channel: ariv5.ChannelData{ID: p, State: "Up"}}, nil},
		{"peer stasis start", &ariv5.StasisStart{Channel: ariv5.ChannelData{ID: p}}, PeerAnswered{}},
		{"peer busy", destroyed(p, 17), PeerBusy{}},
		{"peer no answer", destroyed(p, 19), PeerNoAnswer{}},
		{"peer other cause", destroyed(p, 21), PeerFailed{Cause: 21}},
		{"caller hangup request", &ariv5.ChannelHangupRequest{Channel: ariv5.ChannelData{ID: chC}}, CallerHangup{}},
		{"caller soft hangup ignored", &ariv5.ChannelHangupRequest{Soft: true, Channel: ariv5.ChannelData{ID: chC}}, nil},
		{"agent destroyed", destroyed(chA, 16), AgentHangup{}},
		{"unrelated channel", destroyed("other", 16), nil},
		{"unrelated stasis start", &ariv5.StasisStart{Channel: ariv5.ChannelData{ID: "other"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := fx.m.InputFor(tc.ev, fx.now)
			if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("InputFor = %#v, %v; want %#v", got, ok, tc.want)
			}
		})
	}
	fx.handle(PeerAnswered{})
	if in, _ := fx.m.InputFor(destroyed(p, 16), fx.now); !reflect.DeepEqual(in, PeerHangup{}) {
		t.Fatalf("after answer: %#v", in)
	}
}

func TestInputForFeatureCodesFromAgentOnly(t *testing.T) {
	fx := newFixture(t)
	now := fx.now
	feed := func(ch, digits string) (Input, bool) {
		var in Input
		var ok bool
		for _, d := range digits {
			now = now.Add(300 * time.Millisecond)
			in, ok = fx.m.InputFor(dtmf(ch, string(d)), now)
		}
		return in, ok
	}
	if in, ok := feed(chC, "*1"); ok {
		t.Fatalf("caller's *1 recognised: %#v", in)
	}
	// Interleaved caller digits do not disturb the agent's sequence.
	now = now.Add(time.Minute)
	fx.m.InputFor(dtmf(chA, "*"), now)
	fx.m.InputFor(dtmf(chC, "5"), now)
	now = now.Add(100 * time.Millisecond)
	in, ok := fx.m.InputFor(dtmf(chA, "2"), now)
	want := Request{Mode: ModeThreeParty, By: ByDTMF, AgentExt: "1001"}
	if !ok || !reflect.DeepEqual(in, want) {
		t.Fatalf("agent *2 = %#v %v", in, ok)
	}
	fx.handle(in)
	if in, ok := feed(chA, "*0"); !ok || !reflect.DeepEqual(in, Cancel{By: ByDTMF}) {
		t.Fatalf("agent *0 = %#v %v", in, ok)
	}
}
