package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// A SIP call to 12345 enters the gateway's application, is answered and held
// until the caller hangs up; the gateway sees StasisStart and StasisEnd.
func TestCallEntersApplicationAndCompletes(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})

	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Count: 1, Duration: 1500 * time.Millisecond})
	if res.ExitCode != 0 || res.Successful != 1 || res.AvgCallLength < 1500*time.Millisecond {
		t.Fatalf("the call did not last its 1.5 s and end by the caller: %v", res)
	}
	labtest.Eventually(t, 5*time.Second, func() error {
		start := g.Metric("hotline_ari_events_total", map[string]string{"type": "StasisStart"})
		end := g.Metric("hotline_ari_events_total", map[string]string{"type": "StasisEnd"})
		if start < 1 || end < 1 {
			return fmt.Errorf("StasisStart=%v StasisEnd=%v", start, end)
		}
		return nil
	})
	labtest.WaitNoChannels(t, 5*time.Second)
	if n := g.Metric("hotline_active_calls", nil); n != 0 {
		t.Errorf("hotline_active_calls = %v after the call ended", n)
	}
}

// Asterisk restarts while the gateway runs: /readyz goes false, then true
// within 5 s of ARI being back, and calls placed afterwards are handled.
func TestGatewaySurvivesAsteriskRestart(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}})

	labtest.PBX(t, "stop")
	labtest.Eventually(t, 10*time.Second, func() error {
		if g.Ready() {
			return fmt.Errorf("/readyz still ready with Asterisk stopped")
		}
		return nil
	})
	labtest.PBX(t, "start") // returns once ARI answers
	back := time.Now()
	labtest.Eventually(t, 10*time.Second, func() error {
		if !g.Ready() {
			return fmt.Errorf("/readyz not ready %s after ARI came back", time.Since(back).Round(time.Millisecond))
		}
		return nil
	})
	took := time.Since(back)
	t.Logf("gateway ready %s after ARI answered again", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("reconnected %s after ARI was back; the requirement is 5 s", took)
	}
	if n := g.Metric("hotline_ari_connects_total", map[string]string{"kind": "restart"}); n < 1 {
		t.Errorf("restart not detected: hotline_ari_connects_total{kind=restart} = %v", n)
	}

	res := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Count: 2, Duration: time.Second})
	if res.ExitCode != 0 || res.Successful != 2 {
		t.Fatalf("calls after restart: %v", res)
	}
	labtest.Eventually(t, 5*time.Second, func() error {
		if n := g.Metric("hotline_calls_total", map[string]string{"direction": "inbound", "line": "12333"}); n != 2 {
			return fmt.Errorf("hotline_calls_total{inbound,12333} = %v, want 2", n)
		}
		return nil
	})
}

// Bad configuration exits non-zero with one line naming the problem.
func TestBadConfigExitsWithOneClearLine(t *testing.T) {
	rdAddr := "127.0.0.1:6379"
	busy := labtest.FreeAddr(t)
	ln := listen(t, busy)
	defer ln.Close()
	base := labtest.GatewayConfig(labtest.GatewayOptions{RedisAddrs: []string{rdAddr}, HTTP: labtest.FreeAddr(t), GRPC: labtest.FreeAddr(t)})
	tests := []struct {
		name, config, want string
	}{
		{"unknown key", base + "colour: blue\n", "field colour not found"},
		{"missing ARI password", strings.Replace(base, `password: "hotline-lab"`, `password: ""`, 1), "ari.password: required"},
		{"malformed URL", strings.Replace(base, `url: "http://127.0.0.1:8088/ari"`, `url: "htp:/nowhere"`, 1), "ari.url"},
		{"port in use", labtest.GatewayConfig(labtest.GatewayOptions{RedisAddrs: []string{rdAddr}, HTTP: busy, GRPC: labtest.FreeAddr(t)}), "listen.http"},
		{"duplicate line", base + "", ""},
	}
	tests[4].config = strings.Replace(base, `{number: "12333", name: "人社"`, `{number: "12345", name: "人社"`, 1)
	tests[4].want = `lines[1].number: "12345" duplicates lines[0]`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runGatewayOnce(t, tt.config)
			if code == 0 {
				t.Fatalf("exit code 0, want non-zero; output:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tt.want) {
				t.Fatalf("last line %q does not name %q; output:\n%s", last, tt.want, out)
			}
			if !strings.HasPrefix(last, "hotline-gw: ") {
				t.Fatalf("last line %q is not the one-line error", last)
			}
		})
	}
	_ = syscall.SIGTERM
}
