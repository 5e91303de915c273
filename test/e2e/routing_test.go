package e2e

import (
	"fmt"
	"testing"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

type routingLab struct {
	g    *labtest.Gateway
	sink *labtest.Sink
	rd   *redistest.Server
}

func startRoutingLab(t *testing.T, acdExtra string) *routingLab {
	t.Helper()
	return startRoutingLabExtra(t, acdExtra, "")
}

// startRoutingLabExtra also appends top-level YAML to the configuration.
func startRoutingLabExtra(t *testing.T, acdExtra, extra string) *routingLab {
	t.Helper()
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: labtest.AgentsYAML(sink.Addr, acdExtra) + extra})
	return &routingLab{g: g, sink: sink, rd: rd}
}

// progressKinds lists the call-progress kinds a desktop received for callID.
func progressKinds(d *labtest.Desktop, callID string) []hotlinev1.CallProgress_Kind {
	var out []hotlinev1.CallProgress_Kind
	for _, ev := range d.Events() {
		if p := ev.GetProgress(); p != nil && p.CallId == callID {
			out = append(out, p.Kind)
		}
	}
	return out
}

// A call to 12333 reaches the agent with the 12333 skill, one to 12345 the
// agent with the general skill; each agent's desktop gets the screen pop
// before its phone is answered; each call becomes one ticket.
func TestRoutesEachLineToItsSkillWithScreenPop(t *testing.T) {
	l := startRoutingLab(t, "")
	p1 := labtest.StartPhone(t, "1001", labtest.Answer, "-set", "ring", "1000")
	p2 := labtest.StartPhone(t, "1002", labtest.Answer, "-set", "ring", "1000")
	d1 := labtest.OpenDesktop(t, l.g, "1001", "renshe")
	d2 := labtest.OpenDesktop(t, l.g, "1002", "general")

	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Caller: "13900000001", Duration: 3 * time.Second}); res.Successful != 1 {
		t.Fatalf("call to 12333: %+v", res)
	}
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Caller: "13900000002", Duration: 3 * time.Second}); res.Successful != 1 {
		t.Fatalf("call to 12345: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)

	check := func(d *labtest.Desktop, p *labtest.Phone, line, caller string) {
		t.Helper()
		offers := d.Offers()
		if len(offers) != 1 {
			t.Fatalf("agent %s got %d screen pops, want 1", d.Ext, len(offers))
		}
		o := offers[0]
		if o.Line != line || o.MainLine != "12345" || o.CallerNumber != caller || o.TicketId != o.CallId {
			t.Errorf("agent %s screen pop = %+v", d.Ext, o)
		}
		kinds := progressKinds(d, o.CallId)
		if len(kinds) == 0 || kinds[0] != hotlinev1.CallProgress_KIND_CONNECTED {
			t.Errorf("agent %s progress after the pop = %v, want CONNECTED first", d.Ext, kinds)
		}
		labtest.Eventually(t, 5*time.Second, func() error {
			if n := p.Calls(); n != 1 {
				return fmt.Errorf("phone %s rang %d times, want 1", p.Ext, n)
			}
			return nil
		})
	}
	check(d1, p1, "12333", "13900000001")
	check(d2, p2, "12345", "13900000002")

	labtest.Settle(t, 15*time.Second, l.rd.Addr, []*labtest.Gateway{l.g}, func() error {
		counted, err := labtest.CountedCalls(t, l.rd.Addr, "inbound")
		if err != nil {
			return err
		}
		if len(counted) != 2 {
			return fmt.Errorf("%d calls counted, want 2", len(counted))
		}
		if err := l.sink.CheckTickets(t, counted, 1); err != nil {
			return err
		}
		_, all := l.sink.Tickets(t)
		for id := range counted {
			tk := all[id]
			if tk["agentExtension"] == nil || tk["answeredAt"] == nil || tk["endReason"] != "completed" {
				return fmt.Errorf("ticket %s lacks agent/answer/end reason: %v", id, tk)
			}
		}
		return nil
	})
	if n := l.g.Metric("hotline_calls_answered_total", map[string]string{"line": "12333"}); n != 1 {
		t.Errorf("answered 12333 = %v, want 1", n)
	}
}

// Longest-idle order holds over a sequence of calls; an agent who does not
// answer is paused and the caller reaches the next agent.
func TestLongestIdleAndMissedCallGoesToNextAgent(t *testing.T) {
	l := startRoutingLab(t, "")
	labtest.StartPhone(t, "1003", labtest.Answer)
	labtest.StartPhone(t, "1004", labtest.Answer)
	labtest.StartPhone(t, "1005", labtest.NoAnswer)
	// Ready order = idle order: 1005 first (longest idle), then 1003, then 1004.
	d5 := labtest.OpenDesktop(t, l.g, "1005", "general")
	time.Sleep(50 * time.Millisecond)
	d3 := labtest.OpenDesktop(t, l.g, "1003", "general")
	time.Sleep(50 * time.Millisecond)
	d4 := labtest.OpenDesktop(t, l.g, "1004", "general")

	// Call 1: offered to 1005 (longest idle), which rings out; then 1003.
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Duration: 8 * time.Second}); res.Successful != 1 {
		t.Fatalf("call 1: %+v", res)
	}
	if len(d5.Offers()) != 1 || len(d3.Offers()) != 1 || len(d4.Offers()) != 0 {
		t.Fatalf("call 1 offers: 1005=%d 1003=%d 1004=%d, want 1,1,0", len(d5.Offers()), len(d3.Offers()), len(d4.Offers()))
	}
	if st := d5.State(t); st.State != hotlinev1.AgentState_AGENT_STATE_PAUSED || st.Reason != "missed_call" {
		t.Fatalf("agent 1005 after a missed call: %v %q, want PAUSED missed_call", st.State, st.Reason)
	}
	if k := progressKinds(d5, d5.Offers()[0].CallId); len(k) == 0 || k[0] != hotlinev1.CallProgress_KIND_MISSED {
		t.Errorf("agent 1005 progress = %v, want MISSED", k)
	}
	// Call 2: 1004 has been idle longest now (1003 just finished).
	labtest.Eventually(t, 5*time.Second, func() error {
		if s := d3.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
			return fmt.Errorf("agent 1003 is %v after its call", s)
		}
		return nil
	})
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Duration: time.Second}); res.Successful != 1 {
		t.Fatalf("call 2: %+v", res)
	}
	if len(d4.Offers()) != 1 || len(d3.Offers()) != 1 {
		t.Fatalf("call 2 went to the wrong agent: 1004 offers %d (want 1), 1003 offers %d (want 1)", len(d4.Offers()), len(d3.Offers()))
	}
	labtest.WaitNoChannels(t, 10*time.Second)
}

// With no agent logged in, the group's overflow runs after the queue timeout.
func TestOverflowWhenNoAgents(t *testing.T) {
	l := startRoutingLab(t, "  groups:\n    - {skill: falv, queue_timeout: 2s, overflow: message, overflow_message: \"sound:vm-goodbye\"}\n")
	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12348", Duration: 20 * time.Second, Ends: labtest.EndsByFarEnd})
	if res.Successful != 1 || res.AvgCallLength >= 20*time.Second {
		t.Fatalf("overflowed call should end normally (the gateway hangs up after the message): %+v", res)
	}
	labtest.Eventually(t, 5*time.Second, func() error {
		st, err := getStats(l.g, today(), today())
		if err != nil {
			return err
		}
		var ovf uint64
		for _, ls := range st.Lines {
			if ls.Line == "12348" {
				ovf = ls.Overflow
			}
		}
		if ovf != 1 || st.AbandonedQueue != 0 {
			return fmt.Errorf("overflow 12348 = %d (want 1), abandoned in queue = %d (want 0)", ovf, st.AbandonedQueue)
		}
		return nil
	})
	labtest.Eventually(t, 10*time.Second, func() error {
		_, all := l.sink.Tickets(t)
		for _, tk := range all {
			if tk["endReason"] == "overflow" {
				return nil
			}
		}
		return fmt.Errorf("no ticket with end reason overflow: %v", all)
	})
}

// Two gateway processes on one Redis route concurrent calls from one agent
// pool: no agent is ever offered a second call before its first ended.
func TestTwoGatewaysNeverOfferOneAgentTwoCalls(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	extra := labtest.AgentsYAML(sink.Addr, "")
	a := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: extra})
	b := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: extra, App: "hotline-gw-b"})
	exts := []string{"1001", "1002", "1003", "1004"}
	var desks []*labtest.Desktop
	var phones []*labtest.Phone
	for i, ext := range exts {
		phones = append(phones, labtest.StartPhone(t, ext, labtest.Answer, "-set", "ring", "300"))
		g := a
		if i%2 == 1 {
			g = b // desktops connected to either instance
		}
		desks = append(desks, labtest.OpenDesktop(t, g, ext, "general"))
	}
	// 24 calls, half through each instance, more than there are agents.
	ra := labtest.StartCalls(t, labtest.Calls{DID: "12345", Count: 12, Rate: 6, Duration: 1500 * time.Millisecond})
	rb := labtest.StartCalls(t, labtest.Calls{DID: "912345", Count: 12, Rate: 6, Duration: 1500 * time.Millisecond})
	if x, y := <-ra, <-rb; x.Successful != 12 || y.Successful != 12 {
		t.Fatalf("calls: via A %v\nvia B %v", x, y)
	}
	labtest.WaitNoChannels(t, 15*time.Second)
	offered := 0
	for _, d := range desks {
		// Between two offers an agent's desktop must have seen the first call end.
		open := ""
		for _, ev := range d.Events() {
			if o := ev.GetOffer(); o != nil {
				if open != "" {
					t.Fatalf("agent %s offered call %s while still on call %s", d.Ext, o.CallId, open)
				}
				open = o.CallId
				offered++
			}
			if p := ev.GetProgress(); p != nil && p.CallId == open &&
				(p.Kind == hotlinev1.CallProgress_KIND_ENDED || p.Kind == hotlinev1.CallProgress_KIND_MISSED) {
				open = ""
			}
		}
	}
	// The phones themselves: never two calls at once on one seat.
	rang := 0
	for _, p := range phones {
		peak, calls, err := p.PeakConcurrent()
		if err != nil {
			t.Fatal(err)
		}
		if peak > 1 {
			t.Errorf("phone %s had %d calls at once", p.Ext, peak)
		}
		rang += calls
	}
	answeredA := a.Metric("hotline_calls_answered_total", nil)
	answeredB := b.Metric("hotline_calls_answered_total", nil)
	t.Logf("%d offers, answered %v by A and %v by B, %d calls on the phones", offered, answeredA, answeredB, rang)
	if answeredA == 0 || answeredB == 0 {
		t.Errorf("answered by A %v, by B %v: both instances must route calls to the shared pool", answeredA, answeredB)
	}
	labtest.Settle(t, 15*time.Second, rd.Addr, []*labtest.Gateway{a, b}, func() error {
		st, err := getStats(a, today(), today())
		if err != nil {
			return err
		}
		// Each offer rings one phone once; it is answered unless the caller
		// hung up while it rang.
		if offered != rang || uint64(offered) != st.Answered+st.AbandonedRinging || float64(st.Answered) != answeredA+answeredB {
			return fmt.Errorf("offers %d, phone calls %d, answered %d (metrics A %v + B %v) + abandoned while ringing %d: want offers = phone calls = answered + abandoned ringing",
				offered, rang, st.Answered, answeredA, answeredB, st.AbandonedRinging)
		}
		if st.InboundTotal != 24 {
			return fmt.Errorf("inbound %d, want 24", st.InboundTotal)
		}
		return outcomesAddUp(st)
	})
	if offered < 4 {
		t.Fatalf("only %d offers in all; the test did not exercise the pool", offered)
	}
}

// Answered calls on a line with recording on are recorded through ARI; the
// recording's name is on the ticket and Asterisk has it stored.
func TestAnsweredCallIsRecorded(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Record: true, Extra: labtest.AgentsYAML(sink.Addr, "")})
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, g, "1001", "general")
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Duration: 2 * time.Second}); res.Successful != 1 {
		t.Fatalf("call: %+v", res)
	}
	callID := d.Offers()[0].CallId
	var name string
	labtest.Eventually(t, 10*time.Second, func() error {
		_, all := sink.Tickets(t)
		name, _ = all[callID]["recording"].(string)
		if name == "" {
			return fmt.Errorf("ticket %s has no recording: %v", callID, all[callID])
		}
		return nil
	})
	labtest.Eventually(t, 5*time.Second, func() error {
		var rec struct {
			Name string `json:"name"`
		}
		return labtest.ARIGet("/recordings/stored/"+name, &rec)
	})
}

// With no agent of the 12348 group logged in, a call to 12348 overflows at
// once to the general group (overflow_unstaffed), without waiting for the
// queue timeout.
func TestUnstaffedGroupOverflowsAtOnce(t *testing.T) {
	l := startRoutingLab(t, "  groups:\n    - {skill: falv, queue_timeout: 120s, overflow: group, overflow_group: general, overflow_unstaffed: true}\n")
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, l.g, "1001", "general")
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12348", Duration: 3 * time.Second}); res.Successful != 1 {
		t.Fatalf("call: %+v", res)
	}
	if o := d.Offers(); len(o) != 1 || o[0].Line != "12348" || o[0].Skill != "general" {
		t.Fatalf("general agent offers = %v, want the 12348 call in the general group", o)
	}
	if n := l.g.Metric("hotline_calls_answered_total", map[string]string{"line": "12348"}); n != 1 {
		t.Errorf("answered 12348 = %v, want 1 (counted on its own line)", n)
	}
}
