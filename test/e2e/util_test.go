package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/test/labtest"
)

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// runGatewayOnce runs hotline-gw with config until it exits (at most 20 s).
func runGatewayOnce(t *testing.T, config string) (int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, labtest.Binary(t, "hotline-gw"), "-config", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String()
}

var adoptedRE = regexp.MustCompile(`msg="adopted call left by a previous gateway" call_id=(\S+)`)

func sortedIDs(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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

// outcomesAddUp checks that every inbound call has one outcome: answered,
// abandoned (greeting, queue, ringing), overflowed or a call-back
// requested from the queue.
func outcomesAddUp(st *hotlinev1.GetStatsResponse) error {
	var ovf uint64
	for _, l := range st.Lines {
		ovf += l.Overflow
	}
	sum := st.Answered + st.AbandonedGreeting + st.AbandonedQueue + st.AbandonedRinging + ovf + st.CallbackRequested + st.Shed
	if sum != st.InboundTotal {
		return fmt.Errorf("outcomes: answered %d + abandoned %d/%d/%d + overflow %d + callback_requested %d + shed %d = %d, want inbound %d",
			st.Answered, st.AbandonedGreeting, st.AbandonedQueue, st.AbandonedRinging, ovf, st.CallbackRequested, st.Shed, sum, st.InboundTotal)
	}
	return nil
}

// roleTokens is a lab token of each role a client can hold (agent 1001's
// for the agent role), for the role matrices over gRPC and HTTP.
func roleTokens() map[auth.Role]string {
	return map[auth.Role]string{
		auth.RoleAgent:        labtest.AgentToken("1001"),
		auth.RoleSupervisor:   labtest.SupervisorToken,
		auth.RolePolice110:    labtest.PoliceToken,
		auth.RoleTicketSystem: labtest.TicketSystemToken,
		auth.RoleWall:         labtest.WallToken,
		auth.RoleInspector:    labtest.InspectorToken,
	}
}
