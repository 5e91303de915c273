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
