package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// Agent 1001 answers a SIPp call and sets ANSWERED_ON_SPOT during it over
// the API; a second call gets FORWARDED_TO_DEPARTMENT after it ended,
// within the disposition window. Then 1001 makes a follow-up call (回访) of
// call 1's ticket to a SIPp citizen and records SATISFIED after it. The
// tickets carry them (each delivered once; the follow-up's its verdict and
// link), StatsService and hotlinectl report say 当即答复 1 / 网络转办 1 and
// count the verdict in 满意率, and another agent's token is refused for
// 1001's calls.
func TestDispositionsOnTicketsAndReport(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr},
		Extra: labtest.AgentsYAML("", "") + fmt.Sprintf("tickets: {sink: %q, disposition_window: 30s}\n", sink.Addr)})
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, g, "1001", "general")
	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	dc := hotlinev1.NewDispositionServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	agent := d.Auth(ctx)
	other := labtest.WithToken(ctx, labtest.AgentToken("1002"))

	offer := func(n int) string {
		t.Helper()
		var id string
		labtest.Eventually(t, 15*time.Second, func() error {
			if o := d.Offers(); len(o) >= n {
				id = o[n-1].CallId
				return nil
			}
			return fmt.Errorf("agent 1001 got %d screen pops, want %d", len(d.Offers()), n)
		})
		return id
	}

	// Call 1: the disposition during the call.
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13900000201", Duration: 6 * time.Second})
	call1 := offer(1)
	var resp *hotlinev1.SetDispositionResponse
	labtest.Eventually(t, 10*time.Second, func() error { // once the agent's leg is answered
		resp, err = dc.SetDisposition(agent, &hotlinev1.SetDispositionRequest{CallId: call1,
			Code: hotlinev1.DispositionCode_DISPOSITION_CODE_ANSWERED_ON_SPOT, Note: "社保缴费咨询，当即答复"})
		return err
	})
	if resp.AfterCall || resp.Disposition.GetSetBy() != "agent 1001" {
		t.Errorf("SetDisposition during the call: %v", resp)
	}
	if _, err := dc.SetDisposition(other, &hotlinev1.SetDispositionRequest{CallId: call1,
		Code: hotlinev1.DispositionCode_DISPOSITION_CODE_CONSULTATION_ONLY}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("agent 1002 setting 1001's call: %v; want PermissionDenied", err)
	}
	if res := <-done; res.Successful != 1 {
		t.Fatalf("call 1: %+v", res)
	}

	// Call 2: the disposition after the call, within the window.
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Caller: "13900000202", Duration: 3 * time.Second}); res.Successful != 1 {
		t.Fatalf("call 2: %+v", res)
	}
	call2 := offer(2)
	labtest.WaitNoChannels(t, 10*time.Second)
	if _, err := dc.SetDisposition(other, &hotlinev1.SetDispositionRequest{CallId: call2,
		Code: hotlinev1.DispositionCode_DISPOSITION_CODE_ANSWERED_ON_SPOT}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("agent 1002 setting 1001's ended call: %v; want PermissionDenied", err)
	}
	resp, err = dc.SetDisposition(agent, &hotlinev1.SetDispositionRequest{CallId: call2,
		Code: hotlinev1.DispositionCode_DISPOSITION_CODE_FORWARDED_TO_DEPARTMENT, Department: "市人力资源和社会保障局"})
	if err != nil || !resp.AfterCall {
		t.Fatalf("SetDisposition after the call: %v, %v; want after_call", resp, err)
	}

	// Call 3: agent 1001's follow-up call (回访) of call 1's ticket to a
	// SIPp citizen, who says 满意; the verdict after the call, in the window.
	citizen := labtest.StartUAS(t, "citizen", citizenPort, "uas_answer_hangup.xml", "-d", "2000")
	fu, err := callClient(t, g).Originate(agent, &hotlinev1.OriginateRequest{AgentExtension: "1001", Number: "138-0013-8000",
		Purpose: hotlinev1.CallPurpose_CALL_PURPOSE_FOLLOW_UP, TicketId: call1})
	if err != nil || fu.Result != "connected" {
		t.Fatalf("Originate follow-up: %v, %v", fu, err)
	}
	labtest.WaitNoChannels(t, 15*time.Second)
	if n := citizen.Calls(); n != 1 {
		t.Errorf("citizen phone rang %d times, want 1", n)
	}
	verdict := &hotlinev1.SetFollowUpVerdictRequest{CallId: fu.CallId, Verdict: hotlinev1.FollowUpVerdict_FOLLOW_UP_VERDICT_SATISFIED, Note: "问题已解决"}
	if _, err := dc.SetFollowUpVerdict(other, verdict); status.Code(err) != codes.PermissionDenied {
		t.Errorf("agent 1002 setting 1001's follow-up verdict: %v; want PermissionDenied", err)
	}
	if _, err := dc.SetFollowUpVerdict(agent, &hotlinev1.SetFollowUpVerdictRequest{CallId: call2,
		Verdict: hotlinev1.FollowUpVerdict_FOLLOW_UP_VERDICT_SATISFIED}); status.Code(err) == codes.OK {
		t.Errorf("a follow-up verdict on inbound call 2 was accepted")
	}
	fr, err := dc.SetFollowUpVerdict(agent, verdict)
	if err != nil || !fr.AfterCall || fr.LinkedTicketId != call1 || fr.Result.GetSetBy() != "agent 1001" {
		t.Fatalf("SetFollowUpVerdict after the call: %v, %v; want after_call, linked to %s", fr, err, call1)
	}

	// The three tickets, once each, with their dispositions and the verdict.
	want := map[string]string{call1: "DISPOSITION_CODE_ANSWERED_ON_SPOT", call2: "DISPOSITION_CODE_FORWARDED_TO_DEPARTMENT"}
	labtest.Eventually(t, 15*time.Second, func() error {
		return sink.CheckTickets(t, map[string]bool{call1: true, call2: true, fu.CallId: true}, 1)
	})
	_, tickets := sink.Tickets(t)
	if tk := tickets[fu.CallId]; tk["linkedTicketId"] != call1 || tk["direction"] != "DIRECTION_OUTBOUND" {
		t.Errorf("follow-up ticket %v; want outbound, linked to %s", tk, call1)
	} else if r, _ := tk["followUpResult"].(map[string]any); r["verdict"] != "FOLLOW_UP_VERDICT_SATISFIED" || r["note"] != "问题已解决" {
		t.Errorf("follow-up ticket result %v; want SATISFIED", tk["followUpResult"])
	}
	for id, code := range want {
		disp, _ := tickets[id]["disposition"].(map[string]any)
		if disp["code"] != code {
			t.Errorf("ticket %s disposition %v; want %s", id, tickets[id]["disposition"], code)
		}
	}
	if disp, _ := tickets[call2]["disposition"].(map[string]any); disp["department"] != "市人力资源和社会保障局" {
		t.Errorf("ticket %s department %v", call2, disp)
	}

	// StatsService and hotlinectl report: 当即答复 1, 网络转办 1.
	labtest.Eventually(t, 10*time.Second, func() error {
		st, err := getStats(g, today(), today())
		if err != nil {
			return err
		}
		if st.AnsweredOnSpot != 1 || st.ForwardedToDepartment != 1 {
			return fmt.Errorf("stats: answered on spot %d, forwarded %d; want 1 and 1", st.AnsweredOnSpot, st.ForwardedToDepartment)
		}
		if st.FollowUpSatisfied != 1 || st.FollowUpBasicallySatisfied+st.FollowUpDissatisfied != 0 || st.OverallSatisfactionRate != 1 {
			return fmt.Errorf("stats: follow-up %d/%d/%d, overall rate %v; want 1/0/0, 1", st.FollowUpSatisfied,
				st.FollowUpBasicallySatisfied, st.FollowUpDissatisfied, st.OverallSatisfactionRate)
		}
		return nil
	})
	out := hotlinectl(t, "report", "--addr", g.GRPC, "--from", today())
	if want := "热线当即答复 1 件，网络转办 1 件。"; !strings.Contains(out, want) {
		t.Errorf("report does not say %q:\n%s", want, out)
	}
	if want := "满意度评价 1 次(按键评价 0 次，回访 1 次)，满意 1 次(回访满意 1 次、基本满意 0 次)，满意率 100.00%。"; !strings.Contains(out, want) {
		t.Errorf("report does not say %q:\n%s", want, out)
	}
	rows := table(t, out, "线路", true)
	if total := rows[len(rows)-1]; total[0] != "合计" || total[len(total)-2] != "1" || total[len(total)-1] != "1" {
		t.Errorf("report total row %q; want 当即答复 1, 网络转办 1 last", total)
	}
	recs := csvRecords(t, hotlinectl(t, "report", "--addr", g.GRPC, "--from", today(), "--format", "csv"))
	if h, tot := recs[0], recs[len(recs)-1]; h[len(h)-2] != "当即答复" || h[len(h)-1] != "网络转办" || tot[len(tot)-2] != "1" || tot[len(tot)-1] != "1" {
		t.Errorf("report CSV header %q total %q", h, tot)
	}
}
