package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// A known mix of calls to the four lines and an unknown number: metrics,
// StatsService and the report all give exactly the counts placed, with the
// merged lines inside the inbound total.
func TestCountsKnownMixPerLine(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})

	mix := []struct {
		did   string // as the trunk delivers it
		line  string
		count int
	}{
		{"12345", "12345", 3},
		{"12333", "12333", 2},
		{"+8612315", "12315", 2},
		{"073912348", "12348", 1},
	}
	for _, m := range mix {
		res := labtest.PlaceCalls(t, labtest.Calls{DID: m.did, Count: m.count, Duration: 500 * time.Millisecond})
		if res.ExitCode != 0 || res.Successful != m.count {
			t.Fatalf("calls to %s: %v", m.did, res)
		}
	}
	rej := labtest.PlaceCalls(t, labtest.Calls{DID: "99999", Count: 1})
	if rej.Failed != 1 {
		t.Fatalf("call to unknown number 99999 was not rejected: %+v", rej)
	}
	labtest.WaitNoChannels(t, 5*time.Second)

	labtest.Settle(t, 15*time.Second, "" /* no ticket sink */, []*labtest.Gateway{g}, func() error {
		for _, m := range mix {
			if got := g.Metric("hotline_calls_total", map[string]string{"direction": "inbound", "line": m.line}); got != float64(m.count) {
				return fmt.Errorf("hotline_calls_total{inbound,%s} = %v, want %d", m.line, got, m.count)
			}
		}
		if got := g.Metric("hotline_calls_rejected_total", nil); got != 1 {
			return fmt.Errorf("hotline_calls_rejected_total = %v, want 1", got)
		}
		return nil
	})

	st := stats(t, g, today(), today())
	if st.InboundTotal != 8 {
		t.Errorf("StatsService inbound_total = %d, want 8 (merged lines included)", st.InboundTotal)
	}
	if st.Rejected != 1 {
		t.Errorf("StatsService rejected = %d, want 1", st.Rejected)
	}
	perLine := map[string]uint64{}
	for _, l := range st.Lines {
		perLine[l.Line] = l.Inbound
	}
	for _, m := range mix {
		if perLine[m.line] != uint64(m.count) {
			t.Errorf("StatsService line %s inbound = %d, want %d", m.line, perLine[m.line], m.count)
		}
	}
	if st.AbandonedQueue != 8 {
		t.Errorf("abandoned in queue = %d, want 8 (no agents: every caller hung up while waiting)", st.AbandonedQueue)
	}
	if err := outcomesAddUp(st); err != nil {
		t.Error(err)
	}

	out := hotlinectl(t, "report", "--addr", g.GRPC, "--from", today(), "--to", today())
	want := "热线平台呼入总次数 8 次(含归并优化后 12333 呼入 2 次，12315 呼入 2 次，12348 呼入 1 次)，呼出总次数 0 次。"
	if !strings.Contains(out, want) {
		t.Errorf("report does not say %q:\n%s", want, out)
	}
	var js struct {
		InboundTotal string `json:"inbound_total"`
	}
	if err := json.Unmarshal([]byte(hotlinectl(t, "report", "--json", "--addr", g.GRPC, "--from", today())), &js); err != nil || js.InboundTotal != "8" {
		t.Errorf("report --json inbound_total = %q (%v), want 8", js.InboundTotal, err)
	}
}

// Calls in progress while the gateway is killed and restarted are adopted
// by the new process (its log names each) and counted once; so are calls
// across an Asterisk restart, which is shown to have happened (a new
// startup time, a restart connection, the calls cut at the callers).
func TestCountsOnceAcrossGatewayAndAsteriskRestarts(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})

	long := labtest.StartCalls(t, labtest.Calls{DID: "12345", Count: 3, Duration: 6 * time.Second, Rate: 20})
	labtest.Eventually(t, 5*time.Second, func() error {
		if n := g.Metric("hotline_calls_total", map[string]string{"direction": "inbound", "line": "12345"}); n != 3 {
			return fmt.Errorf("counted %v of 3 live calls", n)
		}
		return nil
	})
	var live map[string]bool
	labtest.Eventually(t, 5*time.Second, func() error {
		var err error
		if live, err = labtest.CountedCalls(t, rd.Addr, "inbound"); err != nil || len(live) != 3 {
			return fmt.Errorf("%d live calls counted in Redis, want 3 (%v)", len(live), err)
		}
		return nil
	})
	g.Kill()
	g.Start() // the new process adopts the three live calls
	g.WaitReady(10 * time.Second)
	if res := <-long; res.Successful != 3 {
		t.Fatalf("calls across the gateway restart: %v", res)
	}
	adopted := map[string]bool{}
	for _, m := range adoptedRE.FindAllStringSubmatch(g.Log(), -1) {
		adopted[m[1]] = true
	}
	if fmt.Sprint(sortedIDs(adopted)) != fmt.Sprint(sortedIDs(live)) {
		t.Fatalf("the restarted gateway adopted %v, want the 3 live calls %v", sortedIDs(adopted), sortedIDs(live))
	}
	labtest.Eventually(t, 5*time.Second, func() error {
		if n := g.Metric("hotline_calls_abandoned_total", map[string]string{"line": "12345", "stage": "queue"}); n != 3 {
			return fmt.Errorf("restarted gateway recorded %v of 3 ends of adopted calls", n)
		}
		return nil
	})

	// Calls cut by an Asterisk restart, then calls after it.
	before := startupTime(t)
	restarts := g.Metric("hotline_ari_connects_total", map[string]string{"kind": "restart"})
	cut := labtest.StartCalls(t, labtest.Calls{DID: "12333", Count: 2, Duration: 20 * time.Second, Rate: 20})
	labtest.Eventually(t, 5*time.Second, func() error {
		if n := g.Metric("hotline_active_calls", map[string]string{"line": "12333"}); n != 2 {
			return fmt.Errorf("active 12333 calls = %v, want 2", n)
		}
		return nil
	})
	labtest.PBX(t, "restart")
	if after := startupTime(t); after == before {
		t.Fatalf("Asterisk's startup time is still %s after the restart: it was not restarted", before)
	}
	g.WaitReady(10 * time.Second)
	labtest.Eventually(t, 10*time.Second, func() error {
		if n := g.Metric("hotline_ari_connects_total", map[string]string{"kind": "restart"}); n != restarts+1 {
			return fmt.Errorf("hotline_ari_connects_total{kind=restart} = %v, want %v", n, restarts+1)
		}
		return nil
	})
	if c := <-cut; c.Successful != 0 || c.HungUpByCaller != 0 {
		t.Fatalf("the 2 calls up at the Asterisk restart were not cut (want none ended by the caller after 20 s): %v", c)
	}
	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Count: 2, Duration: 300 * time.Millisecond})
	if res.Successful != 2 {
		t.Fatalf("calls after Asterisk restart: %v", res)
	}
	check := func() error {
		st, err := getStats(g, today(), today())
		if err != nil {
			return err
		}
		per := map[string]uint64{}
		for _, l := range st.Lines {
			per[l.Line] = l.Inbound
		}
		if per["12345"] != 3 || per["12333"] != 4 || st.InboundTotal != 7 {
			return fmt.Errorf("inbound: 12345=%d (want 3) 12333=%d (want 4) total=%d (want 7)", per["12345"], per["12333"], st.InboundTotal)
		}
		return outcomesAddUp(st)
	}
	labtest.Settle(t, 15*time.Second, "" /* no ticket sink */, []*labtest.Gateway{g}, check)
}

// Two gateway processes on one Redis: the second takes over the Stasis
// application while calls are live; every call is counted once.
func TestTwoGatewaysCountEachCallOnce(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	a := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})
	live := labtest.StartCalls(t, labtest.Calls{DID: "12348", Count: 4, Duration: 5 * time.Second, Rate: 20})
	labtest.Eventually(t, 5*time.Second, func() error {
		if n := a.Metric("hotline_active_calls", map[string]string{"line": "12348"}); n != 4 {
			return fmt.Errorf("gateway A active 12348 = %v, want 4", n)
		}
		return nil
	})
	b := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})
	labtest.Eventually(t, 5*time.Second, func() error {
		if a.Ready() {
			return fmt.Errorf("gateway A still ready after B took over the application")
		}
		if n := b.Metric("hotline_active_calls", map[string]string{"line": "12348"}); n != 4 {
			return fmt.Errorf("gateway B adopted %v of 4 calls", n)
		}
		return nil
	})
	if res := <-live; res.Successful != 4 {
		t.Fatalf("live calls: %+v", res)
	}
	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12348", Count: 3, Duration: 300 * time.Millisecond})
	if res.Successful != 3 {
		t.Fatalf("calls after takeover: %+v", res)
	}
	labtest.Settle(t, 15*time.Second, "" /* no ticket sink */, []*labtest.Gateway{a, b}, func() error {
		st, err := getStats(b, today(), today())
		if err != nil {
			return err
		}
		if st.InboundTotal != 7 {
			return fmt.Errorf("inbound_total = %d, want 7", st.InboundTotal)
		}
		if err := outcomesAddUp(st); err != nil {
			return err
		}
		ma := a.Metric("hotline_calls_total", map[string]string{"direction": "inbound", "line": "12348"})
		mb := b.Metric("hotline_calls_total", map[string]string{"direction": "inbound", "line": "12348"})
		if ma+mb != 7 {
			return fmt.Errorf("metrics: A %v + B %v, want 7", ma, mb)
		}
		return nil
	})
}

// Redis is stopped for 30 s while calls come and go: the calls complete, and
// once Redis is back the counts are exact.
func TestRedisOutageLosesNoCount(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Count: 2, Duration: 300 * time.Millisecond}); res.Successful != 2 {
		t.Fatalf("calls before outage: %v", res)
	}
	rd.Stop()
	down := time.Now()
	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12315", Count: 10, Duration: time.Second, Rate: 2})
	if res.Successful != 10 {
		t.Fatalf("calls during the Redis outage: %+v", res)
	}
	time.Sleep(time.Until(down.Add(30 * time.Second)))
	if n := g.Metric("hotline_count_pending", nil); n == 0 {
		t.Errorf("no counts pending while Redis was down")
	}
	rd.Restart()
	labtest.Settle(t, 15*time.Second, "" /* no ticket sink */, []*labtest.Gateway{g}, func() error {
		st, err := getStats(g, today(), today())
		if err != nil {
			return err // go-redis holds the last dial error for up to a second
		}
		if st.InboundTotal != 12 {
			return fmt.Errorf("inbound_total = %d, want 12", st.InboundTotal)
		}
		if st.AbandonedQueue != 12 {
			return fmt.Errorf("abandoned_queue = %d, want 12", st.AbandonedQueue)
		}
		return outcomesAddUp(st)
	})
	if n := g.Metric("hotline_count_dropped_total", nil); n != 0 {
		t.Errorf("counts dropped: %v", n)
	}
}

// A report for an inverted or absurd range is refused with a clear error.
func TestReportRejectsBadRanges(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})
	for _, tt := range []struct{ from, to, want string }{
		{"2023-02-28", "2023-01-01", "after to"},
		{"2023-01-01", "2099-12-31", "too far in the future"},
		{"2023-02-30", "2023-03-01", "not a date"},
	} {
		out, code := hotlinectlCode(t, "report", "--addr", g.GRPC, "--from", tt.from, "--to", tt.to)
		if code == 0 || !strings.Contains(out, "InvalidArgument") || !strings.Contains(out, tt.want) {
			t.Errorf("report %s..%s: exit %d, output %q; want InvalidArgument naming %q", tt.from, tt.to, code, out, tt.want)
		}
	}
}

func hotlinectl(t *testing.T, args ...string) string {
	t.Helper()
	out, code := hotlinectlCode(t, args...)
	if code != 0 {
		t.Fatalf("hotlinectl %v: exit %d\n%s", args, code, out)
	}
	return out
}

func hotlinectlCode(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(labtest.Binary(t, "hotlinectl"), args...)
	cmd.Env = append(os.Environ(), "HOTLINE_TOKEN="+labtest.SupervisorToken) // StatsService: supervisors only
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	return out.String(), cmd.ProcessState.ExitCode()
}
