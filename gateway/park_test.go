package gateway

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/gateway/count"
)

// owners counts the goroutines running a call's owner loop.
func owners() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("gateway.(*Service).own("))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Calls that wait — one talking to agent 1001, twenty queued with nobody
// free — hold no goroutine (Call.park), and still do everything: a parked
// queued caller who hangs up ends, the agent's hangup ends the talking
// call, the router's offer to a parked queued call reaches it (the agent,
// ready again, is originated and bridged), and Close hands the calls still
// waiting over to the next gateway (no hangup, no ticket, no count).
func TestWaitingCallsHoldNoGoroutine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := newLeanRig(t, ctx, nil)
	l.callerUp("c0")
	leg0 := l.agentTakes("c0")
	const queued = 20
	for i := 1; i <= queued; i++ {
		l.callerUp(fmt.Sprintf("c%d", i))
	}
	for i := 1; i <= queued; i++ {
		id := fmt.Sprintf("c%d", i)
		waitFor(t, id+" queued", func() bool { return l.phase(id) == phaseQueue })
	}
	waitFor(t, "every waiting call parked", func() bool { return owners() == 0 })

	l.hangup("c2") // a parked queued caller hangs up
	l.waitEnded("c2")
	l.hangup(leg0) // the agent ends the parked talking call
	l.waitAction("hangup c0 normal")
	l.hangup("c0")
	l.waitEnded("c0")
	// Agent 1001 is ready again: the router offers the longest-waiting
	// parked call, c1, whose owner wakes for it.
	l.agentTakes("c1")
	waitFor(t, "the woken calls parked again", func() bool { return owners() == 0 })
	if got, want := l.svc.Active(), queued-1; got != want {
		t.Fatalf("%d live calls, want %d", got, want)
	}
	before := l.counts()

	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if err := l.svc.Close(cctx); err != nil {
		t.Fatalf("Close with parked calls: %v", err)
	}
	if n := l.svc.Active(); n != 0 {
		t.Fatalf("%d calls still live after Close", n)
	}
	for i := 1; i <= queued; i++ {
		if id := fmt.Sprintf("c%d", i); i != 2 && (l.pbx.has("hangup "+id+" normal") || l.pbx.has("hangup "+id+" congestion")) {
			t.Errorf("Close hung up %s instead of handing it over: %q", id, l.pbx.Actions())
		}
	}
	if n, err := l.out.Backlog(ctx); err != nil || n != 2 {
		t.Errorf("outbox holds %d tickets (%v), want c0's and c2's only", n, err)
	}
	after := l.counts()
	for _, k := range []count.Kind{count.Inbound, count.Answered, count.AbandonQueue, count.Talk} {
		if after.Sum(k) != before.Sum(k) {
			t.Errorf("%s changed by Close: %d → %d", k, before.Sum(k), after.Sum(k))
		}
	}
	if got := after.Sum(count.Inbound); got != queued+1 {
		t.Errorf("inbound = %d, want %d", got, queued+1)
	}
}
