package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"

	"github.com/hotline12345/hotline-gw/test/labtest"
)

// cells splits a row of a hotlinectl text table: columns are two or more
// spaces apart (a name such as "人社 [归并]" holds one).
var cellSep = regexp.MustCompile(`\s{2,}`)

// table returns the rows of the text table that starts with header (a
// prefix of its first line) in out. With rightEdge (a table whose last
// column is numeric, so right-aligned) it checks that every line of it is
// as wide on a terminal as the header.
func table(t *testing.T, out, header string, rightEdge bool) [][]string {
	t.Helper()
	i := strings.Index(out, header)
	if i < 0 {
		t.Fatalf("no table headed %q in:\n%s", header, out)
	}
	block, _, _ := strings.Cut(out[i:], "\n\n")
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	var rows [][]string
	for _, l := range lines[1:] {
		if w, hw := runewidth.StringWidth(l), runewidth.StringWidth(lines[0]); rightEdge && w != hw {
			t.Errorf("table %q misaligned: %q is %d columns wide, the header %d", header, l, w, hw)
		}
		rows = append(rows, cellSep.Split(strings.TrimSpace(l), -1))
	}
	return rows
}

func csvRecords(t *testing.T, out string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, out)
	}
	return recs
}

// Every hotlinectl subcommand against a gateway on the lab, after calls
// placed with known outcomes: two callers abandoned in the 12333 queue (no
// agent has its skill) and one 12345 call the agent blind-transfers to 110
// with *1. The report (by line, day and hour), the call-back tasks and the
// transfer records say exactly that.
func TestHotlinectlAgainstTheLab(t *testing.T) {
	rl := startTransferLab(t)
	labtest.StartUAS(t, "110", 5310, labtest.Answer)
	labtest.StartPhone(t, "1001", "uas_answer_dtmf_info.xml", "-d", "1500", "-set", "digits", "*1")
	d := labtest.OpenDesktop(t, rl.g, "1001", "general")
	addr, token := rl.g.GRPC, labtest.SupervisorToken
	hours := map[int]bool{time.Now().In(shanghai).Hour(): true}

	abandoned := []string{"13900000011", "13900000012"}
	for _, c := range abandoned {
		if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12333", Caller: c, Duration: time.Second}); res.Successful != 1 {
			t.Fatalf("call from %s: %+v", c, res)
		}
	}
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13900000013", Duration: 8 * time.Second})
	callID := waitOffer(t, d)
	waitParties(t, callID, caller, police)
	if res := <-done; res.Successful != 1 {
		t.Fatalf("transferred caller: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	hours[time.Now().In(shanghai).Hour()] = true
	labtest.Settle(t, 15*time.Second, "", []*labtest.Gateway{rl.g}, func() error {
		if st, err := getStats(rl.g, today(), today()); err != nil || st.InboundTotal != 3 || st.TransfersTo110 != 1 || st.Answered != 1 {
			return fmt.Errorf("stats %v (%v), want 3 inbound, 1 answered, 1 transfer to 110", st, err)
		}
		return nil
	})

	// report --by line: one row per line and the total.
	out := hotlinectl(t, "report", "--addr", addr, "--from", today())
	if want := "热线平台呼入总次数 3 次(含归并优化后 12333 呼入 2 次，12315 呼入 0 次，12348 呼入 0 次)，呼出总次数 0 次。"; !strings.Contains(out, want) {
		t.Errorf("report does not say %q:\n%s", want, out)
	}
	if want := "一键转接 110 共 1 次"; !strings.Contains(out, want) {
		t.Errorf("report does not say %q:\n%s", want, out)
	}
	// line, name, inbound, outbound, answered, (within target), abandoned greeting/queue/ringing
	wantLines := [][]string{
		{"12345", "12345政务服务便民热线", "1", "0", "1", "", "0", "0", "0"},
		{"12333", "人社 [归并]", "2", "0", "0", "0", "0", "2", "0"},
		{"12315", "市场监管 [归并]", "0", "0", "0", "0", "0", "0", "0"},
		{"12348", "法律服务 [归并]", "0", "0", "0", "0", "0", "0", "0"},
		{"合计", "3", "0", "1", "", "0", "2", "0"}, // 合计 has no name
	}
	rows := table(t, out, "线路", true)
	if len(rows) != len(wantLines) {
		t.Fatalf("report by line: %d rows, want %d:\n%s", len(rows), len(wantLines), out)
	}
	for i, want := range wantLines {
		for j, w := range want {
			if w != "" && (j >= len(rows[i]) || rows[i][j] != w) {
				t.Errorf("report by line, row %d column %d: %q, want %q (row %q)", i+1, j+1, rows[i], w, want)
				break
			}
		}
	}

	// report --by day over yesterday and today: two rows and the total.
	yesterday := time.Now().In(shanghai).AddDate(0, 0, -1).Format(time.DateOnly)
	recs := csvRecords(t, hotlinectl(t, "report", "--addr", addr, "--from", yesterday, "--to", today(), "--by", "day", "--format", "csv"))
	if len(recs) != 4 || recs[1][0] != yesterday || recs[1][1] != "0" || recs[2][0] != today() || recs[2][1] != "3" || recs[3][0] != "合计" || recs[3][1] != "3" {
		t.Errorf("report by day, CSV: %q; want %s with 0, %s with 3, 合计 3", recs, yesterday, today())
	}

	// report --by hour: 24 hours summing to the day, the calls in the hours they were placed.
	recs = csvRecords(t, hotlinectl(t, "report", "--addr", addr, "--from", today(), "--by", "hour", "--format", "csv"))
	if len(recs) != 26 {
		t.Fatalf("report by hour: %d records, want 26", len(recs))
	}
	sum := 0
	for h := 0; h < 24; h++ {
		n, err := strconv.Atoi(recs[h+1][1])
		if err != nil {
			t.Fatalf("hour row %q", recs[h+1])
		}
		if n != 0 && !hours[h] {
			t.Errorf("hour %02d has %d calls; calls were placed in hours %v", h, n, hours)
		}
		sum += n
	}
	if sum != 3 || recs[25][1] != "3" {
		t.Errorf("hours sum to %d, 合计 %s; want 3", sum, recs[25][1])
	}

	// callbacks: the two abandoned callers, open.
	out = hotlinectl(t, "callbacks", "--addr", addr, "--token", token)
	rows = table(t, out, "编号", false)
	if len(rows) != 2 {
		t.Fatalf("callbacks: %d rows, want 2:\n%s", len(rows), out)
	}
	got := map[string]bool{}
	for _, r := range rows {
		if len(r) < 5 || r[2] != "12333" || r[4] != "待回拨" {
			t.Errorf("callback row %q: want line 12333, state 待回拨", r)
			continue
		}
		got[r[1]] = true
	}
	for _, c := range abandoned {
		if !got[c] {
			t.Errorf("no call-back task for %s:\n%s", c, out)
		}
	}
	var cbs struct {
		Callbacks []struct {
			CallerNumber string `json:"caller_number"`
			State        string `json:"state"`
		} `json:"callbacks"`
	}
	if err := json.Unmarshal([]byte(hotlinectlEnv(t, []string{"HOTLINE_ADDR=" + addr, "HOTLINE_TOKEN=" + token}, "callbacks", "--open", "--json")), &cbs); err != nil || len(cbs.Callbacks) != 2 {
		t.Errorf("callbacks --json (address and token from the environment): %+v (%v), want 2 tasks", cbs, err)
	}

	// transfers: the one blind transfer of the 12345 call, completed by agent 1001.
	out = hotlinectl(t, "transfers", "--addr", addr, "--token", token, "--call", callID)
	rows = table(t, out, "转接编号", false)
	if len(rows) != 1 {
		t.Fatalf("transfers: %d rows, want 1:\n%s", len(rows), out)
	}
	if r := rows[0]; len(r) < 7 || r[1] != callID || r[2] != "转110" || r[3] != "盲转" || r[4] != "已完成" || r[5] != "completed" || r[6] != "1001" {
		t.Errorf("transfer row %q; want call %s, 转110, 盲转, 已完成, completed, agent 1001", r, callID)
	}
	var xs struct {
		Transfers []struct {
			CallID string `json:"call_id"`
			Mode   string `json:"mode"`
		} `json:"transfers"`
	}
	if err := json.Unmarshal([]byte(hotlinectl(t, "transfers", "--addr", addr, "--token", token, "--json")), &xs); err != nil ||
		len(xs.Transfers) != 1 || xs.Transfers[0].CallID != callID || xs.Transfers[0].Mode != "TRANSFER_MODE_BLIND" {
		t.Errorf("transfers --json: %+v (%v)", xs, err)
	}

	// Without a token the gateway refuses, and hotlinectl says so in one line.
	noToken := exec.Command(labtest.Binary(t, "hotlinectl"), "callbacks", "--addr", addr)
	noToken.Env = append(os.Environ(), "HOTLINE_TOKEN=") // the last value wins: no token
	b, _ := noToken.CombinedOutput()
	out, code := string(b), noToken.ProcessState.ExitCode()
	if code != 1 || !strings.Contains(out, "Unauthenticated") || strings.Count(out, "\n") != 1 {
		t.Errorf("callbacks without a token: exit %d, %q; want exit 1 and Unauthenticated", code, out)
	}
	for _, c := range []string{"report", "callbacks", "transfers"} {
		if out, code := hotlinectlCode(t, c, "--help"); code != 0 || !strings.HasPrefix(out, "usage: hotlinectl "+c) {
			t.Errorf("%s --help: exit %d\n%s", c, code, out)
		}
	}
}

// hotlinectlEnv runs hotlinectl with env added to its environment.
func hotlinectlEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(labtest.Binary(t, "hotlinectl"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hotlinectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}
