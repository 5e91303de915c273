package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/xuri/excelize/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/edge"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/report"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// placed is what the tests count: calls at fixed times (Asia/Shanghai) on
// two days. Every expectation below is computed from it.
type placedCall struct {
	id       string
	line     string
	at       time.Time
	answered bool
}

func placedCalls() []placedCall {
	d := func(day, h, m int) time.Time { return time.Date(2023, 4, day, h, m, 0, 0, shanghai) }
	return []placedCall{
		{"a1", "12345", d(30, 9, 5), true},
		{"a2", "12345", d(30, 9, 40), false},
		{"a3", "12333", d(30, 14, 0), true},
		{"a4", "12345", d(30, 23, 59), true},
		{"b1", "12315", d(31, 0, 30), true}, // 1 May, 00:30
		{"b2", "12315", d(31, 1, 0), false},
		{"b3", "12348", d(31, 10, 0), true},
	}
}

type statsRig struct {
	addr string
	mu   sync.Mutex
	auth []string // authorization headers received
}

func (r *statsRig) lastAuth() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.auth) == 0 {
		return ""
	}
	return r.auth[len(r.auth)-1]
}

// startStats counts placedCalls into a real redis-server through package
// count and serves the gateway's StatsService over real gRPC on loopback.
func startStats(t *testing.T) *statsRig {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	c := count.New(count.Options{Redis: rdb, Keys: store.NewKeys("ctltest"), Location: shanghai,
		Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(prometheus.NewRegistry()).Calls})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, p := range placedCalls() {
		c.Add(count.Op{CallID: p.id, Kind: count.Inbound, Line: p.line, At: p.at})
		if p.answered {
			c.Add(count.Op{CallID: p.id, Kind: count.Answered, Line: p.line, At: p.at, Value: 3000})
		} else {
			c.Add(count.Op{CallID: p.id, Kind: count.AbandonQueue, Line: p.line, At: p.at})
		}
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	if err := c.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	plan := line.New([]line.Config{
		{Number: "12345", Name: "市民服务热线", Skill: "general"},
		{Number: "12333", Name: "人社", Skill: "renshe", MergedInto: "12345"},
		{Number: "12315", Name: "市场监管", Skill: "general", MergedInto: "12345"},
		{Number: "12348", Name: "法律服务", Skill: "general", MergedInto: "12345"},
	}, line.Numbering{})
	r := &statsRig{}
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		r.mu.Lock()
		r.auth = append(r.auth, strings.Join(md.Get("authorization"), ","))
		r.mu.Unlock()
		// The gateway's guard checks the token; this rig only records it
		// and lets the request through as a supervisor's.
		return h(auth.NewContext(ctx, auth.Principal{Role: auth.RoleSupervisor, Name: "test"}), req)
	}))
	hotlinev1.RegisterStatsServiceServer(gs, &edge.StatsServer{Counter: c, Plan: plan, Location: shanghai,
		AnswerTarget: 15 * time.Second, Log: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	r.addr = ln.Addr().String()
	return r
}

func ctl(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e, func(k string) string { return env[k] })
	return o.String(), e.String(), code
}

func mustCtl(t *testing.T, r *statsRig, args ...string) string {
	t.Helper()
	out, errOut, code := ctl(t, map[string]string{"HOTLINE_ADDR": r.addr}, args...)
	if code != 0 {
		t.Fatalf("hotlinectl %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// inbound per day and per hour, from placedCalls.
func expected() (perDay map[string]int, perHour map[string]map[int]int) {
	perDay, perHour = map[string]int{}, map[string]map[int]int{}
	for _, p := range placedCalls() {
		d := p.at.Format(time.DateOnly)
		perDay[d]++
		if perHour[d] == nil {
			perHour[d] = map[int]int{}
		}
		perHour[d][p.at.Hour()]++
	}
	return perDay, perHour
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	body, ok := strings.CutPrefix(s, "\ufeff")
	if !ok {
		t.Fatalf("CSV without its byte-order mark: %q", s)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not read back: %v\n%s", err, s)
	}
	return recs
}

// A two-day range by day gives two rows, each with that day's calls, and
// the total; the same in CSV and in an XLSX workbook read back.
func TestReportTwoDaysGiveTwoRows(t *testing.T) {
	r := startStats(t)
	perDay, _ := expected()
	days := []string{"2023-04-30", "2023-05-01"}

	recs := readCSV(t, mustCtl(t, r, "report", "--from", days[0], "--to", days[1], "--by", "day", "--format", "csv"))
	if len(recs) != 4 || recs[0][0] != "日期" || recs[0][1] != "呼入" {
		t.Fatalf("CSV by day: %q, want header, two days, 合计", recs)
	}
	for i, d := range days {
		if recs[i+1][0] != d || recs[i+1][1] != strconv.Itoa(perDay[d]) {
			t.Errorf("CSV row %d = %q, want %s with %d inbound", i+1, recs[i+1], d, perDay[d])
		}
	}
	if recs[3][0] != "合计" || recs[3][1] != strconv.Itoa(len(placedCalls())) {
		t.Errorf("CSV total = %q, want %d inbound", recs[3], len(placedCalls()))
	}

	out := filepath.Join(t.TempDir(), "report.xlsx")
	if got := mustCtl(t, r, "report", "--from", days[0], "--to", days[1], "--by", "day", "--format", "xlsx", "--out", out); got != "" {
		t.Errorf("xlsx --out printed %q", got)
	}
	f, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(report.SheetTable)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "日期" {
		t.Fatalf("xlsx rows = %q", rows)
	}
	for i, d := range days {
		cell := fmt.Sprintf("B%d", i+2)
		v, err := f.GetCellValue(report.SheetTable, cell)
		if rows[i+1][0] != d || err != nil || v != strconv.Itoa(perDay[d]) {
			t.Errorf("xlsx row %d = %q, %s = %q (%v); want %s with %d inbound", i+2, rows[i+1], cell, v, err, d, perDay[d])
		}
		if typ, _ := f.GetCellType(report.SheetTable, cell); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
			t.Errorf("xlsx %s has type %v, want a number", cell, typ)
		}
	}
	para, err := f.GetCellValue(report.SheetParagraph, "A1")
	if want := fmt.Sprintf("热线平台呼入总次数 %d 次", len(placedCalls())); err != nil || !strings.Contains(para, want) {
		t.Errorf("xlsx paragraph %q (%v), want it to say %q", para, err, want)
	}

	var js struct {
		Periods []struct {
			Period  string `json:"period"`
			Inbound string `json:"inbound"`
		} `json:"periods"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, r, "report", "--from", days[0], "--to", days[1], "--by", "day", "--json")), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Periods) != 2 || js.Periods[0].Period != days[0] || js.Periods[1].Inbound != strconv.Itoa(perDay[days[1]]) {
		t.Errorf("--json periods = %+v", js.Periods)
	}
}

// The hour table of one day has 24 rows that sum to the day, each hour
// with the calls placed in it.
func TestReportHoursSumToTheDay(t *testing.T) {
	r := startStats(t)
	perDay, perHour := expected()
	for _, d := range []string{"2023-04-30", "2023-05-01"} {
		recs := readCSV(t, mustCtl(t, r, "report", "--from", d, "--by", "hour", "--format", "csv"))
		if len(recs) != 26 || recs[0][0] != "时段" {
			t.Fatalf("%s by hour: %d records, want header, 24 hours, 合计", d, len(recs))
		}
		sum := 0
		for h := 0; h < 24; h++ {
			row := recs[h+1]
			n, err := strconv.Atoi(row[1])
			if err != nil || row[0] != fmt.Sprintf("%02d:00-%02d:00", h, h+1) || n != perHour[d][h] {
				t.Errorf("%s hour row %q, want %02d:00 with %d inbound", d, row, h, perHour[d][h])
			}
			sum += n
		}
		if sum != perDay[d] || recs[25][1] != strconv.Itoa(perDay[d]) {
			t.Errorf("%s: hours sum to %d, 合计 %s, the day has %d", d, sum, recs[25][1], perDay[d])
		}
	}
}

// The text report keeps the seed's paragraph, and its table lines end at
// the same display column (numbers right-aligned, Chinese text counted two
// columns a character).
func TestReportTableIsAligned(t *testing.T) {
	r := startStats(t)
	for _, by := range []string{"line", "day", "hour"} {
		out := mustCtl(t, r, "report", "--from", "2023-04-30", "--to", "2023-05-01", "--by", by)
		parts := strings.Split(out, "\n\n")
		if len(parts) != 3 {
			t.Fatalf("--by %s: want paragraph, table, footer:\n%s", by, out)
		}
		want := fmt.Sprintf("2023-04-30 至 2023-05-01热线平台呼入总次数 %d 次(含归并优化后 12333 呼入 1 次，12315 呼入 2 次，12348 呼入 1 次)，呼出总次数 0 次。", len(placedCalls()))
		if !strings.HasPrefix(parts[0], want) {
			t.Errorf("--by %s paragraph:\n got %s\nwant %s…", by, parts[0], want)
		}
		lines := strings.Split(strings.TrimSuffix(parts[1], "\n"), "\n")
		w := runewidth.StringWidth(lines[0])
		for _, l := range lines[1:] {
			if runewidth.StringWidth(l) != w {
				t.Errorf("--by %s: %q is %d columns wide, the header %d", by, l, runewidth.StringWidth(l), w)
			}
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "合计") {
			t.Errorf("--by %s: last row %q is not 合计", by, last)
		}
	}
}

// The token comes from --token or HOTLINE_TOKEN and is sent as a bearer
// token; the address from --addr or HOTLINE_ADDR.
func TestAddressAndTokenFromFlagsOrEnvironment(t *testing.T) {
	r := startStats(t)
	args := []string{"report", "--from", "2023-04-30", "--json"}
	if _, e, code := ctl(t, map[string]string{"HOTLINE_ADDR": r.addr, "HOTLINE_TOKEN": "env-secret"}, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if got := r.lastAuth(); got != "Bearer env-secret" {
		t.Errorf("authorization = %q, want Bearer env-secret", got)
	}
	if _, e, code := ctl(t, map[string]string{"HOTLINE_ADDR": "127.0.0.1:1", "HOTLINE_TOKEN": "env-secret"},
		append(args, "--addr", r.addr, "--token", "flag-secret")...); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if got := r.lastAuth(); got != "Bearer flag-secret" {
		t.Errorf("authorization = %q, want Bearer flag-secret (the flag wins)", got)
	}
	if _, _, code := ctl(t, nil, append(args, "--addr", r.addr)...); code != 0 || r.lastAuth() != "" {
		t.Errorf("without a token: exit %d, authorization %q, want none", code, r.lastAuth())
	}
	out, _, _ := ctl(t, map[string]string{"HOTLINE_TOKEN": "env-secret"}, "report", "--help")
	if strings.Contains(out, "env-secret") {
		t.Errorf("--help prints the token from the environment:\n%s", out)
	}
}

func TestHelpAndBadFlags(t *testing.T) {
	for _, c := range commands {
		out, _, code := ctl(t, nil, c.name, "--help")
		if code != 0 || !strings.HasPrefix(out, "usage: hotlinectl "+c.name) || !strings.Contains(out, "-json") || !strings.Contains(out, "-token") {
			t.Errorf("%s --help: exit %d\n%s", c.name, code, out)
		}
		_, errOut, code := ctl(t, nil, c.name, "--no-such-flag")
		if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "no-such-flag") {
			t.Errorf("%s --no-such-flag: exit %d, %q; want exit 2 and one line", c.name, code, errOut)
		}
	}
	for _, args := range [][]string{
		{"report"},
		{"report", "--from", "2023-01-01", "--by", "week"},
		{"report", "--from", "2023-01-01", "--format", "pdf"},
		{"report", "--from", "2023-01-01", "--format", "xlsx"},
		{"callbacks", "--day", "yesterday"},
		{"transfers", "--limit", "0"},
		{"frobnicate"},
	} {
		_, errOut, code := ctl(t, map[string]string{"HOTLINE_ADDR": "127.0.0.1:1"}, args...)
		if code != 2 || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit 2 and one line", args, code, errOut)
		}
	}
	if out, _, code := ctl(t, nil, "--help"); code != 0 || !strings.Contains(out, "callbacks") || !strings.Contains(out, "transfers") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

// Hours over more than MaxHourRangeDays are refused by the gateway as an
// invalid argument, said in one line.
func TestReportByHourOverAYearIsRefused(t *testing.T) {
	r := startStats(t)
	_, errOut, code := ctl(t, map[string]string{"HOTLINE_ADDR": r.addr}, "report", "--from", "2023-01-01", "--to", "2023-12-31", "--by", "hour")
	if code != 1 || !strings.Contains(errOut, "InvalidArgument") || !strings.Contains(errOut, "per hour at most 92") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, %q; want exit 1 and one InvalidArgument line", code, errOut)
	}
}

// The two-word commands take their words apart; requeue needs IDs or
// --all, not both; --help exits 0 on each.
func TestTicketsSubcommandsParse(t *testing.T) {
	for _, args := range [][]string{{"tickets", "dead", "--help"}, {"tickets", "requeue", "--help"}, {"agents", "--help"}, {"queue", "--help"}, {"calls", "--help"}} {
		out, errOut, code := ctl(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "usage: hotlinectl "+strings.Join(args[:len(args)-1], " ")) {
			t.Errorf("%v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{
		{"tickets"},
		{"tickets", "alive"},
		{"tickets", "requeue"},
		{"tickets", "requeue", "1-0", "--all"},
		{"tickets", "dead", "--limit", "0"},
		{"tickets", "dead", "extra"},
	} {
		_, errOut, code := ctl(t, map[string]string{"HOTLINE_ADDR": "127.0.0.1:1"}, args...)
		if code != 2 || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit 2 and one line", args, code, errOut)
		}
	}
}

// A token is never sent in plaintext off loopback unless --insecure says
// so; without a token, or over TLS, or to loopback, nothing is refused.
func TestPlaintextTokenOffLoopbackIsRefused(t *testing.T) {
	_, errOut, code := ctl(t, map[string]string{"HOTLINE_TOKEN": "lab-token-supervisor"}, "agents", "--addr", "10.1.2.3:50051")
	if code != 2 || !strings.Contains(errOut, "plaintext") || !strings.Contains(errOut, "--ca") || strings.Contains(errOut, "lab-token-supervisor") {
		t.Errorf("plaintext token to 10.1.2.3: exit %d, %q; want exit 2 naming --ca", code, errOut)
	}
	// --insecure: the request is tried (and fails to connect: exit 1, not 2).
	_, errOut, code = ctl(t, map[string]string{"HOTLINE_TOKEN": "lab-token-supervisor"}, "agents", "--addr", "192.0.2.1:50051", "--insecure", "--timeout", "300ms")
	if code != 1 {
		t.Errorf("--insecure: exit %d, %q; want the request tried (exit 1, unreachable)", code, errOut)
	}
	r := startStats(t)
	if _, e, code := ctl(t, map[string]string{"HOTLINE_TOKEN": "lab-token-supervisor"}, "report", "--from", "2023-04-30", "--addr", r.addr); code != 0 {
		t.Errorf("loopback: exit %d, %s", code, e)
	}
}
