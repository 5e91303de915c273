package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/ari"
)

func TestBlindTransferConnectsCallerTo110AndFreesAgentOnAnswer(t *testing.T) {
	fx := newFixture(t)
	r := fx.handle(Request{Mode: ModeBlind, Note: "噪音扰民，疑似斗殴", By: ByDTMF})
	fx.wantState(Dialing)
	p := fx.peer()
	if len(fx.pbx.originates) != 1 || !slices.Equal(fx.attached, []string{p}) {
		t.Fatalf("originates %v attached %v", fx.pbx.originates, fx.attached)
	}
	o := fx.pbx.originates[0]
	if o.Endpoint != target || o.ChannelID != p || o.CallerID != "13800138000" || o.Originator != chC {
		t.Fatalf("originate %+v", o)
	}
	if !fx.pbx.moh[chC] {
		t.Fatal("caller does not hear music on hold while 110 is dialled")
	}
	fx.wantMembers(chC, chA) // the agent stays until 110 answers
	if r.Record == nil || r.Record.State != Dialing || r.Record.Mode != ModeBlind || r.Record.Note != "噪音扰民，疑似斗殴" || r.Record.Direction != DirectionTo110 {
		t.Fatalf("record %+v", r.Record)
	}
	if want := fx.now.Add(10 * time.Second); !r.Deadline.Equal(want) {
		t.Fatalf("deadline %v, want %v", r.Deadline, want)
	}

	fx.advance(time.Second)
	r = fx.handle(PeerRinging{})
	fx.wantState(Ringing)
	if want := fx.now.Add(30 * time.Second); !r.Deadline.Equal(want) {
		t.Fatalf("ringing deadline %v, want %v", r.Deadline, want)
	}

	fx.advance(3 * time.Second)
	r = fx.handle(PeerAnswered{})
	fx.wantState(Completed)
	fx.wantMembers(chC, p)
	if !r.AgentFreed || r.Requeue || r.EndCall || !r.Deadline.IsZero() {
		t.Fatalf("result %+v", r)
	}
	if fx.pbx.moh[chC] {
		t.Fatal("music on hold still playing to the caller")
	}
	if r.Record.Outcome != OutcomeCompleted || r.Record.AnsweredAt.IsZero() || r.Record.EndedAt.IsZero() || r.Record.AgentLeftAt.IsZero() {
		t.Fatalf("record %+v", r.Record)
	}
	if got := fx.counted(ModeBlind, OutcomeCompleted); got != 1 {
		t.Fatalf("counted %v", got)
	}
	if n := testutil.CollectAndCount(fx.met.Setup); n != 1 {
		t.Fatalf("setup histogram series %d", n)
	}
	// 110 hangs up later: the caller is alone, the owner ends the call.
	r = fx.handle(PeerHangup{})
	if !r.EndCall {
		t.Fatalf("EndCall not set after 110 left: %+v", r)
	}
}

func TestThreePartyTransferThenCompleteLeavesCallerWith110(t *testing.T) {
	fx := newFixture(t, func(c *Config, _ *Call) { c.CallerID = CallerIDHotline })
	fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
	if fx.pbx.moh[chC] {
		t.Fatal("three-party: caller put on hold while 110 is dialled")
	}
	if fx.pbx.originates[0].CallerID != "12345" {
		t.Fatalf("caller ID %q, want the hotline's", fx.pbx.originates[0].CallerID)
	}
	fx.handle(PeerRinging{})
	r := fx.handle(PeerAnswered{})
	fx.wantState(ThreeParty)
	fx.wantMembers(chC, chA, fx.peer())
	if r.AgentFreed || r.Deadline.IsZero() {
		t.Fatalf("result %+v", r)
	}
	r = fx.handle(Complete{By: ByDTMF})
	fx.wantState(Completed)
	fx.wantMembers(chC, fx.peer())
	if !r.AgentFreed || r.Record.Outcome != OutcomeCompleted {
		t.Fatalf("result %+v record %+v", r, r.Record)
	}
	// A second Complete (double click) is idempotent.
	r, err := fx.handleErr(Complete{By: ByGRPC})
	if err != nil || !r.Existing || r.AgentFreed {
		t.Fatalf("second complete: %+v %v", r, err)
	}
	if fx.pbx.count("remove") != 1 {
		t.Fatalf("agent removed %d times", fx.pbx.count("remove"))
	}
	if got := fx.counted(ModeThreeParty, OutcomeCompleted); got != 1 {
		t.Fatalf("counted %v", got)
	}
}

func TestCancelInThreePartyKeepsCallerAndAgentTalking(t *testing.T) {
	fx := newFixture(t)
	fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
	fx.handle(PeerAnswered{})
	p := fx.peer()
	r := fx.handle(Cancel{By: ByGRPC})
	fx.wantState(Cancelled)
	fx.wantMembers(chC, chA)
	fx.wantCallerSafe()
	if slices.Contains(fx.pbx.liveChannels(), p) {
		t.Fatal("110 leg still up after cancel")
	}
	if r.AgentFreed || r.Requeue || r.Record.Outcome != OutcomeCancelled {
		t.Fatalf("result %+v", r)
	}
	// The 110 leg's ChannelDestroyed arriving afterwards is ignored.
	if r := fx.handle(PeerHangup{}); r.Record != nil || r.EndCall {
		t.Fatalf("late peer hangup changed something: %+v", r)
	}
	// And a new transfer may be started.
	fx.handle(Request{Mode: ModeBlind, By: ByDTMF})
	fx.wantState(Dialing)
	if len(fx.pbx.originates) != 2 || fx.pbx.originates[1].ChannelID == p {
		t.Fatalf("originates %v", fx.pbx.originates)
	}
}

func TestCancelWhileDialingReturnsCallerToAgent(t *testing.T) {
	for _, mode := range []Mode{ModeBlind, ModeThreeParty} {
		t.Run(string(mode), func(t *testing.T) {
			fx := newFixture(t)
			fx.handle(Request{Mode: mode, By: ByDTMF})
			fx.handle(PeerRinging{})
			r := fx.handle(Cancel{By: ByDTMF})
			fx.wantState(Cancelled)
			fx.wantMembers(chC, chA)
			fx.wantCallerSafe()
			if fx.pbx.moh[chC] || r.Requeue || slices.Contains(fx.pbx.liveChannels(), fx.peer()) {
				t.Fatalf("moh %v result %+v live %v", fx.pbx.moh, r, fx.pbx.liveChannels())
			}
		})
	}
}

// Every way 110 can fail, in each mode: the caller is never dropped.
func TestFailuresKeepCallerConnectedToAgent(t *testing.T) {
	type step func(fx *fixture)
	peerEnd := func(cause int) step {
		return func(fx *fixture) {
			fx.pbx.farHangup(fx.peer())
			in, ok := fx.m.InputFor(destroyed(fx.peer(), cause), fx.now)
			if !ok {
				fx.t.Fatalf("ChannelDestroyed of the 110 leg not translated")
			}
			fx.handle(in)
		}
	}
	timeout := func(d time.Duration) step {
		return func(fx *fixture) { fx.advance(d); fx.handle(Timeout{}) }
	}
	cases := []struct {
		name    string
		setup   func(*Config, *Call)
		ring    bool
		end     step
		outcome string
	}{
		{name: "busy", ring: true, end: peerEnd(17), outcome: OutcomeBusy},
		{name: "no answer cause 19", ring: true, end: peerEnd(19), outcome: OutcomeNoAnswer},
		{name: "no user responding cause 18", end: peerEnd(18), outcome: OutcomeNoAnswer},
		{name: "congestion cause 34", end: peerEnd(34), outcome: OutcomeFailed},
		{name: "unallocated cause 1", end: peerEnd(1), outcome: OutcomeFailed},
		{name: "ring timeout", ring: true, end: timeout(30 * time.Second), outcome: OutcomeNoAnswer},
		{name: "dial timeout", end: timeout(10 * time.Second), outcome: OutcomeTimeout},
		{name: "join fails", end: func(fx *fixture) {
			fx.pbx.fail["add"] = fmt.Errorf("add: %w", ari.ErrConflict)
			fx.handle(PeerAnswered{})
		}, outcome: OutcomeFailed},
	}
	for _, mode := range []Mode{ModeBlind, ModeThreeParty} {
		for _, tc := range cases {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				fx := newFixture(t)
				fx.handle(Request{Mode: mode, By: ByGRPC})
				if tc.ring {
					fx.handle(PeerRinging{})
				}
				tc.end(fx)
				fx.wantState(Failed)
				fx.wantCallerSafe()
				fx.wantMembers(chC, chA)
				if fx.pbx.moh[chC] {
					t.Fatal("caller left on hold after the failure")
				}
				if slices.Contains(fx.pbx.liveChannels(), fx.peer()) {
					t.Fatal("110 leg left up")
				}
				rec := fx.m.Record()
				if rec.Outcome != tc.outcome || rec.State != Failed || rec.EndedAt.IsZero() {
					t.Fatalf("record %+v, want outcome %s", rec, tc.outcome)
				}
				if !slices.Contains(fx.pbx.plays, chA+":sound:beeperr") {
					t.Fatalf("no prompt to the agent: %v", fx.pbx.plays)
				}
				if got := fx.counted(mode, tc.outcome); got != 1 {
					t.Fatalf("counted %v", got)
				}
				if !fx.m.Deadline().IsZero() {
					t.Fatal("deadline still armed")
				}
			})
		}
	}
}

func TestOriginateFailureFailsTransferAndCleansUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		outcome string
	}{
		{"ari error", fmt.Errorf("ari originate: %w", ari.ErrUnavailable), OutcomeFailed},
		{"request timeout", fmt.Errorf("ari originate: %w: %w", ari.ErrUnavailable, context.DeadlineExceeded), OutcomeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.pbx.fail["originate"] = tc.err
			r := fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
			fx.wantState(Failed)
			fx.wantCallerSafe()
			fx.wantMembers(chC, chA)
			if r.Record.Outcome != tc.outcome || len(r.Errs) == 0 || fx.pbx.moh[chC] {
				t.Fatalf("result %+v record %+v moh %v", r, r.Record, fx.pbx.moh)
			}
			// The leg is hung up by its ID in case the request reached Asterisk.
			if !fx.pbx.did("hangup(" + fx.peer() + ")") {
				t.Fatalf("no best-effort hangup of the 110 leg: %v", fx.pbx.actions)
			}
		})
	}
}

func TestBlindFailureAfterAgentLeftRequeuesCaller(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave Input
	}{
		{"agent completes early", Complete{By: ByDTMF}},
		{"agent hangs up", AgentHangup{}},
	} {
		for _, mode := range []Mode{ModeBlind, ModeThreeParty} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				fx := newFixture(t)
				fx.handle(Request{Mode: mode, By: ByGRPC})
				fx.handle(PeerRinging{})
				if _, ok := tc.leave.(AgentHangup); ok {
					fx.pbx.farHangup(chA)
				}
				r := fx.handle(tc.leave)
				if _, ok := tc.leave.(Complete); ok && !r.AgentFreed {
					t.Fatalf("agent not freed: %+v", r)
				}
				if !fx.pbx.moh[chC] {
					t.Fatal("caller not on hold after the agent left")
				}
				fx.wantState(Ringing)
				r = fx.handle(PeerBusy{})
				fx.wantState(Failed)
				if !r.Requeue {
					t.Fatalf("caller not re-queued: %+v", r)
				}
				fx.wantCallerSafe()
				if !fx.pbx.moh[chC] {
					t.Fatal("caller left in silence before re-queue")
				}
			})
		}
	}
}

func TestAgentLeftThen110AnswersConnectsCaller(t *testing.T) {
	fx := newFixture(t)
	fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
	fx.handle(Complete{By: ByGRPC}) // leave before 110 answers
	r := fx.handle(PeerAnswered{})
	fx.wantState(Completed)
	fx.wantMembers(chC, fx.peer())
	if r.AgentFreed || fx.pbx.moh[chC] {
		t.Fatalf("result %+v moh %v", r, fx.pbx.moh)
	}
}

func TestCallerHangupTearsDownTransfer(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode Mode
		prep []Input
	}{
		{"dialing/blind", ModeBlind, nil},
		{"dialing/three-party", ModeThreeParty, nil},
		{"ringing/blind", ModeBlind, []Input{PeerRinging{}}},
		{"three-party", ModeThreeParty, []Input{PeerAnswered{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.handle(Request{Mode: tc.mode, By: ByGRPC})
			for _, in := range tc.prep {
				fx.handle(in)
			}
			fx.pbx.farHangup(chC)
			in, ok := fx.m.InputFor(destroyed(chC, 16), fx.now)
			if !ok {
				t.Fatal("caller hangup not translated")
			}
			r := fx.handle(in)
			fx.wantState(Cancelled)
			if r.Record.Outcome != OutcomeCallerHangup || !r.Deadline.IsZero() {
				t.Fatalf("result %+v record %+v", r, r.Record)
			}
			// Nothing of the transfer is left: the 110 leg is gone, no MOH,
			// and only the agent (the owner's to release) remains.
			if got := fx.pbx.liveChannels(); !slices.Equal(got, []string{chA}) {
				t.Fatalf("live channels %v, want only the agent", got)
			}
			if len(fx.pbx.moh) != 0 {
				t.Fatalf("moh left: %v", fx.pbx.moh)
			}
			if _, err := fx.handleErr(Request{Mode: ModeBlind, By: ByDTMF}); !errors.Is(err, ErrCallEnded) || !errors.Is(err, ErrWrongState) {
				t.Fatalf("request after caller hangup: %v", err)
			}
			// The rest of the hangup events are ignored.
			if r := fx.handle(CallerHangup{}); r.Record != nil {
				t.Fatalf("second caller hangup changed the record")
			}
		})
	}
}

func TestCallerHangupAfterBlindTransferHangsUp110(t *testing.T) {
	fx := newFixture(t)
	fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	fx.handle(PeerAnswered{})
	fx.pbx.farHangup(chC)
	fx.handle(CallerHangup{})
	if slices.Contains(fx.pbx.liveChannels(), fx.peer()) {
		t.Fatal("110 leg left up after the caller hung up")
	}
	if rec := fx.m.Record(); rec.Outcome != OutcomeCompleted {
		t.Fatalf("completed record rewritten: %+v", rec)
	}
}

func TestDuplicateRequestNeverDialsTwice(t *testing.T) {
	fx := newFixture(t)
	first := fx.handle(Request{Mode: ModeBlind, By: ByDTMF})
	r, err := fx.handleErr(Request{Mode: ModeBlind, By: ByGRPC, Note: "again"})
	if err != nil || !r.Existing || r.Record.TransferID != first.Record.TransferID {
		t.Fatalf("same-mode duplicate: %+v %v", r, err)
	}
	_, err = fx.handleErr(Request{Mode: ModeThreeParty, By: ByGRPC})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("other-mode duplicate: %v", err)
	}
	if n := len(fx.pbx.originates); n != 1 {
		t.Fatalf("%d originates", n)
	}
	if fx.m.Record().Note != "" {
		t.Fatal("duplicate request changed the note")
	}
}

// Requests from the desktop and the phone arrive concurrently; the owner
// serialises them through its loop: exactly one 110 call.
func TestConcurrentRequestsThroughOwnerLoopDialOnce(t *testing.T) {
	fx := newFixture(t)
	type req struct {
		in    Input
		reply chan error
	}
	inbox := make(chan req)
	done := make(chan struct{})
	go func() { // the call owner
		defer close(done)
		for r := range inbox {
			_, err := fx.m.Handle(context.Background(), r.in)
			r.reply <- err
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]int{}
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := ModeBlind
			if i%2 == 1 {
				mode = ModeThreeParty
			}
			r := req{Request{Mode: mode, By: ByGRPC}, make(chan error, 1)}
			inbox <- r
			err := <-r.reply
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				errs["ok"]++
			case errors.Is(err, ErrConflict):
				errs["conflict"]++
			default:
				errs[err.Error()]++
			}
		}()
	}
	wg.Wait()
	close(inbox)
	<-done
	if len(fx.pbx.originates) != 1 || errs["ok"] != 20 || errs["conflict"] != 20 {
		t.Fatalf("originates %d, results %v", len(fx.pbx.originates), errs)
	}
}

func TestCompleteAndCancelWithoutTransferAreRejected(t *testing.T) {
	fx := newFixture(t)
	for _, in := range []Input{Complete{By: ByGRPC}, Cancel{By: ByGRPC}} {
		if _, err := fx.handleErr(in); !errors.Is(err, ErrNoTransfer) {
			t.Fatalf("%T in idle: %v", in, err)
		}
	}
	// After a failure there is no transfer to complete or cancel either.
	fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	fx.handle(PeerBusy{})
	for _, in := range []Input{Complete{By: ByGRPC}, Cancel{By: ByGRPC}} {
		if _, err := fx.handleErr(in); !errors.Is(err, ErrNoTransfer) {
			t.Fatalf("%T after failure: %v", in, err)
		}
	}
	// Complete after the agent already left.
	fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	fx.handle(Complete{By: ByGRPC})
	if _, err := fx.handleErr(Complete{By: ByGRPC}); !errors.Is(err, ErrWrongState) {
		t.Fatalf("complete twice while dialing: %v", err)
	}
	// A transfer while the caller is with 110.
	fx.handle(PeerAnswered{})
	if _, err := fx.handleErr(Request{Mode: ModeBlind, By: ByGRPC}); !errors.Is(err, ErrWrongState) {
		t.Fatalf("request while caller is with 110: %v", err)
	}
}

func TestTimeoutsInEachState(t *testing.T) {
	t.Run("stale timeout is ignored", func(t *testing.T) {
		fx := newFixture(t)
		fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
		fx.advance(9 * time.Second)
		if r := fx.handle(Timeout{}); r.Record != nil {
			t.Fatal("early timeout acted")
		}
		fx.handle(PeerRinging{}) // deadline moves to +30s
		fx.advance(2 * time.Second)
		fx.handle(Timeout{}) // the dialing timer, fired late: stale
		fx.wantState(Ringing)
	})
	t.Run("idle timeout is ignored", func(t *testing.T) {
		fx := newFixture(t)
		if r := fx.handle(Timeout{}); r.State != Idle || r.Record != nil {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("three-party max releases agent, caller stays with 110", func(t *testing.T) {
		fx := newFixture(t)
		fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
		r := fx.handle(PeerAnswered{})
		fx.now = r.Deadline
		r = fx.handle(Timeout{})
		fx.wantState(Completed)
		fx.wantMembers(chC, fx.peer())
		if !r.AgentFreed {
			t.Fatalf("%+v", r)
		}
	})
	// Dialing and ringing timeouts: TestFailuresKeepCallerConnectedToAgent;
	// the request timeout: TestOriginateFailureFailsTransferAndCleansUp.
	t.Run("request timeout bounds the originate", func(t *testing.T) {
		fx := newFixture(t, func(c *Config, _ *Call) { c.RequestTimeout = 50 * 1e6 })
		slow := &slowPBX{fakePBX: fx.pbx}
		fx.mg.deps.PBX = slow
		r := fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
		if r.State != Failed || r.Record.Outcome != OutcomeTimeout {
			t.Fatalf("%+v %+v", r, r.Record)
		}
		fx.wantCallerSafe()
	})
}

// slowPBX's Originate blocks until its context is done.
type slowPBX struct{ *fakePBX }

func (s *slowPBX) Originate(ctx context.Context, p ari.OriginateParams) error {
	<-ctx.Done()
	return fmt.Errorf("ari originate: %w: %w", ari.ErrUnavailable, ctx.Err())
}

func TestUserInputNeverReachesTheDialString(t *testing.T) {
	evil := []string{
		"PJSIP/attacker&PJSIP/other", "110,tT", "x/../../y", "110@evil-trunk", "a\nChannel: PJSIP/x",
		"${SHELL(rm -rf /)}", "PJSIP/1001", "&", ",", "/", "@", "\r\n",
	}
	for _, s := range evil {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			fx := newFixture(t, func(_ *Config, c *Call) { c.ID = "call" + s; c.CallerNumber = s; c.AgentExt = "" })
			// Notes with injection characters but no control characters are data.
			note := strings.ReplaceAll(strings.ReplaceAll(s, "\n", " "), "\r", " ")
			if r := fx.handle(Request{Mode: ModeBlind, By: ByGRPC, Note: note}); r.Record.Note != strings.TrimSpace(note) {
				t.Fatalf("note not carried as data: %q", r.Record.Note)
			}
			_, err := fx.handleErr(Request{Mode: ModeThreeParty, By: ByGRPC, Note: s, AgentExt: s})
			if err == nil {
				t.Fatal("conflicting request accepted")
			}
			fx.wantEndpointsAreTarget()
			for _, o := range fx.pbx.originates {
				if o.CallerID != "12345" { // not a plain number: the hotline's
					t.Fatalf("caller ID %q", o.CallerID)
				}
				for k, v := range o.Variables {
					if strings.Contains(k+v, s) || strings.Contains(k+v, "call") {
						t.Fatalf("user data in variable %s=%s", k, v)
					}
				}
				if o.AppArgs != "transfer,to110" || !strings.HasPrefix(o.ChannelID, "xfer-t") || o.Originator != chC {
					t.Fatalf("originate %+v", o)
				}
			}
		})
	}
	t.Run("control characters in the note are rejected", func(t *testing.T) {
		fx := newFixture(t)
		for _, n := range []string{"a\nb", "a\rb", "tab\there", "nul\x00", "esc\x1b[2J", "bidi\u202egnp.exe", strings.Repeat("长", 501)} {
			_, err := fx.handleErr(Request{Mode: ModeBlind, By: ByGRPC, Note: n})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("note %q: %v", n, err)
			}
		}
		if len(fx.pbx.originates) != 0 {
			t.Fatal("invalid request dialled")
		}
		fx.handle(Request{Mode: ModeBlind, By: ByGRPC, Note: strings.Repeat("长", 500)})
	})
	t.Run("bad agent extension is rejected", func(t *testing.T) {
		fx := newFixture(t)
		if _, err := fx.handleErr(Request{Mode: ModeBlind, By: ByGRPC, AgentExt: "1001&x"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%v", err)
		}
	})
}

func TestNewMachineRejectsUnsafeResourceIDs(t *testing.T) {
	mg, err := New(DefaultConfig(), Deps{PBX: newFakePBX(bridge)})
	if err != nil {
		t.Fatal(err)
	}
	ok := Call{ID: "c", CallerChannel: "C", AgentChannel: "A", Bridge: "B", AttachPeer: func(string) {}}
	for name, mod := range map[string]func(*Call){
		"empty call ID":   func(c *Call) { c.ID = "" },
		"caller with /":   func(c *Call) { c.CallerChannel = "C/../x" },
		"agent with ?":    func(c *Call) { c.AgentChannel = "A?x=1" },
		"bridge with nl":  func(c *Call) { c.Bridge = "B\n" },
		"no attach":       func(c *Call) { c.AttachPeer = nil },
		"empty bridge ID": func(c *Call) { c.Bridge = "" },
	} {
		c := ok
		mod(&c)
		if _, err := mg.NewMachine(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := mg.NewMachine(ok); err != nil {
		t.Fatal(err)
	}
}

func TestPeerHangupInThreePartyKeepsCallerAndAgent(t *testing.T) {
	fx := newFixture(t)
	fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
	fx.handle(PeerAnswered{})
	fx.pbx.farHangup(fx.peer())
	in, ok := fx.m.InputFor(destroyed(fx.peer(), 16), fx.now)
	if _, isHangup := in.(PeerHangup); !ok || !isHangup {
		t.Fatalf("input %T %v", in, ok)
	}
	r := fx.handle(in)
	fx.wantState(Completed)
	fx.wantMembers(chC, chA)
	if r.Record.Outcome != OutcomePeerHangup || r.EndCall || r.AgentFreed {
		t.Fatalf("%+v %+v", r, r.Record)
	}
}

func TestRecordVersionsIncrease(t *testing.T) {
	fx := newFixture(t)
	var last int64
	for _, in := range []Input{Request{Mode: ModeThreeParty, By: ByGRPC}, PeerRinging{}, PeerAnswered{}, Complete{By: ByGRPC}} {
		r := fx.handle(in)
		if r.Record == nil || r.Record.Version <= last || r.Record.State != r.State {
			t.Fatalf("after %T: %+v", in, r.Record)
		}
		last = r.Record.Version
	}
}

func TestSetAgentAfterRequeueAllowsNewTransfer(t *testing.T) {
	fx := newFixture(t)
	fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	if err := fx.m.SetAgent("A-2", "1002"); !errors.Is(err, ErrWrongState) {
		t.Fatalf("SetAgent during transfer: %v", err)
	}
	fx.handle(Complete{By: ByGRPC})
	if r := fx.handle(PeerNoAnswer{}); !r.Requeue {
		t.Fatalf("%+v", r)
	}
	if _, err := fx.handleErr(Request{Mode: ModeBlind, By: ByGRPC}); !errors.Is(err, ErrWrongState) {
		t.Fatalf("request without agent: %v", err)
	}
	fx.pbx.live["A-2"] = true
	fx.pbx.bridges[bridge]["A-2"] = true
	if err := fx.m.SetAgent("A-2", "1002"); err != nil {
		t.Fatal(err)
	}
	r := fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	if r.Record.AgentExt != "1002" || r.State != Dialing {
		t.Fatalf("%+v", r.Record)
	}
}

func TestLateOriginateIsHungUpAsStray(t *testing.T) {
	fx := newFixture(t)
	fx.pbx.fail["originate"] = fmt.Errorf("ari originate: %w: %w", ari.ErrUnavailable, context.DeadlineExceeded)
	fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	fx.wantState(Failed)
	p := fx.peer()
	// The request did reach Asterisk after all: 110 answers later.
	fx.pbx.live[p] = true
	in, ok := fx.m.InputFor(&ariv5.StasisStart{Channel: ariv5.ChannelData{ID: p}}, fx.now)
	if !ok || in != (StrayPeer{ChannelID: p}) {
		t.Fatalf("InputFor = %#v %v", in, ok)
	}
	r := fx.handle(in)
	if slices.Contains(fx.pbx.liveChannels(), p) || r.Record != nil {
		t.Fatalf("stray 110 leg left up (%v) or record changed", fx.pbx.liveChannels())
	}
	fx.wantMembers(chC, chA)
	// A later transfer uses a new leg; the old one stays recognised as stray.
	fx.pbx.fail = map[string]error{}
	fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	if in, _ := fx.m.InputFor(&ariv5.ChannelStateChange{Channel: ariv5.ChannelData{ID: p, State: "Ringing"}}, fx.now); in != (StrayPeer{ChannelID: p}) {
		t.Fatalf("old leg: %#v", in)
	}
	if in, _ := fx.m.InputFor(&ariv5.StasisStart{Channel: ariv5.ChannelData{ID: fx.peer()}}, fx.now); in != (PeerAnswered{}) {
		t.Fatalf("new leg: %#v", in)
	}
}

func TestRequeueKeepsCallerOnHoldWhenJoinFails(t *testing.T) {
	fx := newFixture(t)
	fx.handle(Request{Mode: ModeBlind, By: ByGRPC})
	fx.handle(Complete{By: ByGRPC})
	fx.pbx.fail["add"] = fmt.Errorf("add: %w", ari.ErrConflict)
	r := fx.handle(PeerAnswered{})
	if r.State != Failed || !r.Requeue || !fx.pbx.moh[chC] {
		t.Fatalf("%+v moh %v", r, fx.pbx.moh)
	}
	fx.wantCallerSafe()
}
