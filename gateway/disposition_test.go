package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/count"
)

const (
	onSpot    = hotlinev1.DispositionCode_DISPOSITION_CODE_ANSWERED_ON_SPOT
	forwarded = hotlinev1.DispositionCode_DISPOSITION_CODE_FORWARDED_TO_DEPARTMENT
)

// talking puts call id in the state of a call answered by agent ext (the
// rig has no agent pool; the lab test answers with a real SIPp agent).
func (r *rig) talking(id, ext string) {
	r.t.Helper()
	r.start(id, EntryInbound, "12333")
	r.waitAction("moh " + id + " hold")
	r.inspect(id, func(c *Call) { c.answered, c.agentExt, c.ticketAgent = time.Now(), ext, ext })
}

func (r *rig) setDisposition(req DispositionRequest) (DispositionResult, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.svc.SetDisposition(ctx, req)
}

// A disposition set during the call is on the call's ticket and counted
// once on its line; another agent's request is refused, a supervisor's
// (Agent empty) may replace it, and the ticket has the last one.
func TestDispositionDuringTheCall(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.talking("d1", "1001")
	if _, err := r.setDisposition(DispositionRequest{CallID: "d1", Code: onSpot, Agent: "1002", SetBy: "agent 1002"}); !errors.Is(err, ErrNotOnCall) {
		t.Fatalf("another agent's disposition: %v; want ErrNotOnCall", err)
	}
	res, err := r.setDisposition(DispositionRequest{CallID: "d1", Code: forwarded, Department: "市人社局", Agent: "1001", SetBy: "agent 1001"})
	if err != nil || res.AfterCall {
		t.Fatalf("agent's disposition during the call: %+v, %v", res, err)
	}
	if _, err := r.setDisposition(DispositionRequest{CallID: "d1", Code: onSpot, Note: "政策咨询，已答复", SetBy: "supervisor duty"}); err != nil {
		t.Fatalf("supervisor's disposition: %v", err)
	}
	r.hangup("d1")
	r.waitEnded("d1")
	d := r.ticket("d1").GetDisposition()
	if d.GetCode() != onSpot || d.GetNote() != "政策咨询，已答复" || d.GetSetBy() != "supervisor duty" || d.GetSetAt() == nil {
		t.Errorf("ticket disposition %v; want the supervisor's ANSWERED_ON_SPOT", d)
	}
	tot := r.counts()
	if tot.Get(count.DispositionOnSpot, "12333") != 1 || tot.Sum(count.DispositionForwarded) != 0 {
		t.Errorf("counts %v; want disposition_on_spot:12333 = 1 and nothing forwarded", tot)
	}
}

// With a disposition window, an agent call's ticket waits for the
// disposition after the call: set within the window, the ticket is
// written at once with it, exactly once; a call without one gets its
// ticket when the window ends; a call not in its window is NotFound.
func TestDispositionAfterTheCallWithinTheWindow(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.DispositionWindow = 2 * time.Second }})
	r.talking("w1", "1001")
	r.talking("w2", "1001")
	r.hangup("w1")
	r.hangup("w2")
	r.waitEnded("w1")
	r.waitEnded("w2")
	if n := len(r.out.all()); n != 0 {
		t.Fatalf("%d tickets in the outbox during the window; want them held", n)
	}
	if _, err := r.setDisposition(DispositionRequest{CallID: "w1", Code: forwarded, Agent: "1002"}); !errors.Is(err, ErrNotOnCall) {
		t.Fatalf("another agent after the call: %v; want ErrNotOnCall", err)
	}
	res, err := r.setDisposition(DispositionRequest{CallID: "w1", Code: forwarded, Department: "市住建局", Agent: "1001", SetBy: "agent 1001"})
	if err != nil || !res.AfterCall {
		t.Fatalf("disposition after the call: %+v, %v; want after_call", res, err)
	}
	if tk := r.ticket("w1"); tk.GetDisposition().GetCode() != forwarded || tk.GetDisposition().GetDepartment() != "市住建局" {
		t.Errorf("ticket w1 disposition %v; want FORWARDED_TO_DEPARTMENT 市住建局", tk.GetDisposition())
	}
	if _, err := r.setDisposition(DispositionRequest{CallID: "w1", Code: onSpot, Agent: "1001"}); !errors.Is(err, ErrCallNotFound) {
		t.Errorf("second disposition after the ticket was written: %v; want ErrCallNotFound", err)
	}
	waitFor(t, "w2's ticket after its window", func() bool { return len(r.out.all()) == 2 })
	if tk := r.ticket("w2"); tk.GetDisposition() != nil || tk.GetAgentExtension() != "1001" {
		t.Errorf("ticket w2 %v; want no disposition, agent 1001", tk)
	}
	if _, err := r.setDisposition(DispositionRequest{CallID: "w2", Code: onSpot, Agent: "1001"}); !errors.Is(err, ErrCallNotFound) {
		t.Errorf("disposition after the window: %v; want ErrCallNotFound", err)
	}
	tot := r.counts()
	if tot.Get(count.DispositionForwarded, "12333") != 1 || tot.Sum(count.DispositionOnSpot) != 0 {
		t.Errorf("counts %v; want disposition_forwarded:12333 = 1 only", tot)
	}
}

// Close writes the held tickets at once.
func TestHeldTicketsWrittenAtClose(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.DispositionWindow = 10 * time.Minute }})
	r.talking("h1", "1001")
	r.hangup("h1")
	r.waitEnded("h1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if tks := r.out.all(); len(tks) != 1 || tks[0].GetCallId() != "h1" {
		t.Errorf("tickets after Close: %v; want h1's", tks)
	}
}

// Bad dispositions are refused naming what is wrong; a call not answered
// by an agent has none.
func TestDispositionRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  DispositionRequest
		want string
	}{
		{"no code", DispositionRequest{CallID: "x"}, "code 0"},
		{"unknown code", DispositionRequest{CallID: "x", Code: 99}, "code 99"},
		{"department without forwarding", DispositionRequest{CallID: "x", Code: onSpot, Department: "市住建局"}, "department is only"},
		{"long note", DispositionRequest{CallID: "x", Code: onSpot, Note: strings.Repeat("答", MaxDispositionNote+1)}, "note has 501 characters"},
		{"long department", DispositionRequest{CallID: "x", Code: forwarded, Department: strings.Repeat("局", 65)}, "department has 65"},
		{"bad UTF-8", DispositionRequest{CallID: "x", Code: onSpot, Note: "\xff"}, "note is not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDisposition(tc.req.Code, tc.req.Department, tc.req.Note)
			if !errors.Is(err, ErrBadDisposition) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v; want ErrBadDisposition saying %q", err, tc.want)
			}
		})
	}
	r := newRig(t, rigOptions{})
	r.start("q1", EntryInbound, "12333")
	r.waitAction("moh q1 hold")
	if _, err := r.setDisposition(DispositionRequest{CallID: "q1", Code: onSpot, Agent: "1001"}); !errors.Is(err, ErrNotOnCall) {
		t.Errorf("disposition of a queued call: %v; want ErrNotOnCall", err)
	}
	if _, err := r.setDisposition(DispositionRequest{CallID: "nope", Code: onSpot, Agent: "1001"}); !errors.Is(err, ErrCallNotFound) {
		t.Errorf("disposition of no call: %v; want ErrCallNotFound", err)
	}
}
