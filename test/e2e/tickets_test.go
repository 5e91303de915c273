package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// The ticket sink is down for 60 s while 200 calls run; after it returns
// every ticket arrives exactly once. The gateway is SIGKILLed while it
// delivers the backlog, and restarted: still none lost, none doubled.
func TestTicketsSurviveSinkOutageAndGatewayKill(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sinkAddr := labtest.FreeAddr(t) // nothing listens there yet
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: labtest.AgentsYAML(sinkAddr, "")})
	for _, ext := range []string{"1001", "1002", "1003", "1004"} {
		labtest.StartPhone(t, ext, labtest.Answer)
		labtest.OpenDesktop(t, g, ext, "general", "renshe", "shichang", "falv")
	}
	down := time.Now()
	dids := []string{"12345", "12333", "12315", "12348"}
	var results []<-chan labtest.Result
	for _, did := range dids {
		results = append(results, labtest.StartCalls(t, labtest.Calls{DID: did, Count: 50, Rate: 3, Duration: 500 * time.Millisecond}))
	}
	for i, r := range results {
		if res := <-r; res.Successful != 50 {
			t.Fatalf("calls to %s: %+v", dids[i], res)
		}
	}
	labtest.WaitNoChannels(t, 15*time.Second)
	labtest.Eventually(t, 10*time.Second, func() error {
		if n := g.Metric("hotline_tickets_total", map[string]string{"result": "enqueued"}); n != 200 {
			return fmt.Errorf("tickets enqueued = %v, want 200", n)
		}
		return nil
	})
	time.Sleep(time.Until(down.Add(60 * time.Second)))
	if n := g.Metric("hotline_tickets_total", map[string]string{"result": "delivered"}); n != 0 {
		t.Fatalf("%v tickets delivered with no sink", n)
	}
	if n := g.Metric("hotline_tickets_total", map[string]string{"result": "retried"}); n == 0 {
		t.Errorf("no delivery retries counted during the sink outage")
	}

	sink := labtest.StartSink(t, sinkAddr, "")
	// Kill the gateway as soon as delivery has started, then restart it.
	labtest.Eventually(t, 20*time.Second, func() error {
		if n, _ := sink.Tickets(t); len(n) == 0 {
			return fmt.Errorf("no ticket delivered yet")
		}
		return nil
	})
	g.Stop(syscall.SIGKILL)
	g.Start()
	g.WaitReady(15 * time.Second)
	labtest.Eventually(t, 120*time.Second, func() error {
		n, _ := sink.Tickets(t)
		if len(n) != 200 {
			return fmt.Errorf("sink has %d of 200 tickets", len(n))
		}
		for id, k := range n {
			if k != 1 {
				return fmt.Errorf("ticket %s stored %d times", id, k)
			}
		}
		return nil
	})
}
