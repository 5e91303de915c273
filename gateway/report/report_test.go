package report

import (
	"strings"
	"testing"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

func TestParagraphHasTheSeedsSentenceShape(t *testing.T) {
	s := &hotlinev1.GetStatsResponse{
		From: "2023-01-01", To: "2023-02-28", InboundTotal: 26385, OutboundTotal: 19294,
		AnswerTargetSeconds: 15,
		Lines: []*hotlinev1.LineStats{
			{Line: "12345", Inbound: 16342},
			{Line: "12333", Merged: true, Inbound: 5089},
			{Line: "12315", Merged: true, Inbound: 3470},
			{Line: "12348", Merged: true, Inbound: 1484},
		},
	}
	got := Paragraph(s)
	want := "2023 年 1-2 月份热线平台呼入总次数 26385 次(含归并优化后 12333 呼入 5089 次，12315 呼入 3470 次，12348 呼入 1484 次)，呼出总次数 19294 次。"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("paragraph:\n got %s\nwant prefix %s", got, want)
	}
}

func TestPeriod(t *testing.T) {
	for _, tt := range []struct{ from, to, want string }{
		{"2023-01-01", "2023-02-28", "2023 年 1-2 月份"},
		{"2023-01-01", "2023-01-31", "2023 年 1 月份"},
		{"2023-01-05", "2023-01-20", "2023-01-05 至 2023-01-20"},
		{"2023-01-05", "2023-01-05", "2023-01-05"},
	} {
		if got := Period(tt.from, tt.to); got != tt.want {
			t.Errorf("Period(%s, %s) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

// The dispositions give the seed's 热线当即答复 / 网络转办 sentence, and the
// line and period tables have their columns.
func TestDispositionFigures(t *testing.T) {
	s := &hotlinev1.GetStatsResponse{
		From: "2023-01-01", To: "2023-02-28", InboundTotal: 26385, OutboundTotal: 19294,
		AnsweredOnSpot: 17665, ForwardedToDepartment: 12993,
		Lines:   []*hotlinev1.LineStats{{Line: "12345", AnsweredOnSpot: 17000, ForwardedToDepartment: 12000}},
		Periods: []*hotlinev1.PeriodStats{{Period: "2023-01-01", AnsweredOnSpot: 3, ForwardedToDepartment: 2}},
	}
	if want := "呼出总次数 19294 次。热线当即答复 17665 件，网络转办 12993 件。"; !strings.Contains(Paragraph(s), want) {
		t.Errorf("paragraph %s\nwant it to contain %s", Paragraph(s), want)
	}
	for _, tc := range []struct {
		tb   Table
		want [][2]string // row 0 and the total row, last two columns
	}{
		{LinesTable(s), [][2]string{{"17000", "12000"}, {"17665", "12993"}}},
		{PeriodsTable(s, ByDay), [][2]string{{"3", "2"}, {"17665", "12993"}}},
	} {
		h := tc.tb.Header
		if h[len(h)-2] != "当即答复" || h[len(h)-1] != "网络转办" {
			t.Errorf("header %q; want 当即答复, 网络转办 last", h)
		}
		for i, row := range [][]string{tc.tb.Rows[0], tc.tb.Rows[len(tc.tb.Rows)-1]} {
			if got := [2]string{row[len(row)-2], row[len(row)-1]}; got != tc.want[i] {
				t.Errorf("row %q: dispositions %q, want %q", row, got, tc.want[i])
			}
		}
	}
	if n := (&hotlinev1.GetStatsResponse{}); strings.Contains(Paragraph(n), "当即答复") {
		t.Errorf("paragraph without dispositions mentions them: %s", Paragraph(n))
	}
}

// Follow-up verdicts join the keypad survey in 满意率 (基本满意 counted
// satisfied); the keypad-only rate stays beside it.
func TestFollowUpSatisfaction(t *testing.T) {
	s := &hotlinev1.GetStatsResponse{From: "2026-12-01", To: "2026-12-01", Satisfied: 6, Unsatisfied: 2, SatisfactionRate: 0.75,
		FollowUpSatisfied: 3, FollowUpBasicallySatisfied: 1, FollowUpDissatisfied: 4, OverallSatisfactionRate: 0.625}
	want := "满意度评价 16 次(按键评价 8 次，回访 8 次)，满意 10 次(回访满意 3 次、基本满意 1 次)，满意率 62.50%(按键评价满意率 75.00%)。"
	if !strings.Contains(Paragraph(s), want) {
		t.Errorf("paragraph %s\nwant it to contain %s", Paragraph(s), want)
	}
	keypad := &hotlinev1.GetStatsResponse{Satisfied: 6, Unsatisfied: 2, SatisfactionRate: 0.75}
	if want := "通话满意度评价 8 次，满意 6 次，满意率 75.00%。"; !strings.Contains(Paragraph(keypad), want) || strings.Contains(Paragraph(keypad), "回访") {
		t.Errorf("keypad-only paragraph %s\nwant %s and no 回访", Paragraph(keypad), want)
	}
}
