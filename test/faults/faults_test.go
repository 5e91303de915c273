// Package faults is the fault-injection suite (`make test-faults`, also
// part of `make test`): real calls from SIPp through the lab PBX while
// Asterisk, Redis or the gateway is killed and restarted, or a second
// gateway joins and leaves. After each fault every call that reached the
// gateway is counted exactly once, its ticket reaches the sink exactly
// once, nothing is left in Asterisk and no agent is stuck busy.
package faults

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

var agents = []string{"1001", "1002", "1003", "1004"}

// Agents are freed quickly after a crash, so the suite can check them.
const faultYAML = "  sweep_interval: 500ms\n  sweep_min_age: 2s\n"

type rig struct {
	t     *testing.T
	rd    *redistest.Server
	sink  *labtest.Sink
	gws   []*labtest.Gateway
	desks []*labtest.Desktop
}

func newRig(t *testing.T) *rig {
	t.Helper()
	labtest.RequireLab(t)
	labtest.WaitNoChannels(t, 10*time.Second)
	r := &rig{t: t, rd: redistest.Start(t)}
	r.sink = labtest.StartSink(t, "", "")
	r.gws = append(r.gws, r.gateway("hotline-gw"))
	for _, ext := range agents {
		labtest.StartPhone(t, ext, labtest.Answer)
		r.desks = append(r.desks, labtest.OpenDesktop(t, r.gws[0], ext, "general", "renshe", "shichang", "falv"))
	}
	return r
}

func (r *rig) gateway(app string) *labtest.Gateway {
	return labtest.StartGateway(r.t, labtest.GatewayOptions{RedisAddrs: []string{r.rd.Addr}, App: app,
		Extra: labtest.AgentsYAML(r.sink.Addr, faultYAML)})
}

// load places count calls to did at rate, each lasting d.
func load(t *testing.T, did string, count, rate int, d time.Duration) <-chan labtest.Result {
	return labtest.StartCalls(t, labtest.Calls{DID: did, Count: count, Rate: rate, Duration: d})
}

// verify checks the invariants after a fault: want calls counted once,
// want tickets delivered once, nothing left in Asterisk, all agents ready.
func (r *rig) verify(want int) {
	t := r.t
	t.Helper()
	g := r.gws[0]
	labtest.WaitNoChannels(t, 30*time.Second)
	labtest.Eventually(t, 10*time.Second, func() error {
		if b := labtest.Bridges(t); len(b) > 0 {
			return fmt.Errorf("bridges left in Asterisk: %v", b)
		}
		return nil
	})
	labtest.Eventually(t, 30*time.Second, func() error {
		st, err := stats(g)
		if err != nil {
			return err
		}
		if int(st.InboundTotal) != want {
			return fmt.Errorf("inbound counted %d, want %d (every call once)", st.InboundTotal, want)
		}
		return nil
	})
	labtest.Eventually(t, 60*time.Second, func() error {
		n, _ := r.sink.Tickets(t)
		if len(n) != want {
			return fmt.Errorf("sink has %d tickets, want %d", len(n), want)
		}
		for id, k := range n {
			if k != 1 {
				return fmt.Errorf("ticket %s delivered %d times", id, k)
			}
		}
		return nil
	})
	labtest.Eventually(t, 30*time.Second, func() error {
		var busy []string
		for _, d := range r.desks {
			if s := d.State(t); s.State != hotlinev1.AgentState_AGENT_STATE_READY {
				busy = append(busy, fmt.Sprintf("%s=%v", d.Ext, s.State))
			}
		}
		if len(busy) > 0 {
			return fmt.Errorf("agents not ready: %s", strings.Join(busy, " "))
		}
		return nil
	})
}

func stats(g *labtest.Gateway) (*hotlinev1.GetStatsResponse, error) {
	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	return hotlinev1.NewStatsServiceClient(conn).GetStats(ctx, &hotlinev1.GetStatsRequest{From: day, To: day})
}

// upCallers counts the callers' channels Asterisk has answered.
func upCallers(t *testing.T) int {
	var chs []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if err := labtest.ARIGet("/channels", &chs); err != nil {
		return -1
	}
	n := 0
	for _, c := range chs {
		if strings.HasPrefix(c.Name, "PJSIP/trunk-") && c.State == "Up" {
			n++
		}
	}
	return n
}

// Asterisk is killed (SIGKILL) while 20 calls are up and restarted; more
// calls follow. The cut calls are counted and ticketed once, their agents
// freed; nothing is left behind.
func TestAsteriskKilledUnderLoad(t *testing.T) {
	r := newRig(t)
	cut := load(t, "12345", 20, 10, 30*time.Second)
	labtest.Eventually(t, 15*time.Second, func() error {
		if n := upCallers(t); n != 20 {
			return fmt.Errorf("%d of 20 calls up", n)
		}
		return nil
	})
	labtest.PBX(t, "kill")
	labtest.PBX(t, "start")
	r.gws[0].WaitReady(15 * time.Second)
	<-cut // SIPp gives up on the cut calls
	after := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Count: 30, Rate: 10, Duration: time.Second})
	if after.Successful != 30 {
		t.Fatalf("calls after the restart: %+v", after)
	}
	r.verify(20 + 30)
}

// Redis is killed for 8 s while calls come and go, then restarted with its
// append-only file: the counts are exact, every ticket arrives once.
func TestRedisKilledUnderLoad(t *testing.T) {
	r := newRig(t)
	res := load(t, "12315", 60, 5, 1500*time.Millisecond)
	time.Sleep(4 * time.Second)
	r.rd.Stop()
	time.Sleep(8 * time.Second)
	r.rd.Restart()
	got := <-res
	if got.Successful != 60 {
		t.Fatalf("calls: %+v", got)
	}
	r.verify(60)
}

// The gateway is SIGKILLed under load and restarted: live calls are adopted
// and counted once, calls rejected while no gateway was registered are not
// counted, no ticket is lost or doubled, no agent stays busy.
func TestGatewayKilledUnderLoad(t *testing.T) {
	r := newRig(t)
	res := load(t, "12348", 60, 5, 3*time.Second)
	time.Sleep(5 * time.Second)
	g := r.gws[0]
	g.Stop(syscall.SIGKILL)
	g.Start()
	g.WaitReady(15 * time.Second)
	got := <-res
	if got.Successful < 30 { // calls offered while no gateway was registered are rejected (503)
		t.Fatalf("too few calls completed across the restart: %+v", got)
	}
	r.verify(got.Successful)
}

// A second gateway joins while calls run (its own Stasis application on the
// same Redis) and leaves again (SIGTERM: it drains its calls); every call is
// counted once whichever instance took it.
func TestSecondGatewayJoinsAndLeaves(t *testing.T) {
	r := newRig(t)
	a := load(t, "12345", 40, 4, 2*time.Second)
	b := load(t, "912345", 40, 4, 2*time.Second) // instance b's DIDs; fail over to a
	time.Sleep(3 * time.Second)
	gb := r.gateway("hotline-gw-b")
	time.Sleep(4 * time.Second)
	gb.Stop(syscall.SIGTERM)
	ra, rb := <-a, <-b
	if ra.Successful != 40 || rb.Successful < 38 {
		t.Fatalf("calls: via a %+v, via b %+v", ra, rb)
	}
	r.verify(ra.Successful + rb.Successful)
}
