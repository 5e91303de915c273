package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
)

// holdParties checks for d that the call's bridge holds exactly want.
func holdParties(t *testing.T, d time.Duration, callID string, want ...string) {
	t.Helper()
	waitParties(t, callID, want...)
	labtest.Hold(t, d, func() error {
		got := bridgeParties(t, callID)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("bridge of call %s holds %v, want %v", callID, got, want)
		}
		return nil
	})
}

// The gateway is SIGKILLed during a three-party call with 110 and
// restarted: the citizen, the agent and 110 are still connected; the
// agent's Complete (on the new process) leaves the citizen with 110; the
// ticket, delivered once, carries the whole transfer once: to 110,
// three-party, completed, told to 110 as well.
func TestGatewayKilledDuringThreePartyCallWith110(t *testing.T) {
	pl, plAddr := startPoliceLink(t)
	l := startRoutingLabExtra(t, "", fmt.Sprintf("transfer: {ring_timeout: 4s, dial_timeout: 4s, police_link: %q}\n", plAddr))
	police110 := labtest.StartUAS(t, "110", 5310, labtest.Answer)
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, l.g, "1001", "general")
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Duration: 30 * time.Second})
	callID := waitOffer(t, d)
	waitParties(t, callID, caller, agent1)
	tc := transferClient(t, l.g)
	ctx, cancel := agentCtx(d)
	defer cancel()
	if _, err := tc.Transfer(ctx, &hotlinev1.TransferRequest{CallId: callID, Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110,
		Mode: hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY, Note: "consult 110"}); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	waitParties(t, callID, caller, agent1, police)

	oldPID := l.g.PID()
	l.g.Kill()
	l.g.Start()
	l.g.WaitReady(30 * time.Second)
	if l.g.PID() == oldPID {
		t.Fatalf("gateway still has PID %d", oldPID)
	}
	l.g.WaitLog(10*time.Second, `msg="adopted call resumed connected" call_id=`+callID)
	holdParties(t, 3*time.Second, callID, caller, agent1, police)

	ctx2, cancel2 := agentCtx(d)
	defer cancel2()
	resp, err := tc.Complete(ctx2, &hotlinev1.CompleteTransferRequest{CallId: callID})
	if err != nil {
		t.Fatalf("Complete after the restart: %v", err)
	}
	if resp.Transfer.State != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED {
		t.Errorf("after Complete: %v", resp.Transfer)
	}
	holdParties(t, 3*time.Second, callID, caller, police)
	if res := <-done; res.Successful != 1 {
		t.Fatalf("caller: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	if n := police110.Calls(); n != 1 {
		t.Errorf("110 received %d calls, want 1", n)
	}

	labtest.Eventually(t, 15*time.Second, func() error {
		counted, err := labtest.CountedCalls(t, l.rd.Addr, "inbound")
		if err != nil {
			return err
		}
		if len(counted) != 1 || !counted[callID] {
			return fmt.Errorf("counted inbound %v, want only %s", counted, callID)
		}
		if err := l.sink.CheckTickets(t, counted, 1); err != nil {
			return err
		}
		_, all := l.sink.Tickets(t)
		tk := all[callID]
		xs, _ := tk["transfers"].([]any)
		if len(xs) != 1 {
			return fmt.Errorf("ticket transfers %v, want exactly one", tk["transfers"])
		}
		x, _ := xs[0].(map[string]any)
		if x["direction"] != "to110" || x["mode"] != "TRANSFER_MODE_THREE_PARTY" || x["state"] != "TRANSFER_STATE_COMPLETED" ||
			x["outcome"] != "completed" || x["agentExtension"] != "1001" || x["note"] != "consult 110" {
			return fmt.Errorf("ticket's transfer %v, want to110 three-party completed by 1001 with its note", x)
		}
		if tk["endReason"] != "transferred" {
			return fmt.Errorf("ticket end reason %v, want transferred", tk["endReason"])
		}
		return nil
	})
	labtest.Eventually(t, 5*time.Second, func() error {
		r := pl.last()
		if r == nil || r.CallId != callID || r.State != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED ||
			r.Mode != hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY {
			return fmt.Errorf("110 was last told %v, want the completed three-party record", r)
		}
		return nil
	})
	labtest.Eventually(t, 10*time.Second, func() error {
		if s := d.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
			return fmt.Errorf("agent 1001 is %v, want READY", s)
		}
		return nil
	})
}
