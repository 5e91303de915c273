package e2e

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
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

// transferYAML shortens the transfer timeouts for the lab.
const transferYAML = "transfer: {ring_timeout: 4s, dial_timeout: 4s}\n"

// bridgeParties returns the names of the channels in the call's bridge,
// sorted, with the per-channel suffix cut ("PJSIP/police110", "PJSIP/trunk").
func bridgeParties(t *testing.T, callID string) []string {
	t.Helper()
	var b struct {
		Channels []string `json:"channels"`
	}
	if err := labtest.ARIGet("/bridges/br-"+callID, &b); err != nil {
		return nil
	}
	var names []string
	for _, id := range b.Channels {
		var ch struct {
			Name string `json:"name"`
		}
		if err := labtest.ARIGet("/channels/"+id, &ch); err != nil {
			continue
		}
		name := ch.Name
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func waitParties(t *testing.T, callID string, want ...string) {
	t.Helper()
	sort.Strings(want)
	labtest.Eventually(t, 15*time.Second, func() error {
		got := bridgeParties(t, callID)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("bridge of call %s holds %v, want %v", callID, got, want)
		}
		return nil
	})
}

// waitOffer waits for the desktop's first screen pop and returns its call ID.
func waitOffer(t *testing.T, d *labtest.Desktop) string {
	t.Helper()
	var id string
	labtest.Eventually(t, 10*time.Second, func() error {
		if o := d.Offers(); len(o) > 0 {
			id = o[0].CallId
			return nil
		}
		return fmt.Errorf("agent %s got no screen pop", d.Ext)
	})
	return id
}

func transferClient(t *testing.T, g *labtest.Gateway) hotlinev1.TransferServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hotlinev1.NewTransferServiceClient(conn)
}

func agentCtx(d *labtest.Desktop) (context.Context, context.CancelFunc) {
	return context.WithTimeout(d.Auth(context.Background()), 10*time.Second)
}

func lastTransfer(t *testing.T, tc hotlinev1.TransferServiceClient, d *labtest.Desktop, callID string) *hotlinev1.TransferRecord {
	t.Helper()
	ctx, cancel := agentCtx(d)
	defer cancel()
	resp, err := tc.ListTransfers(ctx, &hotlinev1.ListTransfersRequest{CallId: callID})
	if err != nil {
		t.Fatalf("ListTransfers: %v", err)
	}
	if len(resp.Transfers) == 0 {
		t.Fatalf("no transfer recorded for call %s", callID)
	}
	return resp.Transfers[len(resp.Transfers)-1]
}

const (
	caller = "PJSIP/trunk"
	agent1 = "PJSIP/agent1001"
	agent8 = "PJSIP/agent1008"
	police = "PJSIP/police110"
)

// The agent presses *1: the caller ends up talking to 110 and the agent is
// freed; the record, the metric and the ticket show the transfer.
func TestBlindTransferByDTMF(t *testing.T) {
	rl := startTransferLab(t)
	labtest.StartUAS(t, "110", 5310, labtest.Answer)
	labtest.StartPhone(t, "1001", "uas_answer_dtmf_info.xml", "-d", "1500", "-set", "digits", "*1")
	d := labtest.OpenDesktop(t, rl.g, "1001", "general")
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Duration: 8 * time.Second})
	callID := waitOffer(t, d)
	waitParties(t, callID, caller, police)
	rec := lastTransfer(t, transferClient(t, rl.g), d, callID)
	if rec.Mode != hotlinev1.TransferMode_TRANSFER_MODE_BLIND || rec.State != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED || rec.Direction != "to110" {
		t.Errorf("record = %v", rec)
	}
	labtest.Eventually(t, 5*time.Second, func() error {
		if s := d.State(t).State; s != hotlinev1.AgentState_AGENT_STATE_READY {
			return fmt.Errorf("agent is %v after the blind transfer, want READY (freed)", s)
		}
		return nil
	})
	if res := <-done; res.Successful != 1 {
		t.Fatalf("caller: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	if n := rl.g.Metric("hotline_transfers_total", map[string]string{"direction": "to110", "mode": "blind", "result": "completed"}); n != 1 {
		t.Errorf("hotline_transfers_total{to110,blind,completed} = %v, want 1", n)
	}
	labtest.Eventually(t, 10*time.Second, func() error {
		_, all := rl.sink.Tickets(t)
		tk, ok := all[callID]
		if !ok {
			return fmt.Errorf("no ticket for %s", callID)
		}
		if xs, _ := tk["transfers"].([]any); len(xs) != 1 {
			return fmt.Errorf("ticket transfers = %v", tk["transfers"])
		}
		return nil
	})
}

type transferLab struct {
	g    *labtest.Gateway
	sink *labtest.Sink
	rd   *redistest.Server
}

func startTransferLab(t *testing.T) *transferLab {
	t.Helper()
	l := startRoutingLabExtra(t, "", transferYAML)
	return &transferLab{g: l.g, sink: l.sink, rd: l.rd}
}

// police110 is the 110 platform's PoliceLink service: it collects the
// transfer records the gateway pushes.
type police110 struct {
	hotlinev1.UnimplementedPoliceLinkServer
	mu   sync.Mutex
	recs []*hotlinev1.TransferRecord
}

func (p *police110) NotifyTransfer(ctx context.Context, r *hotlinev1.TransferRecord) (*hotlinev1.NotifyTransferResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs = append(p.recs, r)
	return &hotlinev1.NotifyTransferResponse{}, nil
}

func (p *police110) last() *hotlinev1.TransferRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recs) == 0 {
		return nil
	}
	return p.recs[len(p.recs)-1]
}

// startPoliceLink serves a PoliceLink on loopback and returns its address.
func startPoliceLink(t *testing.T) (*police110, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &police110{}
	s := grpc.NewServer()
	hotlinev1.RegisterPoliceLinkServer(s, p)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return p, ln.Addr().String()
}

// The agent presses *1 on a phone that sends RFC 2833 events (agent 1008):
// the same blind transfer.
func TestBlindTransferByRFC2833(t *testing.T) {
	rl := startTransferLab(t)
	labtest.StartUAS(t, "110", 5310, labtest.Answer)
	labtest.StartRFC2833Phone(t, "1008", "*1", 1500*time.Millisecond)
	d := labtest.OpenDesktop(t, rl.g, "1008", "general")
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Duration: 8 * time.Second})
	callID := waitOffer(t, d)
	waitParties(t, callID, caller, police)
	rec := lastTransfer(t, transferClient(t, rl.g), d, callID)
	if rec.Mode != hotlinev1.TransferMode_TRANSFER_MODE_BLIND || rec.State != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED {
		t.Errorf("record = %v", rec)
	}
	if res := <-done; res.Successful != 1 {
		t.Fatalf("caller: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
}

// The agent presses *2 (RFC 2833): 110 joins caller and agent; Complete
// lets the agent leave, the caller stays with 110.
func TestThreePartyByDTMFThenComplete(t *testing.T) {
	pl, plAddr := startPoliceLink(t)
	l := startRoutingLabExtra(t, "", fmt.Sprintf("transfer: {ring_timeout: 4s, dial_timeout: 4s, police_link: %q}\n", plAddr))
	rl := &transferLab{g: l.g, sink: l.sink}
	labtest.StartUAS(t, "110", 5310, labtest.Answer)
	labtest.StartRFC2833Phone(t, "1008", "*2", 1500*time.Millisecond)
	d := labtest.OpenDesktop(t, rl.g, "1008", "general")
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Duration: 10 * time.Second})
	callID := waitOffer(t, d)
	waitParties(t, callID, caller, agent8, police)
	tc := transferClient(t, rl.g)
	ctx, cancel := agentCtx(d)
	defer cancel()
	resp, err := tc.Complete(ctx, &hotlinev1.CompleteTransferRequest{CallId: callID})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Transfer.State != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED {
		t.Errorf("after Complete: %v", resp.Transfer)
	}
	waitParties(t, callID, caller, police)
	if res := <-done; res.Successful != 1 {
		t.Fatalf("caller: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	if n := rl.g.Metric("hotline_transfers_total", map[string]string{"direction": "to110", "mode": "three_party", "result": "completed"}); n != 1 {
		t.Errorf("hotline_transfers_total{to110,three_party,completed} = %v, want 1", n)
	}
	labtest.Eventually(t, 5*time.Second, func() error {
		r := pl.last()
		if r == nil || r.CallId != callID || r.State != hotlinev1.TransferState_TRANSFER_STATE_COMPLETED ||
			r.Mode != hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY || r.AgentExtension != "1008" {
			return fmt.Errorf("110 received %v", r)
		}
		return nil
	})
}

// 110 busy, 110 not answering, and Cancel in a three-party call: the caller
// is still connected to the agent each time.
func TestTransferFailuresKeepCallerWithAgent(t *testing.T) {
	for _, tt := range []struct {
		name    string
		police  string
		cancel  bool
		outcome string
	}{
		{"110 busy", labtest.Busy, false, "busy"},
		{"110 no answer", labtest.NoAnswer, false, "no_answer"},
		{"cancel in three-party", labtest.Answer, true, "cancelled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := startTransferLab(t)
			labtest.StartUAS(t, "110", 5310, tt.police)
			labtest.StartPhone(t, "1001", labtest.Answer)
			d := labtest.OpenDesktop(t, rl.g, "1001", "general")
			done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Duration: 14 * time.Second})
			callID := waitOffer(t, d)
			waitParties(t, callID, caller, agent1)
			tc := transferClient(t, rl.g)
			ctx, cancel := agentCtx(d)
			defer cancel()
			if _, err := tc.Transfer(ctx, &hotlinev1.TransferRequest{CallId: callID, Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110,
				Mode: hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY, Note: "unclear owner, consult"}); err != nil {
				t.Fatalf("Transfer: %v", err)
			}
			if tt.cancel {
				waitParties(t, callID, caller, agent1, police)
				if _, err := tc.Cancel(ctx, &hotlinev1.CancelTransferRequest{CallId: callID}); err != nil {
					t.Fatalf("Cancel: %v", err)
				}
			}
			labtest.Eventually(t, 15*time.Second, func() error {
				rec := lastTransfer(t, tc, d, callID)
				switch rec.State {
				case hotlinev1.TransferState_TRANSFER_STATE_FAILED, hotlinev1.TransferState_TRANSFER_STATE_CANCELLED:
					if rec.Outcome != tt.outcome {
						return fmt.Errorf("transfer %v with outcome %q, want outcome %q", rec.State, rec.Outcome, tt.outcome)
					}
					return nil
				}
				return fmt.Errorf("transfer still %v", rec.State)
			})
			waitParties(t, callID, caller, agent1)
			if res := <-done; res.Successful != 1 {
				t.Fatalf("caller: %+v", res)
			}
			labtest.WaitNoChannels(t, 10*time.Second)
		})
	}
}

// The caller hangs up while 110 is being dialled: nothing is left behind.
func TestCallerHangupDuringTransferLeavesNothing(t *testing.T) {
	rl := startTransferLab(t)
	labtest.StartUAS(t, "110", 5310, labtest.NoAnswer)
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, rl.g, "1001", "general")
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Duration: 4 * time.Second})
	callID := waitOffer(t, d)
	waitParties(t, callID, caller, agent1)
	tc := transferClient(t, rl.g)
	ctx, cancel := agentCtx(d)
	defer cancel()
	if _, err := tc.Transfer(ctx, &hotlinev1.TransferRequest{CallId: callID, Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110,
		Mode: hotlinev1.TransferMode_TRANSFER_MODE_BLIND}); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	<-done
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Eventually(t, 5*time.Second, func() error {
		if b := labtest.Bridges(t); len(b) > 0 {
			return fmt.Errorf("bridges left: %v", b)
		}
		return nil
	})
	if rec := lastTransfer(t, tc, d, callID); rec.Outcome != "caller_hangup" {
		t.Errorf("outcome = %q, want caller_hangup", rec.Outcome)
	}
}

// Two transfer requests for one call at once: one transfer happens, the
// other gets a clear answer; whatever a user sends, only the configured
// 110 target is dialled.
func TestConcurrentAndHostileTransferRequests(t *testing.T) {
	rl := startTransferLab(t)
	police110 := labtest.StartUAS(t, "110", 5310, labtest.Answer)
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, rl.g, "1001", "general")
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Duration: 10 * time.Second})
	callID := waitOffer(t, d)
	waitParties(t, callID, caller, agent1)
	tc := transferClient(t, rl.g)
	ctx, cancel := agentCtx(d)
	defer cancel()

	for _, bad := range []*hotlinev1.TransferRequest{
		{CallId: callID + "&Local/evil@default", Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110, Mode: hotlinev1.TransferMode_TRANSFER_MODE_BLIND},
		{CallId: callID, Target: hotlinev1.TransferTarget_TRANSFER_TARGET_UNSPECIFIED, Mode: hotlinev1.TransferMode_TRANSFER_MODE_BLIND},
		{CallId: callID, Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110, Mode: hotlinev1.TransferMode_TRANSFER_MODE_BLIND, Note: "x\nChannel: Local/evil"},
	} {
		_, err := tc.Transfer(ctx, bad)
		if c := status.Code(err); c != codes.InvalidArgument && c != codes.NotFound {
			t.Errorf("hostile request %q: %v, want InvalidArgument or NotFound", bad.CallId+"|"+bad.Note, err)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, mode := range []hotlinev1.TransferMode{hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY, hotlinev1.TransferMode_TRANSFER_MODE_BLIND} {
		wg.Add(1)
		go func(i int, mode hotlinev1.TransferMode) {
			defer wg.Done()
			_, errs[i] = tc.Transfer(ctx, &hotlinev1.TransferRequest{CallId: callID, Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110,
				Mode: mode, Note: "note with & , / @ ${EXTEN} is data"})
		}(i, mode)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.FailedPrecondition:
		default:
			t.Errorf("concurrent request: %v, want OK or FailedPrecondition", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 2 concurrent transfers accepted, want 1 (%v)", ok, errs)
	}
	<-done
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Eventually(t, 5*time.Second, func() error {
		if n := police110.Calls(); n != 1 {
			return fmt.Errorf("110 received %d calls, want exactly 1", n)
		}
		return nil
	})
}

// A call from 110 into 12345 is counted as from110 and reaches an agent
// ahead of callers already waiting.
func TestCallFrom110GoesFirst(t *testing.T) {
	rl := startTransferLab(t)
	labtest.StartPhone(t, "1001", labtest.Answer)
	citizen := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13911112222", Duration: 6 * time.Second})
	labtest.Eventually(t, 5*time.Second, func() error { // the citizen waits in the queue first
		if n, err := labtest.QueueWaiting(t, rl.rd.Addr, "general"); err != nil || n != 1 {
			return fmt.Errorf("%d calls in the general queue, want the citizen (%v)", n, err)
		}
		return nil
	})
	from110 := labtest.StartCalls(t, labtest.Calls{DID: "12345", Scenario: "uac_from110.xml", Duration: 3 * time.Second,
		Extra: []string{"-set", "ref", "110-2026-0001"}})
	labtest.Eventually(t, 5*time.Second, func() error {
		if n := rl.g.Metric("hotline_active_calls", map[string]string{"line": "12345"}); n != 2 {
			return fmt.Errorf("%v calls waiting, want 2", n)
		}
		return nil
	})
	d := labtest.OpenDesktop(t, rl.g, "1001", "general")
	first := waitOffer(t, d)
	o := d.Offers()[0]
	if o.Direction != hotlinev1.Direction_DIRECTION_FROM110 || o.PoliceReference != "110-2026-0001" {
		t.Fatalf("first offer = %v, want the call from 110 with its reference", o)
	}
	<-from110
	<-citizen
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Eventually(t, 5*time.Second, func() error {
		st, err := getStats(rl.g, today(), today())
		if err != nil {
			return err
		}
		if st.From110Total != 1 || st.InboundTotal != 2 {
			return fmt.Errorf("from110 = %d (want 1), inbound = %d (want 2)", st.From110Total, st.InboundTotal)
		}
		return nil
	})
	if n := rl.g.Metric("hotline_transfers_total", map[string]string{"direction": "from110"}); n != 1 {
		t.Errorf("hotline_transfers_total{from110} = %v, want 1", n)
	}
	_ = first
}
