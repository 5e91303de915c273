package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// The ticket sink is down for 60 s while 200 calls run; after it returns
// every ticket arrives exactly once. The gateway is SIGKILLed in the middle
// of delivering the backlog (50 stored, the next held at the sink), and
// restarted: none lost, none stored twice; only the tickets the sink had
// seen before the kill may be submitted a second time, every other exactly
// once; the tickets' IDs are the IDs of the calls counted.
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
			t.Fatalf("calls to %s: %v", dids[i], res)
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

	// The sink comes back, takes 50 tickets and holds the next ones: the
	// gateway is killed with the backlog half delivered.
	sink := labtest.StartSink(t, sinkAddr, "")
	const before = 50
	sink.PauseAfter(before)
	labtest.Eventually(t, 30*time.Second, func() error {
		if n, _ := sink.Tickets(t); len(n) != before || sink.Held() == 0 {
			repeats := 0
			for _, k := range sink.Submits() {
				repeats += k - 1
			}
			return fmt.Errorf("sink has %d tickets (want %d) after %d submissions, %d of them repeats of a ticket it had, and holds %d submissions (want some)",
				len(n), before, before, repeats, sink.Held())
		}
		return nil
	})
	g.Kill()
	atKill := sink.Submits()
	if stored, _ := sink.Tickets(t); len(stored) != before || len(atKill) != before {
		t.Fatalf("at the kill the sink has %d tickets stored and %d submitted, want %d of 200 (some, not all)", len(stored), len(atKill), before)
	}
	sink.Resume()
	g.Start()
	g.WaitReady(15 * time.Second)
	counted, err := labtest.CountedCalls(t, rd.Addr, "inbound")
	if err != nil || len(counted) != 200 {
		t.Fatalf("%d calls counted inbound in Redis, want 200 (%v)", len(counted), err)
	}
	labtest.Settle(t, 120*time.Second, rd.Addr, []*labtest.Gateway{g}, func() error {
		return sink.CheckTicketsLimit(t, counted, func(id string) int {
			if atKill[id] > 0 {
				return 2 // delivered, perhaps not yet acknowledged when killed
			}
			return 1
		})
	})
}
