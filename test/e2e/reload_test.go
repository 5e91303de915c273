package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// SIGHUP on the lab, with a call in progress: a seat added to the file
// logs in without a restart; a broken file is refused (metric and one log
// line) and the old tokens keep working; the call talking to agent 1001
// through both reloads completes normally, is counted once and gives one
// ticket; the process never exits on SIGHUP.
func TestSIGHUPReloadsSeatsRefusesBrokenFileAndLeavesCallsAlone(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	seat := func(ext string) string {
		return fmt.Sprintf("    - {extension: %q, token: %q}\n", ext, labtest.AgentToken(ext))
	}
	acd := "acd:\n  ring_timeout: 4s\n  poll_interval: 200ms\n  require_desktop: true\n  agents:\n" + seat("1001") +
		fmt.Sprintf("tickets: {sink: %q}\n", sink.Addr)
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: acd})
	labtest.StartPhone(t, "1001", labtest.Answer)
	labtest.StartPhone(t, "1002", labtest.Answer)
	d1 := labtest.OpenDesktop(t, g, "1001", "general")

	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	agents := hotlinev1.NewAgentServiceClient(conn)
	login1002 := func() error {
		ctx, cancel := context.WithTimeout(labtest.WithToken(context.Background(), labtest.AgentToken("1002")), 5*time.Second)
		defer cancel()
		_, err := agents.Login(ctx, &hotlinev1.LoginRequest{Extension: "1002", Skills: []string{"general"}})
		return err
	}
	if err := login1002(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("1002 before its seat is in the file: %v, want Unauthenticated", err)
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(g.PID(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitMetric := func(result string, want float64) {
		t.Helper()
		labtest.Eventually(t, 10*time.Second, func() error {
			if got := g.Metric("hotline_config_reloads_total", map[string]string{"result": result}); got != want {
				return fmt.Errorf("hotline_config_reloads_total{result=%q} = %v, want %v", result, got, want)
			}
			return nil
		})
	}

	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13900000031", Duration: 8 * time.Second})
	callID := waitOffer(t, d1)
	labtest.Eventually(t, 10*time.Second, func() error {
		for _, k := range progressKinds(d1, callID) {
			if k == hotlinev1.CallProgress_KIND_CONNECTED {
				return nil
			}
		}
		return fmt.Errorf("call %s not connected to 1001 yet: %v", callID, progressKinds(d1, callID))
	})

	// 1. The seat 1002 added to the file, SIGHUP: it logs in, no restart.
	orig, err := os.ReadFile(g.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	added := strings.Replace(string(orig), seat("1001"), seat("1001")+seat("1002"), 1)
	if added == string(orig) {
		t.Fatalf("seat 1001 not found in the generated configuration:\n%s", orig)
	}
	if err := os.WriteFile(g.ConfigPath, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	pid := g.PID()
	hup()
	waitMetric("ok", 1)
	if err := login1002(); err != nil {
		t.Fatalf("1002 after SIGHUP added its seat: %v", err)
	}

	// 2. A broken file (an unknown key), SIGHUP: refused, the old
	// configuration (with 1002) stays.
	if err := os.WriteFile(g.ConfigPath, []byte(added+"no_such_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	waitMetric("refused", 1)
	if n := strings.Count(g.Log(), "configuration reload refused; the configuration in force stays"); n != 1 {
		t.Errorf("%d refusal log lines, want 1:\n%s", n, g.Log())
	}
	if !strings.Contains(g.Log(), "no_such_key") {
		t.Error("the refusal does not name the unknown key no_such_key")
	}
	if err := login1002(); status.Code(err) != codes.AlreadyExists { // admitted, logged in since step 1
		t.Errorf("1002 after the refused reload: %v, want AlreadyExists (its token still valid)", err)
	}
	if st := d1.State(t); st.Extension != "1001" {
		t.Errorf("1001's GetAgent after the refused reload: %+v", st)
	}
	if g.PID() != pid || !g.Ready() {
		t.Fatalf("gateway restarted or not ready after SIGHUP (pid %d, was %d)", g.PID(), pid)
	}

	// 3. The call in progress through both reloads ends normally, once.
	if res := <-done; res.Successful != 1 || res.Failed != 0 {
		t.Fatalf("the call in progress during the reloads: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	labtest.Settle(t, 15*time.Second, rd.Addr, []*labtest.Gateway{g}, func() error {
		counted, err := labtest.CountedCalls(t, rd.Addr, "inbound")
		if err != nil {
			return err
		}
		if len(counted) != 1 || !counted[callID] {
			return fmt.Errorf("counted %v, want only %s", counted, callID)
		}
		if n := g.Metric("hotline_calls_total", map[string]string{"direction": "inbound", "line": "12345"}); n != 1 {
			return fmt.Errorf("hotline_calls_total{inbound,12345} = %v, want 1", n)
		}
		if n := g.Metric("hotline_calls_answered_total", map[string]string{"line": "12345"}); n != 1 {
			return fmt.Errorf("hotline_calls_answered_total{12345} = %v, want 1", n)
		}
		return sink.CheckTickets(t, counted, 1)
	})
}

// -config defaults to where the package installs the configuration, not to
// the lab example; a missing file is one clear line and exit 2.
func TestConfigDefaultAndMissingFile(t *testing.T) {
	bin := labtest.Binary(t, "hotline-gw")
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	if !strings.Contains(string(out), "/etc/hotline-gw/gateway.yaml") || strings.Contains(string(out), "gateway.example.yaml\"") {
		t.Errorf("-h does not name /etc/hotline-gw/gateway.yaml as the default:\n%s", out)
	}
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	cmd := exec.Command(bin, "-config", missing)
	b, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || strings.Count(string(b), "\n") != 1 ||
		!strings.Contains(string(b), missing+" does not exist") || !strings.Contains(string(b), "-config FILE") {
		t.Errorf("missing config: exit %d, %q; want exit 2 and one line naming the file and -config", code, b)
	}
}
