package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// Redis is stopped; calls are placed and end while it is down (their
// counts and tickets only reach the gateway's memory and its spool
// journal); the gateway is SIGKILLed; Redis comes back, then the gateway:
// every call is counted once and every ticket delivered once, with its
// content (line, caller, end reason).
func TestCountsAndTicketsSurviveRedisOutageAndGatewayKill(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sinkAddr := labtest.FreeAddr(t)
	sink := labtest.StartSink(t, sinkAddr, "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: labtest.AgentsYAML(sinkAddr, "")})

	rd.Stop()
	const n = 12
	// No agent can be claimed without Redis: the callers wait, then hang up.
	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Count: n, Rate: 4, Duration: 3 * time.Second})
	if res.Successful != n {
		t.Fatalf("calls during the Redis outage: %v", res)
	}
	labtest.WaitNoChannels(t, 15*time.Second)
	time.Sleep(time.Second) // the owners have finished and spooled
	g.Kill()

	rd.Restart()
	g.Start()
	g.WaitReady(30 * time.Second)
	var counted map[string]bool
	labtest.Eventually(t, 30*time.Second, func() error {
		var err error
		counted, err = labtest.CountedCalls(t, rd.Addr, "inbound")
		if err != nil || len(counted) != n {
			return fmt.Errorf("%d calls counted inbound in Redis, want %d (%v)", len(counted), n, err)
		}
		return nil
	})
	labtest.Settle(t, 60*time.Second, rd.Addr, []*labtest.Gateway{g}, func() error {
		return sink.CheckTickets(t, counted, 1)
	})
	_, content := sink.Tickets(t)
	for id := range counted {
		tk := content[id]
		if tk["line"] != "12333" || tk["mainLine"] != "12345" || tk["callerNumber"] == nil || tk["endReason"] == nil || tk["endReason"] == "ended_unobserved" {
			t.Errorf("ticket %s = %v, want the owner's full ticket of a call on 12333", id, tk)
		}
	}
}
