package gateway

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
	"github.com/hotline12345/hotline-gw/transfer"
)

// left is what a gateway SIGKILLed with call "c1" connected left behind:
// its registry entry and transfer records in Redis, its channels and
// bridge in Asterisk (the fake PBX).
type left struct {
	reg     store.CallRegistry
	recs    *transfer.Store
	pool    *acd.Pool
	roles   map[string]string   // channels in the application: role ("" for the caller)
	bridges map[string][]string // bridge → channels
	police  *policeRecorder
}

// adoptionRig is a rig whose gateway adopts what left describes.
func adoptionRig(t *testing.T, setup func(l *left)) (*rig, *left) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	keys := store.NewKeys("ad")
	l := &left{
		reg:  store.CallRegistry{Redis: rdb, Keys: keys},
		recs: transfer.NewStore(rdb, keys, transfer.StoreOptions{}),
		pool: acd.New(acd.Options{Redis: rdb, Keys: keys, Logger: slog.New(slog.DiscardHandler),
			Metrics: metrics.NewUnregistered().ACD, Skills: []string{"general"}}),
		roles: map[string]string{}, bridges: map[string][]string{}, police: &policeRecorder{},
	}
	setup(l)
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		m, err := transfer.New(transfer.DefaultConfig(), transfer.Deps{PBX: o.PBX, Log: o.Logger})
		if err != nil {
			t.Fatal(err)
		}
		o.Transfers, o.TransferRecords, o.Registry, o.Pool, o.Police = m, l.recs, l.reg, l.pool, l.police
	}, pbx: func(f *fakePBX) {
		f.appChannels = func(context.Context) ([]string, error) {
			var ids []string
			for id := range l.roles {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			return ids, nil
		}
		f.getVar = func(ctx context.Context, id, name string) (string, error) {
			role, ok := l.roles[id]
			if !ok || name != dialplan.VarRole {
				return "", notFound("variable", name)
			}
			return role, nil
		}
		f.channel = func(ctx context.Context, id string) (*ariv5.ChannelData, error) {
			if _, ok := l.roles[id]; !ok {
				return nil, notFound("channel", id)
			}
			return &ariv5.ChannelData{ID: id, State: "Up", Caller: &ariv5.CallerID{Number: testCaller},
				Dialplan: &ariv5.DialplanCEP{Context: "from-trunk", Exten: "12345", Priority: 2}}, nil
		}
		f.bridgeChans = func(ctx context.Context, id string) ([]string, error) {
			if chans, ok := l.bridges[id]; ok {
				return chans, nil
			}
			return nil, notFound("bridge", id)
		}
	}})
	return r, l
}

// connected registers c1 as answered by agent 1001 a minute ago, with the
// agent logged in and on the call.
func (l *left) connected(t *testing.T) time.Time {
	t.Helper()
	ctx := context.Background()
	answered := time.Now().Add(-time.Minute)
	if err := l.reg.Enter(ctx, LiveCall{ID: "c1", Entry: EntryInbound, Line: "12345", Main: "12345", Skill: "general",
		Caller: testCaller, DNIS: "12345", Entered: answered.Add(-10 * time.Second), Instance: "gw-old",
		Agent: "1001", AgentLeg: dialplan.AgentLeg("c1", 1), Attempts: 1, Answered: answered}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.pool.Login(ctx, "1001", []string{"general"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := l.pool.Enqueue(ctx, "general", "c1", false, answered); err != nil {
		t.Fatal(err)
	}
	if ext, err := l.pool.Claim(ctx, "general", "c1"); err != nil || ext != "1001" {
		t.Fatalf("claim: %q %v", ext, err)
	}
	if err := l.pool.Answered(ctx, "1001", "c1"); err != nil {
		t.Fatal(err)
	}
	return answered
}

// transfer stores c1's transfer T1 to 110 in mode and state.
func (l *left) transfer(t *testing.T, mode transfer.Mode, state transfer.State, answered time.Time, agentLeft bool) {
	t.Helper()
	rec := &transfer.Record{TransferID: "T1", CallID: "c1", Direction: transfer.DirectionTo110, Mode: mode, State: state,
		AgentExt: "1001", By: transfer.ByGRPC, PeerChannel: dialplan.TransferLeg("T1"),
		RequestedAt: answered.Add(10 * time.Second), AnsweredAt: answered.Add(15 * time.Second), Version: 3}
	if agentLeft {
		rec.AgentLeftAt, rec.Outcome = rec.AnsweredAt, transfer.OutcomeCompleted
	}
	if err := l.recs.Save(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) noHangup(ids ...string) {
	r.t.Helper()
	for _, a := range r.pbx.Actions() {
		for _, id := range ids {
			if a == "hangup "+id+" normal" {
				r.t.Errorf("the adopting gateway hung up %s: %q", id, r.pbx.Actions())
			}
		}
	}
}

// The gateway was SIGKILLed during a three-party call with 110: the next
// one adopts the call with its transfer, hangs up neither 110 nor the
// agent, and the agent's Complete leaves the caller with 110. The ticket
// carries the transfer once, completed.
func TestAdoptedThreePartyCallKeeps110AndTheAgent(t *testing.T) {
	agentLeg, peer := dialplan.AgentLeg("c1", 1), dialplan.TransferLeg("T1")
	r, l := adoptionRig(t, func(l *left) {
		answered := l.connected(t)
		l.transfer(t, transfer.ModeThreeParty, transfer.ThreeParty, answered, false)
		l.roles = map[string]string{"c1": "", agentLeg: dialplan.RoleAgent, peer: dialplan.RolePolice110}
		l.bridges[dialplan.BridgeID("c1")] = []string{"c1", agentLeg, peer}
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})
	waitFor(t, "c1 adopted talking", func() bool { return r.live("c1") && r.phase("c1") == phaseTalking })
	var st transfer.State
	var ext string
	r.inspect("c1", func(c *Call) { st, ext = c.xfer.State(), c.agentExt })
	if st != transfer.ThreeParty || ext != "1001" {
		t.Fatalf("adopted call: transfer %v agent %q, want three_party with 1001", st, ext)
	}
	r.noHangup(agentLeg, peer)
	if r.pbx.has("moh c1 hold") {
		t.Errorf("the adopted call was queued again: %q", r.pbx.Actions())
	}

	res, err := r.svc.HandleTransfer(context.Background(), "c1", "1001", func() (transfer.Input, error) {
		return transfer.Complete{By: transfer.ByGRPC}, nil
	})
	if err != nil || res.State != transfer.Completed {
		t.Fatalf("Complete on the adopted call: %v, %v", res.State, err)
	}
	r.waitAction("remove_channel br-c1 " + agentLeg)
	r.noHangup(peer)
	r.hangup("c1")
	r.waitEnded("c1")
	r.waitAction("hangup " + peer + " normal") // 110 leaves with the caller

	tk := r.ticket("c1")
	if len(tk.GetTransfers()) != 1 {
		t.Fatalf("ticket transfers %v, want exactly one", tk.GetTransfers())
	}
	x := tk.GetTransfers()[0]
	if x.GetTransferId() != "T1" || x.GetMode() != hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY ||
		x.GetState() != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED || x.GetOutcome() != "completed" || x.GetDirection() != "to110" {
		t.Errorf("ticket's transfer %v, want T1 to 110, three-party, completed", x)
	}
	if tk.GetEndReason() != "transferred" || tk.GetAgentExtension() != "1001" || tk.GetAnsweredAt() == nil {
		t.Errorf("ticket: end %q agent %q answered %v", tk.GetEndReason(), tk.GetAgentExtension(), tk.GetAnsweredAt())
	}
	if told := l.police.last(); told == nil || told.GetState() != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED {
		t.Errorf("110 was told %v, want the completed record", told)
	}
	tot := r.counts()
	if tot.Get(count.Answered, "12345") != 1 || tot.Sum(count.AbandonQueue)+tot.Sum(count.AbandonRinging) != 0 {
		t.Errorf("counts %v, want answered once and never abandoned", tot)
	}
}

// The caller was with 110 alone (a completed blind transfer) when the
// gateway died: the next one keeps 110 with the caller; when 110 hangs up
// the caller is hung up and the call ends transferred, the transfer once
// on its ticket.
func TestAdoptedCallWith110StaysWith110(t *testing.T) {
	peer := dialplan.TransferLeg("T1")
	r, _ := adoptionRig(t, func(l *left) {
		answered := l.connected(t)
		l.transfer(t, transfer.ModeBlind, transfer.Completed, answered, true)
		l.roles = map[string]string{"c1": "", peer: dialplan.RolePolice110}
		l.bridges[dialplan.BridgeID("c1")] = []string{"c1", peer}
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})
	waitFor(t, "c1 adopted talking", func() bool { return r.live("c1") && r.phase("c1") == phaseTalking })
	var busy bool
	r.inspect("c1", func(c *Call) { busy = c.transferBusy() })
	if !busy {
		t.Fatal("adopted call is not with 110")
	}
	time.Sleep(50 * time.Millisecond)
	r.noHangup("c1", peer)

	r.hangup(peer)
	r.waitAction("hangup c1 normal")
	r.hangup("c1")
	r.waitEnded("c1")
	tk := r.ticket("c1")
	if len(tk.GetTransfers()) != 1 || tk.GetTransfers()[0].GetTransferId() != "T1" {
		t.Fatalf("ticket transfers %v, want T1 once", tk.GetTransfers())
	}
	if tk.GetEndReason() != "transferred" || tk.GetAgentExtension() != "1001" {
		t.Errorf("ticket: end %q agent %q, want transferred by 1001", tk.GetEndReason(), tk.GetAgentExtension())
	}
}

// A call talking to its agent when the gateway died stays with that agent
// (it was re-queued: counted answered and abandoned, with a call-back
// task); it ends with one outcome, answered, and the agent is released.
func TestAdoptedTalkingCallStaysWithItsAgent(t *testing.T) {
	agentLeg := dialplan.AgentLeg("c1", 1)
	r, l := adoptionRig(t, func(l *left) {
		l.connected(t)
		l.roles = map[string]string{"c1": "", agentLeg: dialplan.RoleAgent}
		l.bridges[dialplan.BridgeID("c1")] = []string{"c1", agentLeg}
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})
	waitFor(t, "c1 adopted talking", func() bool { return r.live("c1") && r.phase("c1") == phaseTalking })
	time.Sleep(50 * time.Millisecond)
	r.noHangup(agentLeg)
	if r.pbx.has("moh c1 hold") {
		t.Errorf("the adopted call was queued again: %q", r.pbx.Actions())
	}
	r.hangup(agentLeg) // the agent hangs up: the call is over
	r.waitAction("hangup c1 normal")
	r.hangup("c1")
	r.waitEnded("c1")
	tk := r.ticket("c1")
	if tk.GetEndReason() != "completed" || tk.GetAgentExtension() != "1001" || tk.GetAnsweredAt() == nil {
		t.Errorf("ticket: end %q agent %q answered %v, want completed by 1001", tk.GetEndReason(), tk.GetAgentExtension(), tk.GetAnsweredAt())
	}
	tot := r.counts()
	if tot.Get(count.Answered, "12345") != 1 || tot.Sum(count.AbandonQueue)+tot.Sum(count.AbandonRinging)+tot.Sum(count.AbandonGreeting) != 0 {
		t.Errorf("counts %v, want answered once and never abandoned", tot)
	}
	a, err := l.pool.Get(context.Background(), "1001")
	if err != nil || a.State == acd.OnCall || a.State == acd.Ringing {
		t.Errorf("agent 1001 after the call: %+v %v, want released", a, err)
	}
}

// The agent hung up while no gateway watched: the adopted call, answered,
// is over; it is ended as completed, not queued again.
func TestAdoptedCallWhoseAgentLeftEnds(t *testing.T) {
	r, _ := adoptionRig(t, func(l *left) {
		l.connected(t)
		l.roles = map[string]string{"c1": ""}
		l.bridges[dialplan.BridgeID("c1")] = []string{"c1"}
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})
	r.waitAction("hangup c1 normal")
	r.hangup("c1")
	r.waitEnded("c1")
	if r.pbx.has("moh c1 hold") {
		t.Errorf("the adopted call was queued again: %q", r.pbx.Actions())
	}
	if tk := r.ticket("c1"); tk.GetEndReason() != "completed" || tk.GetAgentExtension() != "1001" {
		t.Errorf("ticket: end %q agent %q, want completed by 1001", tk.GetEndReason(), tk.GetAgentExtension())
	}
	tot := r.counts()
	if tot.Get(count.Answered, "12345") != 1 || tot.Sum(count.AbandonQueue) != 0 {
		t.Errorf("counts %v, want answered once and never abandoned", tot)
	}
}

// A plain reconnection (no restart) leaves the legs of live calls alone.
func TestReconnectKeepsTheLegsOfLiveCalls(t *testing.T) {
	r := newRig(t, rigOptions{tweak: withPool(t), pbx: channelsExcept()})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	leg := r.connect("c1")
	r.pbx.set(func(f *fakePBX) {
		f.appChannels = func(context.Context) ([]string, error) { return []string{"c1", leg}, nil }
		f.getVar = func(ctx context.Context, id, name string) (string, error) {
			if id == leg && name == dialplan.VarRole {
				return dialplan.RoleAgent, nil
			}
			return "", notFound("variable", name)
		}
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})
	r.noHangup(leg)
	if p := r.phase("c1"); p != phaseTalking {
		t.Errorf("phase %v after a reconnection, want talking", p)
	}
}
