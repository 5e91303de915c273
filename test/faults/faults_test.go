// Package faults is the fault-injection suite (`make test-faults`, also
// part of `make test`): real calls from SIPp through the lab PBX while
// Asterisk, Redis or the gateway is killed and restarted, or a second
// gateway joins and leaves. Each test first proves that its fault happened
// (a new Asterisk startup time, a new gateway process that adopted the live
// calls, counts held back while Redis was gone, a second gateway that took
// calls and drained them). After each fault the set of calls counted is
// the set of tickets stored, each stored once and submitted no more often
// than the fault allows, nothing is left in Asterisk and no agent is stuck
// busy.
package faults

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
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

// drainTimeout is shutdown.drain_timeout in labtest's configuration.
const drainTimeout = 5 * time.Second

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

// outcomes says how a fault may bend "every inbound call has one outcome"
// (answered + abandoned + overflow == inbound); the zero value bends
// nothing.
type outcomes struct {
	// unobserved: calls that ended while no gateway watched have the
	// reaper's ticket (ended_unobserved) and no outcome of their own.
	unobserved bool
}

var exactOutcomes = outcomes{}

// verify checks the invariants after a fault: want calls counted, the
// counted calls' IDs exactly the stored tickets' IDs, each stored once and
// submitted at most maxSubmits times, every counted call with one outcome,
// nothing left in Asterisk, all agents ready. The counts and the outbox
// must have settled and stay so.
func (r *rig) verify(want, maxSubmits int, oc outcomes) {
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
	note := ""
	labtest.Settle(t, 60*time.Second, r.rd.Addr, r.gws, func() error {
		counted, err := labtest.CountedCalls(t, r.rd.Addr, "inbound")
		if err != nil {
			return err
		}
		if len(counted) != want {
			return fmt.Errorf("%d calls counted inbound in Redis, want %d (every call once)", len(counted), want)
		}
		st, err := stats(g)
		if err != nil {
			return err
		}
		if int(st.InboundTotal) != want {
			return fmt.Errorf("StatsService inbound_total %d, want %d (every call once)", st.InboundTotal, want)
		}
		if err := r.sink.CheckTickets(t, counted, maxSubmits); err != nil {
			return err
		}
		sum := st.Answered + st.AbandonedGreeting + st.AbandonedQueue + st.AbandonedRinging + overflow(st)
		var unobserved uint64
		if oc.unobserved {
			unobserved = uint64(r.endReasons()["ended_unobserved"])
		}
		if lo, hi := st.InboundTotal-min(unobserved, st.InboundTotal), st.InboundTotal; sum < lo || sum > hi {
			return fmt.Errorf("outcomes: answered %d + abandoned %d/%d/%d + overflow %d = %d, want %d..%d (inbound %d, %d ended unobserved)",
				st.Answered, st.AbandonedGreeting, st.AbandonedQueue, st.AbandonedRinging, overflow(st), sum, lo, hi, st.InboundTotal, unobserved)
		}
		note = ""
		if sum != st.InboundTotal {
			note = fmt.Sprintf("outcomes: answered %d + abandoned %d/%d/%d + overflow %d = %d for %d inbound (%d ended unobserved)",
				st.Answered, st.AbandonedGreeting, st.AbandonedQueue, st.AbandonedRinging, overflow(st), sum, st.InboundTotal, unobserved)
		}
		return nil
	})
	if note != "" {
		t.Log(note)
	}
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

func overflow(st *hotlinev1.GetStatsResponse) uint64 {
	var n uint64
	for _, l := range st.Lines {
		n += l.Overflow
	}
	return n
}

// endReasons counts the stored tickets by end reason.
func (r *rig) endReasons() map[string]int {
	_, all := r.sink.Tickets(r.t)
	n := map[string]int{}
	for _, tk := range all {
		s, _ := tk["endReason"].(string)
		n[s]++
	}
	return n
}

func stats(g *labtest.Gateway) (*hotlinev1.GetStatsResponse, error) {
	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(labtest.AsSupervisor(context.Background()), 5*time.Second)
	defer cancel()
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	return hotlinev1.NewStatsServiceClient(conn).GetStats(ctx, &hotlinev1.GetStatsRequest{From: day, To: day})
}

// upCallers returns the IDs of the callers' channels Asterisk has answered
// (a caller's channel ID is its call and ticket ID); nil if ARI is down.
func upCallers(t *testing.T) map[string]bool {
	var chs []struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if err := labtest.ARIGet("/channels", &chs); err != nil {
		return nil
	}
	up := map[string]bool{}
	for _, c := range chs {
		if strings.HasPrefix(c.Name, "PJSIP/trunk-") && c.State == "Up" {
			up[c.ID] = true
		}
	}
	return up
}

// startupTime is Asterisk's startup time from ARI's /asterisk/info.
func startupTime(t *testing.T) string {
	t.Helper()
	var info struct {
		Status struct {
			StartupTime string `json:"startup_time"`
		} `json:"status"`
	}
	if err := labtest.ARIGet("/asterisk/info", &info); err != nil || info.Status.StartupTime == "" {
		t.Fatalf("ARI /asterisk/info: no startup time (%v)", err)
	}
	return info.Status.StartupTime
}

// Asterisk is killed (SIGKILL) while 20 calls are up and restarted; more
// calls follow. The kill is shown to have happened: Asterisk has a new
// startup time, the gateway counted a restart connection and the 20 cut
// calls failed at the callers. The cut calls are counted and ticketed once,
// their agents freed; nothing is left behind.
func TestAsteriskKilledUnderLoad(t *testing.T) {
	r := newRig(t)
	g := r.gws[0]
	before := startupTime(t)
	restarts := g.Metric("hotline_ari_connects_total", map[string]string{"kind": "restart"})
	cut := load(t, "12345", 20, 10, 15*time.Second)
	labtest.Eventually(t, 15*time.Second, func() error {
		if n := len(upCallers(t)); n != 20 {
			return fmt.Errorf("%d of 20 calls up", n)
		}
		return nil
	})
	labtest.PBX(t, "kill")
	labtest.PBXFails(t, "nothing to kill", "kill") // the lab never passes a no-op kill for a crash
	labtest.PBX(t, "start")
	if after := startupTime(t); after == before {
		t.Fatalf("Asterisk's startup time is still %s after the kill and start: it was not restarted", before)
	}
	g.WaitReady(15 * time.Second)
	labtest.Eventually(t, 10*time.Second, func() error {
		if n := g.Metric("hotline_ari_connects_total", map[string]string{"kind": "restart"}); n != restarts+1 {
			return fmt.Errorf("hotline_ari_connects_total{kind=restart} = %v, want %v (one Asterisk restart seen)", n, restarts+1)
		}
		return nil
	})
	c := <-cut // SIPp gives up on the cut calls
	if c.SIPpSuccessful != 0 || c.Failed != 20 {
		t.Fatalf("the 20 calls up at the kill were not all cut (want 0 successful, 20 failed): %v", c)
	}
	after := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Count: 30, Rate: 10, Duration: time.Second})
	if after.Successful != 30 {
		t.Fatalf("calls after the restart: %v", after)
	}
	r.verify(20+30, 1, exactOutcomes)
}

// Redis is killed for 8 s while calls come and go, then restarted with its
// append-only file: counts were held back meanwhile; afterwards the counts
// are exact and every ticket arrives once (a delivery the outage
// interrupted may be submitted again).
func TestRedisKilledUnderLoad(t *testing.T) {
	r := newRig(t)
	g := r.gws[0]
	res := load(t, "12315", 60, 5, 1500*time.Millisecond)
	labtest.Eventually(t, 10*time.Second, func() error {
		if n := g.Metric("hotline_calls_total", map[string]string{"direction": "inbound"}); n < 10 {
			return fmt.Errorf("%v calls counted before the Redis kill, want 10", n)
		}
		return nil
	})
	r.rd.Stop()
	down := time.Now()
	labtest.Eventually(t, 8*time.Second, func() error {
		if n := g.Metric("hotline_count_pending", nil); n == 0 {
			return fmt.Errorf("no counts pending with Redis killed")
		}
		return nil
	})
	time.Sleep(time.Until(down.Add(8 * time.Second)))
	r.rd.Restart()
	got := <-res
	if got.Successful != 60 {
		t.Fatalf("calls: %v", got)
	}
	r.verify(60, 2, exactOutcomes)
}

var adoptedRE = regexp.MustCompile(`msg="adopted call left by a previous gateway" call_id=(\S+)`)

// The gateway is SIGKILLed under load and restarted. The calls up just
// after the kill that were still up when the new process connected are
// adopted by it (its log names each) and end with their own outcome (the caller hangs
// up, the ticket is the call's, not the reaper's); the others have the
// reaper's ticket. Only calls offered while no gateway was registered are
// rejected: at most the call rate times the measured downtime. Nothing is
// counted twice, no ticket is lost or stored twice, no agent stays busy.
func TestGatewayKilledUnderLoad(t *testing.T) {
	const rate, total = 5, 60
	r := newRig(t)
	g := r.gws[0]
	res := load(t, "12348", total, rate, 8*time.Second)
	labtest.Eventually(t, 15*time.Second, func() error {
		if n := len(upCallers(t)); n < 15 {
			return fmt.Errorf("%d calls up, want 15 before the kill", n)
		}
		return nil
	})
	oldPID := g.PID()
	killed := time.Now()
	g.Kill()
	upAtKill := upCallers(t) // just after the kill: no gateway ends a call now
	g.Start()
	g.WaitReady(30 * time.Second)
	downtime := time.Since(killed)
	if g.PID() == oldPID {
		t.Fatalf("gateway still has PID %d after the kill", oldPID)
	}
	got := <-res

	// Only what was offered while no gateway was there was rejected: with
	// SIP 503 before answer, or — for the up to 2 s that the killed
	// gateway's admit flag still looks fresh to the dialplan — answered by
	// the dialplan and then hung up with cause 34 (a BYE from the far end).
	bound := int(math.Ceil(float64(rate)*downtime.Seconds())) + 3
	rejected := got.Failed + max(got.HungUpByFarEnd, 0)
	t.Logf("downtime %s: %d of %d calls rejected (%d of them after the dialplan's answer; bound %d), %d adopted of %d up at the kill",
		downtime.Round(time.Millisecond), rejected, total, max(got.HungUpByFarEnd, 0), bound, len(adopted(g)), len(upAtKill))
	if got.Successful+rejected != total || rejected > bound {
		t.Fatalf("calls across the restart: want %d in all, at most %d rejected (rate %d/s × downtime %s + 3): %v",
			total, bound, rate, downtime.Round(time.Millisecond), got)
	}

	// Adoption: every call up at the kill is either adopted by the new
	// process or ended unobserved (before it connected); adopted calls end
	// as calls do, with their own outcome.
	ad := adopted(g)
	if len(ad) == 0 {
		t.Fatalf("the restarted gateway adopted none of the %d calls up at the kill", len(upAtKill))
	}
	// An adopted call connected at the kill stays with its agent: one
	// outcome each, never answered and abandoned.
	r.verify(got.Successful, 2, outcomes{unobserved: true})

	_, all := r.sink.Tickets(t)
	var problems []string
	for id := range ad { // (a call still being answered at the kill is adopted too)
		if reason, _ := all[id]["endReason"].(string); reason == "" || reason == "ended_unobserved" {
			problems = append(problems, fmt.Sprintf("adopted call %s ended with reason %q, want its own outcome", id, reason))
		}
	}
	for id := range upAtKill {
		if ad[id] {
			continue
		}
		if reason, _ := all[id]["endReason"].(string); reason != "ended_unobserved" {
			problems = append(problems, fmt.Sprintf("call %s up at the kill neither adopted nor ended unobserved (ticket end reason %q)", id, reason))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("adoption after the kill:\n%s", strings.Join(problems, "\n"))
	}
}

// adopted returns the IDs of the calls the gateway's log says it adopted.
func adopted(g *labtest.Gateway) map[string]bool {
	ids := map[string]bool{}
	for _, m := range adoptedRE.FindAllStringSubmatch(g.Log(), -1) {
		ids[m[1]] = true
	}
	return ids
}

// A second gateway joins while calls run (its own Stasis application on the
// same Redis), takes calls, and leaves again: SIGTERM with calls live, it
// drains them (no "drain timeout") and exits 0. Every caller succeeds
// whichever instance took the call, and every call is counted and
// ticketed once.
func TestSecondGatewayJoinsAndLeaves(t *testing.T) {
	r := newRig(t)
	a := load(t, "12345", 40, 4, 2*time.Second)
	b := load(t, "912345", 40, 4, 2*time.Second) // instance b's DIDs; fail over to a
	time.Sleep(3 * time.Second)
	gb := r.gateway("hotline-gw-b")
	r.gws = append(r.gws, gb)
	var took float64
	labtest.Eventually(t, 15*time.Second, func() error {
		took = gb.Metric("hotline_calls_total", map[string]string{"direction": "inbound"})
		if took < 4 || gb.Metric("hotline_active_calls", nil) == 0 {
			return fmt.Errorf("second gateway took %v calls (want 4) and has %v live", took, gb.Metric("hotline_active_calls", nil))
		}
		return nil
	})
	live := gb.Metric("hotline_active_calls", nil)
	stopIn, err := gb.Terminate(drainTimeout + 15*time.Second)
	if err != nil {
		t.Fatalf("second gateway leaving with %v calls live: %v", live, err)
	}
	log := gb.Log()
	if !strings.Contains(log, "shutting down: intake stopped, draining live calls") {
		t.Errorf("second gateway's log does not show the drain")
	}
	if strings.Contains(log, "drain timeout: calls left to Asterisk") {
		t.Errorf("second gateway did not drain its %v live calls within %s (took %s)", live, drainTimeout, stopIn.Round(time.Millisecond))
	}
	t.Logf("second gateway took %v calls, left with %v live, exited 0 after %s", took, live, stopIn.Round(time.Millisecond))
	ra, rb := <-a, <-b
	if ra.Successful != 40 || rb.Successful != 40 {
		t.Fatalf("calls: via a %v\nvia b %v", ra, rb)
	}
	r.verify(ra.Successful+rb.Successful, 1, exactOutcomes)
}
