package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// admitFlag reads the dialplan's admit flag of hotline-gw from Asterisk:
// how many seconds old it is, or -1 when it is empty (the dialplan leaves
// calls unanswered).
func admitFlag(t *testing.T) int64 {
	t.Helper()
	var v struct {
		Value string `json:"value"`
	}
	if err := labtest.ARIGet("/asterisk/variable?variable=HOTLINE_ADMIT_hotline_gw", &v); err != nil {
		return -1 // never set: Asterisk answers 404
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return -1
	}
	return time.Now().Unix() - n
}

// A burst of calls against a gateway that takes at most 2 at once
// (admission.max_calls: 2, no agents): the first two are answered (by the
// dialplan, while the gateway's admit flag is fresh) and wait in the
// queue; the other four are refused before answer with congestion — SIPp
// sees SIP 503 — and counted shed, once each, in the metrics and in
// StatsService, with every outcome adding up to inbound. The two answered
// calls stay until their callers hang up, no channel is left in Asterisk,
// and once they have gone calls are taken again. The refused citizen gets
// a call-back task (reason shed), as the desk lists it.
func TestBurstOverTheAdmissionLimitIsRefusedWith503(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr},
		Extra: "admission: {max_calls: 2}\n"})
	labtest.Eventually(t, 5*time.Second, func() error {
		if age := admitFlag(t); age < 0 || age > 1 {
			return fmt.Errorf("admit flag HOTLINE_ADMIT_hotline_gw age %d s, want a fresh time (the dialplan answers)", age)
		}
		return nil
	})

	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Count: 6, Rate: 5, Duration: 4 * time.Second})
	if res.Successful != 2 || res.Failed != 4 || res.HungUpByFarEnd != 0 {
		t.Fatalf("burst of 6 over max_calls 2: want 2 answered (ended by their callers) and 4 refused before answer: %v", res)
	}
	labtest.WaitNoChannels(t, 5*time.Second)

	labtest.Settle(t, 15*time.Second, "" /* no ticket sink */, []*labtest.Gateway{g}, func() error {
		if got := g.Metric("hotline_calls_shed_total", map[string]string{"line": "12345", "reason": "calls"}); got != 4 {
			return fmt.Errorf("hotline_calls_shed_total{12345,calls} = %v, want 4", got)
		}
		if got := g.Metric("hotline_calls_total", map[string]string{"direction": "inbound", "line": "12345"}); got != 6 {
			return fmt.Errorf("hotline_calls_total{inbound,12345} = %v, want 6", got)
		}
		return nil
	})
	st := stats(t, g, today(), today())
	if st.InboundTotal != 6 || st.Shed != 4 || st.AbandonedQueue != 2 || st.Answered != 0 {
		t.Errorf("StatsService inbound %d, shed %d, abandoned in queue %d, answered %d; want 6, 4, 2 (no agents), 0",
			st.InboundTotal, st.Shed, st.AbandonedQueue, st.Answered)
	}
	for _, l := range st.Lines {
		if l.Line == "12345" && l.Shed != 4 {
			t.Errorf("line 12345 shed %d, want 4", l.Shed)
		}
	}
	if err := outcomesAddUp(st); err != nil {
		t.Error(err)
	}
	if n := strings.Count(g.Log(), "call refused with congestion: gateway saturated"); n != 4 {
		t.Errorf("%d calls logged as refused, want 4", n)
	}
	// The refused citizen is called back: SIPp's callers all have the
	// number 13800138000, so today there is one call-back task for it (one
	// per caller per day), listed as the desk lists it (HTTP/JSON), with an
	// attempt per missed call: the 4 refusals first (reason shed), then the
	// 2 callers who hung up waiting (last reason abandoned).
	labtest.Eventually(t, 10*time.Second, func() error {
		a := apiCall(t, g, "POST", "/api/v1/CallService/ListCallbacks", labtest.SupervisorToken, `{"day":"`+today()+`"}`)
		if a.status != 200 {
			return fmt.Errorf("ListCallbacks: %s", a)
		}
		cbs, _ := a.json["callbacks"].([]any)
		if len(cbs) != 1 {
			return fmt.Errorf("call-back tasks %s, want one for 13800138000", a)
		}
		cb, _ := cbs[0].(map[string]any)
		if cb["caller_number"] != "13800138000" || cb["line"] != "12345" || cb["state"] != "open" ||
			cb["reason"] != "shed" || cb["last_reason"] != "abandoned" || cb["attempts"] != float64(6) {
			return fmt.Errorf("call-back task %v, want 13800138000 on 12345, open, reason shed, last reason abandoned, 6 attempts", cb)
		}
		return nil
	})

	// The two calls have gone: the dialplan answers again, calls are taken.
	labtest.Eventually(t, 5*time.Second, func() error {
		if age := admitFlag(t); age < 0 || age > 1 {
			return fmt.Errorf("admit flag age %d s after the calls ended, want fresh", age)
		}
		return nil
	})
	if again := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Count: 1, Duration: time.Second}); again.Successful != 1 {
		t.Fatalf("a call after the burst: %v", again)
	}
	labtest.WaitNoChannels(t, 5*time.Second)
	// The dialplan answered the three calls taken: the gateway sent no
	// Answer, only the four refusals' hangups (and the callers hung up).
	if n := g.Metric("hotline_ari_request_duration_seconds", map[string]string{"op": "answer"}); n != 0 {
		t.Errorf("%v Answer requests, want none (the dialplan answered the known line)", n)
	}
	if n := g.Metric("hotline_ari_request_duration_seconds", map[string]string{"op": "hangup"}); n != 4 {
		t.Errorf("%v hangup requests, want the 4 refusals", n)
	}
}
