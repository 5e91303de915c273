package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
)

const citizenPort = 5400

func callClient(t *testing.T, g *labtest.Gateway) hotlinev1.CallServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hotlinev1.NewCallServiceClient(conn)
}

func outboundLab(t *testing.T) *routingLab {
	return startRoutingLabExtra(t, "", "outbound: {citizen_ring_timeout: 5s}\n")
}

// An originate rings the agent, then the citizen; both are connected, the
// call is counted once as outbound and its ticket links the followed-up
// ticket. Busy and unanswered citizens give their reasons.
func TestOriginateFollowUpAndFailureReasons(t *testing.T) {
	for _, tt := range []struct {
		name, citizen, want string
	}{
		{"connected", "uas_answer_hangup.xml", "connected"}, // the citizen hangs up after -d
		{"busy", labtest.Busy, "busy"},
		{"no answer", labtest.NoAnswer, "no_answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := outboundLab(t)
			labtest.StartPhone(t, "1001", labtest.Answer)
			citizen := labtest.StartUAS(t, "citizen", citizenPort, tt.citizen, "-d", "2000")
			d := labtest.OpenDesktop(t, l.g, "1001", "general")
			cc := callClient(t, l.g)
			ctx, cancel := agentCtx(d)
			defer cancel()
			resp, err := cc.Originate(ctx, &hotlinev1.OriginateRequest{AgentExtension: "1001", Number: "138-0013-8000",
				Purpose: hotlinev1.CallPurpose_CALL_PURPOSE_FOLLOW_UP, TicketId: "T-2023-0001"})
			if err != nil {
				t.Fatalf("Originate: %v", err)
			}
			if resp.Result != tt.want {
				t.Fatalf("result = %q, want %q", resp.Result, tt.want)
			}
			labtest.WaitNoChannels(t, 15*time.Second)
			labtest.Eventually(t, 5*time.Second, func() error {
				if n := citizen.Calls(); n != 1 {
					return fmt.Errorf("citizen phone rang %d times, want 1", n)
				}
				return nil
			})
			labtest.Eventually(t, 10*time.Second, func() error {
				_, all := l.sink.Tickets(t)
				tk, ok := all[resp.CallId]
				if !ok {
					return fmt.Errorf("no ticket for %s", resp.CallId)
				}
				if tk["direction"] != "DIRECTION_OUTBOUND" || tk["linkedTicketId"] != "T-2023-0001" || tk["purpose"] != "follow_up" ||
					tk["endReason"] != tt.want || tk["calledNumber"] != "13800138000" {
					return fmt.Errorf("ticket = %v", tk)
				}
				return nil
			})
			st := stats(t, l.g, today(), today())
			if st.OutboundTotal != 1 || st.InboundTotal != 0 {
				t.Errorf("outbound %d inbound %d, want 1 and 0", st.OutboundTotal, st.InboundTotal)
			}
			if n := l.g.Metric("hotline_outbound_calls_total", map[string]string{"purpose": "follow_up", "result": tt.want}); n != 1 {
				t.Errorf("hotline_outbound_calls_total{follow_up,%s} = %v", tt.want, n)
			}
			if s := d.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
				t.Errorf("agent after its outbound call: %v, want READY as before", s)
			}
		})
	}
}

// Invalid, foreign, premium-rate or injection-laden numbers are refused
// with a clear error, and nothing is dialled.
func TestOriginateRefusesBadNumbers(t *testing.T) {
	l := outboundLab(t)
	agentPhone := labtest.StartPhone(t, "1001", labtest.Answer)
	citizen := labtest.StartUAS(t, "citizen", citizenPort, labtest.Answer)
	d := labtest.OpenDesktop(t, l.g, "1001", "general")
	cc := callClient(t, l.g)
	ctx, cancel := agentCtx(d)
	defer cancel()
	for _, n := range []string{"", "110", "120", "+14155550123", "0085212345678", "95588", "4008001234", "12345",
		"13800138000&Local/evil@default", "13800138000,1", "sip:13800138000@evil", "1380013800\n0", "${EXTEN}", "abc", "1380013800012345"} {
		_, err := cc.Originate(ctx, &hotlinev1.OriginateRequest{AgentExtension: "1001", Number: n, Purpose: hotlinev1.CallPurpose_CALL_PURPOSE_FOLLOW_UP})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("number %q: %v, want InvalidArgument", n, err)
		}
	}
	_, err := cc.Originate(ctx, &hotlinev1.OriginateRequest{AgentExtension: "1002", Number: "13800138000", Purpose: hotlinev1.CallPurpose_CALL_PURPOSE_FOLLOW_UP})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("originate for another agent: %v, want PermissionDenied", err)
	}
	time.Sleep(1500 * time.Millisecond) // SIPp writes its counts every second
	for _, ch := range labtest.Channels(t) {
		if strings.HasPrefix(ch, "PJSIP/agent1001") || strings.HasPrefix(ch, "PJSIP/citizen") {
			t.Errorf("something was dialled: %s", ch)
		}
	}
	if agentPhone.Calls() > 0 || citizen.Calls() > 0 {
		t.Errorf("phones rang: agent %d, citizen %d", agentPhone.Calls(), citizen.Calls())
	}
}

// A caller abandoned in the queue appears once in the call-back list (also
// after a second abandoned call); an agent claims the task and calls back.
func TestAbandonedCallerIsCalledBack(t *testing.T) {
	l := outboundLab(t)
	for i := 0; i < 2; i++ {
		if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Caller: "13912345678", Duration: time.Second}); res.Successful != 1 {
			t.Fatalf("call %d: %+v", i, res)
		}
	}
	labtest.StartPhone(t, "1001", labtest.Answer)
	labtest.StartUAS(t, "citizen", citizenPort, "uas_answer_hangup.xml", "-d", "1500")
	d := labtest.OpenDesktop(t, l.g, "1001", "general")
	cc := callClient(t, l.g)
	ctx, cancel := agentCtx(d)
	defer cancel()
	var task *hotlinev1.CallbackTask
	labtest.Eventually(t, 5*time.Second, func() error {
		resp, err := cc.ListCallbacks(ctx, &hotlinev1.ListCallbacksRequest{OpenOnly: true})
		if err != nil {
			return err
		}
		if len(resp.Callbacks) != 1 {
			return fmt.Errorf("%d call-back tasks, want 1: %v", len(resp.Callbacks), resp.Callbacks)
		}
		task = resp.Callbacks[0]
		return nil
	})
	// An agent sees an unclaimed task's number masked; a supervisor sees it whole.
	if task.CallerNumber != "139****5678" || task.Line != "12333" {
		t.Fatalf("task as agent 1001 sees it = %v, want the number masked 139****5678", task)
	}
	// Why: both calls hung up waiting (not refused with congestion).
	if task.Reason != "abandoned" || task.LastReason != "abandoned" || task.Attempts != 2 {
		t.Errorf("task reason %q, last reason %q, attempts %d; want abandoned, abandoned, 2 (the two calls)", task.Reason, task.LastReason, task.Attempts)
	}
	sctx, scancel := context.WithTimeout(labtest.AsSupervisor(context.Background()), 10*time.Second)
	defer scancel()
	sup, err := cc.ListCallbacks(sctx, &hotlinev1.ListCallbacksRequest{OpenOnly: true})
	if err != nil || len(sup.Callbacks) != 1 || sup.Callbacks[0].CallerNumber != "13912345678" {
		t.Fatalf("tasks as the supervisor sees them = %v (%v), want one with 13912345678", sup.GetCallbacks(), err)
	}
	claimed, err := cc.ClaimCallback(ctx, &hotlinev1.ClaimCallbackRequest{CallbackId: task.CallbackId, AgentExtension: "1001"})
	if err != nil {
		t.Fatalf("ClaimCallback: %v", err)
	}
	if claimed.CallerNumber != "13912345678" {
		t.Errorf("the claimed task's number = %q, want 13912345678 (the claimant dials it)", claimed.CallerNumber)
	}
	mine, err := cc.ListCallbacks(ctx, &hotlinev1.ListCallbacksRequest{})
	if err != nil || len(mine.Callbacks) != 1 || mine.Callbacks[0].CallerNumber != "13912345678" {
		t.Errorf("tasks after the claim as agent 1001 sees them = %v (%v), want its own claimed task's number whole", mine.GetCallbacks(), err)
	}
	resp, err := cc.Originate(ctx, &hotlinev1.OriginateRequest{AgentExtension: "1001", Purpose: hotlinev1.CallPurpose_CALL_PURPOSE_CALLBACK,
		CallbackId: task.CallbackId, Line: "12333"})
	if err != nil || resp.Result != "connected" {
		t.Fatalf("call-back: %v %v", resp, err)
	}
	labtest.WaitNoChannels(t, 15*time.Second)
	labtest.Eventually(t, 5*time.Second, func() error {
		all, err := cc.ListCallbacks(ctx, &hotlinev1.ListCallbacksRequest{})
		if err != nil {
			return err
		}
		if len(all.Callbacks) != 1 || all.Callbacks[0].State != "done" || all.Callbacks[0].OutboundCallId != resp.CallId {
			return fmt.Errorf("tasks after the call-back: %v", all.Callbacks)
		}
		return nil
	})
}

// The agent hangs up first: the caller is asked to rate the call. "1"
// (RFC 2833 from SIPp) is satisfied; no key is "no answer".
func TestPostCallSurvey(t *testing.T) {
	l := startRoutingLabExtra(t, "", "survey: {enabled: true, timeout: 3s}\n")
	labtest.StartPhone(t, "1001", "uas_answer_hangup.xml", "-d", "1500")
	d := labtest.OpenDesktop(t, l.g, "1001", "general")
	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Scenario: "uac_survey.xml", Duration: 4 * time.Second,
		Extra: []string{"-set", "caller", "13800000001", "-mi", "127.0.0.1"}})
	if res.Successful != 1 {
		t.Fatalf("surveyed call: %+v", res)
	}
	first := waitOffer(t, d)
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Eventually(t, 5*time.Second, func() error {
		if s := d.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
			return fmt.Errorf("agent %v", s)
		}
		return nil
	})
	// No key: the caller just waits after the agent hung up.
	// The gateway hangs up after the survey's 3 s, long before the caller's 20 s.
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Duration: 20 * time.Second, Ends: labtest.EndsByFarEnd}); res.Successful != 1 || res.AvgCallLength >= 20*time.Second {
		t.Fatalf("unrated call: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Eventually(t, 5*time.Second, func() error {
		if s := d.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
			return fmt.Errorf("agent %v", s)
		}
		return nil
	})
	// "2": unsatisfied (RFC 2833 from a pcap written by labtest).
	offers := len(d.Offers())
	res = labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Scenario: surveyScenario(t, '2'), Duration: 4 * time.Second,
		Extra: []string{"-set", "caller", "13800000003", "-mi", "127.0.0.1"}})
	if res.Successful != 1 {
		t.Fatalf("call rated 2: %v", res)
	}
	if o := d.Offers(); len(o) != offers+1 {
		t.Fatalf("call rated 2 did not reach the agent: %d offers", len(o))
	}
	unsatisfied := d.Offers()[offers].CallId
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Settle(t, 10*time.Second, l.rd.Addr, []*labtest.Gateway{l.g}, func() error {
		counted, err := labtest.CountedCalls(t, l.rd.Addr, "inbound")
		if err != nil {
			return err
		}
		if err := l.sink.CheckTickets(t, counted, 1); err != nil {
			return err
		}
		_, all := l.sink.Tickets(t)
		if len(all) != 3 {
			return fmt.Errorf("%d tickets, want 3", len(all))
		}
		for id, tk := range all {
			want := "no_answer"
			switch id {
			case first:
				want = "satisfied"
			case unsatisfied:
				want = "unsatisfied"
			}
			if tk["satisfaction"] != want {
				return fmt.Errorf("ticket %s satisfaction = %v, want %s", id, tk["satisfaction"], want)
			}
		}
		return nil
	})
	// The agent's desktop is told each rating (the desk shows it).
	labtest.Eventually(t, 5*time.Second, func() error {
		got := map[string]string{}
		for _, ev := range d.Events() {
			if p := ev.GetProgress(); p != nil && strings.HasPrefix(p.Detail, "survey:") {
				got[p.CallId] = p.Detail
			}
		}
		if got[first] != "survey:satisfied" || got[unsatisfied] != "survey:unsatisfied" || len(got) != 3 {
			return fmt.Errorf("survey results on the desktop: %v", got)
		}
		return nil
	})
	for result, want := range map[string]float64{"satisfied": 1, "unsatisfied": 1, "no_answer": 1} {
		if n := l.g.Metric("hotline_satisfaction_total", map[string]string{"line": "12345", "result": result}); n != want {
			t.Errorf("hotline_satisfaction_total{12345,%s} = %v, want %v", result, n, want)
		}
	}
	st := stats(t, l.g, today(), today())
	if st.Satisfied != 1 || st.Unsatisfied != 1 || st.SurveyNoAnswer != 1 || st.SatisfactionRate != 0.5 {
		t.Errorf("stats: satisfied %d (want 1), unsatisfied %d (want 1), no answer %d (want 1), rate %v (want 0.5)", st.Satisfied, st.Unsatisfied, st.SurveyNoAnswer, st.SatisfactionRate)
	}
}

// surveyScenario writes uac_survey.xml pressing digit instead of "1" (a
// pcap of its RFC 4733 events) and returns the scenario's path.
func surveyScenario(t *testing.T, digit rune) string {
	t.Helper()
	dir := t.TempDir()
	pcap := filepath.Join(dir, "dtmf.pcap")
	if err := labtest.WriteDTMFPcap(pcap, string(digit)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(labtest.RepoRoot(), "lab", "sipp", "uac_survey.xml"))
	if err != nil {
		t.Fatal(err)
	}
	const shipped = `play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"`
	if !bytes.Contains(b, []byte(shipped)) {
		t.Fatalf("uac_survey.xml no longer plays %s", shipped)
	}
	b = bytes.Replace(b, []byte(shipped), []byte(`play_pcap_audio="`+pcap+`"`), 1)
	path := filepath.Join(dir, "uac_survey.xml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
