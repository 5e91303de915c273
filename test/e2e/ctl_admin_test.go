package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

var updateGolden = flag.Bool("update", false, "rewrite test/e2e/testdata/ctl/*.golden from this run")

var timeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}`)

// golden compares hotlinectl's table output with
// testdata/ctl/<name>.golden after replacing the run's IDs (names) and
// times (<time>) and writing each row's cells " | "-separated, cut at the
// header's columns (IDs differ in length from run to run; empty cells
// stay). Cutting checks the alignment by display width (a Chinese
// character is two columns): every row has its gap before each header
// column, so no cell straddles one.
func golden(t *testing.T, name, out string, names map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	starts := cellStarts(lines[0])
	ids := make([]string, 0, len(names))
	for id := range names {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return len(ids[i]) > len(ids[j]) }) // "1.55" before "1.5"
	var b strings.Builder
	for _, l := range lines {
		cols := columns(l)
		var cells []string
		for i, s := range starts {
			if s > 0 && s-1 < len(cols) && cols[s-1] != " " {
				t.Errorf("%s: %q has no gap before the header's column %d: misaligned", name, l, s)
			}
			e := len(cols)
			if i+1 < len(starts) {
				e = min(e, starts[i+1])
			}
			cell := ""
			if s < len(cols) {
				cell = strings.TrimSpace(strings.Join(cols[s:e], ""))
			}
			cells = append(cells, cell)
		}
		row := strings.Join(cells, " | ")
		for _, id := range ids {
			row = strings.ReplaceAll(row, id, names[id])
		}
		b.WriteString(strings.TrimRight(timeRE.ReplaceAllString(row, "<time>"), " |") + "\n")
	}
	got := b.String()
	path := filepath.Join("testdata", "ctl", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("hotlinectl %s differs from %s:\n--- got\n%s--- want\n%s\nraw output:\n%s", name, path, got, want, out)
	}
}

// columns lays l out on a terminal: one string per display column, a
// wide character in its first column and "" in its second.
func columns(l string) []string {
	var out []string
	for _, r := range l {
		out = append(out, string(r))
		for range runewidth.RuneWidth(r) - 1 {
			out = append(out, "")
		}
	}
	return out
}

// cellStarts returns the display columns where the cells of a header line
// start (at 0, then after two or more spaces).
func cellStarts(l string) []int {
	var out []int
	col, spaces, first := 0, 0, true
	for _, r := range l {
		if r == ' ' {
			spaces++
		} else {
			if first || spaces >= 2 {
				out = append(out, col)
			}
			first, spaces = false, 0
		}
		col += runewidth.RuneWidth(r)
	}
	return out
}

// The administrator's commands against a gateway on the lab, each checked
// against its golden output: agent 1001 on a call to 12345, agent 1002
// paused, a caller waiting in the 12333 (renshe) queue, both live calls,
// two dead-lettered tickets, one requeued by ID, then the rest with --all.
func TestHotlinectlAdminGoldens(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Extra: labtest.AgentsYAML(sink.Addr, "")})
	labtest.StartPhone(t, "1001", labtest.Answer)
	d1 := labtest.OpenDesktop(t, g, "1001", "general")
	d2 := labtest.OpenDesktop(t, g, "1002", "renshe")
	ctx, cancel := context.WithTimeout(d2.Auth(context.Background()), 5*time.Second)
	defer cancel()
	if _, err := d2.Client().SetState(ctx, &hotlinev1.SetStateRequest{Extension: "1002", State: hotlinev1.AgentState_AGENT_STATE_PAUSED, Reason: "break"}); err != nil {
		t.Fatal(err)
	}
	addr := g.GRPC

	doneA := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13900000041", Duration: 12 * time.Second})
	callA := waitOffer(t, d1)
	labtest.Eventually(t, 10*time.Second, func() error {
		if a := d1.State(t); a.State != hotlinev1.AgentState_AGENT_STATE_ON_CALL {
			return fmt.Errorf("1001 is %v, want on call", a.State)
		}
		return nil
	})
	doneB := labtest.StartCalls(t, labtest.Calls{DID: "12333", Caller: "13900000042", Duration: 8 * time.Second})
	var callB string
	labtest.Eventually(t, 10*time.Second, func() error {
		var q struct {
			Calls []struct {
				CallID string `json:"call_id"`
			} `json:"calls"`
		}
		if err := json.Unmarshal([]byte(hotlinectl(t, "queue", "--addr", addr, "--json")), &q); err != nil {
			return err
		}
		if len(q.Calls) != 1 {
			return fmt.Errorf("%d calls queued, want 1", len(q.Calls))
		}
		callB = q.Calls[0].CallID
		return nil
	})
	names := map[string]string{callA: "<call-A>", callB: "<call-B>"}

	golden(t, "agents", hotlinectl(t, "agents", "--addr", addr), names)
	golden(t, "queue", hotlinectl(t, "queue", "--addr", addr), names)
	golden(t, "queue-renshe", hotlinectl(t, "queue", "--addr", addr, "--skill", "renshe"), names)
	golden(t, "calls", hotlinectl(t, "calls", "--addr", addr), names)
	var calls struct {
		Calls []struct {
			CallID string `json:"call_id"`
			Line   string `json:"line"`
		} `json:"calls"`
	}
	if err := json.Unmarshal([]byte(hotlinectl(t, "calls", "--addr", addr, "--json")), &calls); err != nil ||
		len(calls.Calls) != 2 || calls.Calls[0].CallID != callA || calls.Calls[1].Line != "12333" {
		t.Errorf("calls --json: %+v (%v)", calls, err)
	}

	// Two tickets the sink refused for good, as the deliverer leaves them.
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer rdb.Close()
	for i, id := range []string{"ticket-dead-1", "ticket-dead-2"} {
		raw, _ := proto.Marshal(&hotlinev1.Ticket{TicketId: id, CallerNumber: "13900000050"})
		dl, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "{hl}:tickets:dead", Values: []any{"id", id, "t", string(raw),
			"reason", "invalid_argument", "error", "ticket system: caller_number rejected", "attempts", "5", "consumer", "hotline-gw"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		names[dl] = fmt.Sprintf("<dead-%d>", i+1)
	}
	golden(t, "tickets-dead", hotlinectl(t, "tickets", "dead", "--addr", addr), names)
	var first string
	for id, n := range names {
		if n == "<dead-1>" {
			first = id
		}
	}
	golden(t, "tickets-requeue-id", hotlinectl(t, "tickets", "requeue", first, "--addr", addr), names)
	if out, code := hotlinectlCode(t, "tickets", "requeue", first, "--addr", addr); code != 1 || !strings.Contains(out, "NotFound") {
		t.Errorf("requeue the same again: exit %d, %q; want exit 1 NotFound", code, out)
	}
	golden(t, "tickets-requeue-all", hotlinectl(t, "tickets", "requeue", "--all", "--addr", addr), names)
	golden(t, "tickets-dead-empty", hotlinectl(t, "tickets", "dead", "--addr", addr), names)

	for _, c := range [][]string{{"agents"}, {"queue"}, {"calls"}, {"tickets", "dead"}, {"tickets", "requeue"}} {
		if out, code := hotlinectlCode(t, append(c, "--help")...); code != 0 || !strings.HasPrefix(out, "usage: hotlinectl "+strings.Join(c, " ")) {
			t.Errorf("%v --help: exit %d\n%s", c, code, out)
		}
	}
	// An agent's token is refused.
	if out, code := hotlinectlCode(t, "agents", "--addr", addr, "--token", labtest.AgentToken("1001")); code != 1 || !strings.Contains(out, "PermissionDenied") {
		t.Errorf("agents with an agent's token: exit %d, %q; want PermissionDenied", code, out)
	}
	if res := <-doneA; res.Successful != 1 {
		t.Errorf("call A: %+v", res)
	}
	<-doneB
}
