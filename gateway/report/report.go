// Package report renders the hotline's call statistics the way the city's
// monthly report writes them (section 一, 热线运行情况), plus a table.
package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// Period names the range as the report does: "2023 年 1-2 月份" for whole
// months, "2023 年 1 月份" for one, else "2023-01-05 至 2023-01-20".
func Period(from, to string) string {
	f, err1 := time.Parse(time.DateOnly, from)
	t, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return from + " 至 " + to
	}
	lastOfMonth := t.AddDate(0, 0, 1).Day() == 1
	if f.Day() == 1 && lastOfMonth && f.Year() == t.Year() {
		if f.Month() == t.Month() {
			return fmt.Sprintf("%d 年 %d 月份", f.Year(), f.Month())
		}
		return fmt.Sprintf("%d 年 %d-%d 月份", f.Year(), f.Month(), t.Month())
	}
	if from == to {
		return from
	}
	return from + " 至 " + to
}

// Paragraph is the report's sentence: inbound total with the merged lines,
// outbound total, then what the gateway measures about answering.
func Paragraph(s *hotlinev1.GetStatsResponse) string {
	var merged []string
	for _, l := range s.GetLines() {
		if l.GetMerged() {
			merged = append(merged, fmt.Sprintf("%s 呼入 %d 次", l.GetLine(), l.GetInbound()))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s热线平台呼入总次数 %d 次", Period(s.GetFrom(), s.GetTo()), s.GetInboundTotal())
	if len(merged) > 0 {
		fmt.Fprintf(&b, "(含归并优化后 %s)", strings.Join(merged, "，"))
	}
	fmt.Fprintf(&b, "，呼出总次数 %d 次。", s.GetOutboundTotal())
	fmt.Fprintf(&b, "人工接通 %d 次，接通率 %s；%d 秒内接通 %d 次，%d 秒接通率 %s；",
		s.GetAnswered(), pct(s.GetConnectRate()), s.GetAnswerTargetSeconds(), s.GetAnsweredWithinTarget(),
		s.GetAnswerTargetSeconds(), pct(s.GetTargetRate()))
	fmt.Fprintf(&b, "放弃 %d 次(问候语中 %d 次，排队中 %d 次，振铃中 %d 次)；平均等待 %.1f 秒，平均通话 %.1f 秒。",
		s.GetAbandonedGreeting()+s.GetAbandonedQueue()+s.GetAbandonedRinging(),
		s.GetAbandonedGreeting(), s.GetAbandonedQueue(), s.GetAbandonedRinging(),
		s.GetAvgWaitSeconds(), s.GetAvgTalkSeconds())
	if s.GetFrom110Total() > 0 || s.GetTransfersTo110() > 0 {
		fmt.Fprintf(&b, "一键转接 110 共 %d 次，110 转入 %d 次。", s.GetTransfersTo110(), s.GetFrom110Total())
	}
	if n := s.GetSatisfied() + s.GetUnsatisfied(); n > 0 {
		fmt.Fprintf(&b, "通话满意度评价 %d 次，满意 %d 次，满意率 %s。", n, s.GetSatisfied(), pct(s.GetSatisfactionRate()))
	}
	return b.String()
}

func pct(r float64) string { return fmt.Sprintf("%.2f%%", r*100) }

// Write prints the paragraph and a per-line table.
func Write(w io.Writer, s *hotlinev1.GetStatsResponse) error {
	if _, err := fmt.Fprintln(w, Paragraph(s)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "线路\t名称\t呼入\t呼出\t接通\t目标内接通\t放弃(问候/排队/振铃)\t平均等待(秒)\t平均通话(秒)")
	for _, l := range s.GetLines() {
		name := l.GetName()
		if l.GetMerged() {
			name += " [归并]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d/%d/%d\t%.1f\t%.1f\n", l.GetLine(), name, l.GetInbound(), l.GetOutbound(),
			l.GetAnswered(), l.GetAnsweredWithinTarget(), l.GetAbandonedGreeting(), l.GetAbandonedQueue(), l.GetAbandonedRinging(),
			l.GetAvgWaitSeconds(), l.GetAvgTalkSeconds())
	}
	fmt.Fprintf(tw, "合计\t\t%d\t%d\t%d\t%d\t%d/%d/%d\t%.1f\t%.1f\n", s.GetInboundTotal(), s.GetOutboundTotal(), s.GetAnswered(),
		s.GetAnsweredWithinTarget(), s.GetAbandonedGreeting(), s.GetAbandonedQueue(), s.GetAbandonedRinging(),
		s.GetAvgWaitSeconds(), s.GetAvgTalkSeconds())
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n拒接(非热线号码) %d 次；时区 %s。\n", s.GetRejected(), s.GetTimezone())
	return err
}
