// Package report renders the hotline's call statistics the way the city's
// monthly report writes them (section 一, 热线运行情况), plus a table.
package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
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
	if s.GetAnsweredOnSpot()+s.GetForwardedToDepartment() > 0 {
		fmt.Fprintf(&b, "热线当即答复 %d 件，网络转办 %d 件。", s.GetAnsweredOnSpot(), s.GetForwardedToDepartment())
	}
	fmt.Fprintf(&b, "人工接通 %d 次，接通率 %s；%d 秒内接通 %d 次，%d 秒接通率 %s；",
		s.GetAnswered(), pct(s.GetConnectRate()), s.GetAnswerTargetSeconds(), s.GetAnsweredWithinTarget(),
		s.GetAnswerTargetSeconds(), pct(s.GetTargetRate()))
	fmt.Fprintf(&b, "放弃 %d 次(问候语中 %d 次，排队中 %d 次，振铃中 %d 次)；平均等待 %.1f 秒，平均通话 %.1f 秒。",
		s.GetAbandonedGreeting()+s.GetAbandonedQueue()+s.GetAbandonedRinging(),
		s.GetAbandonedGreeting(), s.GetAbandonedQueue(), s.GetAbandonedRinging(),
		s.GetAvgWaitSeconds(), s.GetAvgTalkSeconds())
	if n := s.GetCallbackRequested(); n > 0 {
		fmt.Fprintf(&b, "排队中选择回拨 %d 次。", n)
	}
	if n := s.GetShed(); n > 0 {
		fmt.Fprintf(&b, "系统繁忙未接入 %d 次。", n) // refused with congestion (admission control)
	}
	if s.GetFrom110Total() > 0 || s.GetTransfersTo110() > 0 {
		fmt.Fprintf(&b, "一键转接 110 共 %d 次，110 转入 %d 次。", s.GetTransfersTo110(), s.GetFrom110Total())
	}
	keypad := s.GetSatisfied() + s.GetUnsatisfied()
	fuGood := s.GetFollowUpSatisfied() + s.GetFollowUpBasicallySatisfied()
	followUps := fuGood + s.GetFollowUpDissatisfied()
	switch {
	case followUps > 0:
		// 回访: 满意 and 基本满意 count satisfied, as the city's report does.
		fmt.Fprintf(&b, "满意度评价 %d 次(按键评价 %d 次，回访 %d 次)，满意 %d 次(回访满意 %d 次、基本满意 %d 次)，满意率 %s",
			keypad+followUps, keypad, followUps, s.GetSatisfied()+fuGood,
			s.GetFollowUpSatisfied(), s.GetFollowUpBasicallySatisfied(), pct(s.GetOverallSatisfactionRate()))
		if keypad > 0 {
			fmt.Fprintf(&b, "(按键评价满意率 %s)", pct(s.GetSatisfactionRate()))
		}
		b.WriteString("。")
	case keypad > 0:
		fmt.Fprintf(&b, "通话满意度评价 %d 次，满意 %d 次，满意率 %s。", keypad, s.GetSatisfied(), pct(s.GetSatisfactionRate()))
	}
	return b.String()
}

func pct(r float64) string { return fmt.Sprintf("%.2f%%", r*100) }

// By is what a report's rows are: lines, days or hours of the day.
type By string

// The report's row kinds (hotlinectl report --by).
const (
	ByLine By = "line"
	ByDay  By = "day"
	ByHour By = "hour"
)

// ParseBy accepts "line", "day" or "hour".
func ParseBy(s string) (By, error) {
	switch b := By(s); b {
	case ByLine, ByDay, ByHour:
		return b, nil
	}
	return "", fmt.Errorf("--by %q: want day, hour or line", s)
}

// Breakdown is the StatsService request's by for b.
func (b By) Breakdown() hotlinev1.StatsBreakdown {
	switch b {
	case ByDay:
		return hotlinev1.StatsBreakdown_STATS_BREAKDOWN_DAY
	case ByHour:
		return hotlinev1.StatsBreakdown_STATS_BREAKDOWN_HOUR
	}
	return hotlinev1.StatsBreakdown_STATS_BREAKDOWN_UNSPECIFIED
}

// TableOf is the report's table: one row per line (LinesTable) or per
// period of s (PeriodsTable), and a 合计 row.
func TableOf(s *hotlinev1.GetStatsResponse, by By) Table {
	if by == ByDay || by == ByHour {
		return PeriodsTable(s, by)
	}
	return LinesTable(s)
}

func u(n uint64) string     { return strconv.FormatUint(n, 10) }
func f1(x float64) string   { return strconv.FormatFloat(x, 'f', 1, 64) }
func pct2(r float64) string { return strconv.FormatFloat(r*100, 'f', 2, 64) }

// LinesTable has one row per line, the merged ones marked 归并, then the
// totals.
func LinesTable(s *hotlinev1.GetStatsResponse) Table {
	t := Table{
		Header:  []string{"线路", "名称", "呼入", "呼出", "接通", "目标内接通", "放弃(问候)", "放弃(排队)", "放弃(振铃)", "平均等待(秒)", "平均通话(秒)", "当即答复", "网络转办"},
		Numeric: []bool{false, false, true, true, true, true, true, true, true, true, true, true, true},
	}
	for _, l := range s.GetLines() {
		name := l.GetName()
		if l.GetMerged() {
			name += " [归并]"
		}
		t.Rows = append(t.Rows, []string{l.GetLine(), name, u(l.GetInbound()), u(l.GetOutbound()), u(l.GetAnswered()),
			u(l.GetAnsweredWithinTarget()), u(l.GetAbandonedGreeting()), u(l.GetAbandonedQueue()), u(l.GetAbandonedRinging()),
			f1(l.GetAvgWaitSeconds()), f1(l.GetAvgTalkSeconds()), u(l.GetAnsweredOnSpot()), u(l.GetForwardedToDepartment())})
	}
	t.Rows = append(t.Rows, []string{"合计", "", u(s.GetInboundTotal()), u(s.GetOutboundTotal()), u(s.GetAnswered()),
		u(s.GetAnsweredWithinTarget()), u(s.GetAbandonedGreeting()), u(s.GetAbandonedQueue()), u(s.GetAbandonedRinging()),
		f1(s.GetAvgWaitSeconds()), f1(s.GetAvgTalkSeconds()), u(s.GetAnsweredOnSpot()), u(s.GetForwardedToDepartment())})
	return t
}

// PeriodsTable has one row per day ("2023-01-10") or per hour of the day
// ("09:00-10:00") of s.Periods, every line included, then the totals of
// the range.
func PeriodsTable(s *hotlinev1.GetStatsResponse, by By) Table {
	first := "日期"
	if by == ByHour {
		first = "时段"
	}
	t := Table{
		Header:  []string{first, "呼入", "呼出", "110转入", "接通", "接通率(%)", "目标内接通", "放弃(问候)", "放弃(排队)", "放弃(振铃)", "拒接", "平均等待(秒)", "平均通话(秒)", "当即答复", "网络转办"},
		Numeric: []bool{false, true, true, true, true, true, true, true, true, true, true, true, true, true, true},
	}
	for _, p := range s.GetPeriods() {
		name := p.GetPeriod()
		if by == ByHour {
			if h, err := strconv.Atoi(name); err == nil {
				name = fmt.Sprintf("%02d:00-%02d:00", h, h+1)
			}
		}
		t.Rows = append(t.Rows, []string{name, u(p.GetInbound()), u(p.GetOutbound()), u(p.GetFrom110()), u(p.GetAnswered()),
			pct2(p.GetConnectRate()), u(p.GetAnsweredWithinTarget()), u(p.GetAbandonedGreeting()), u(p.GetAbandonedQueue()),
			u(p.GetAbandonedRinging()), u(p.GetRejected()), f1(p.GetAvgWaitSeconds()), f1(p.GetAvgTalkSeconds()),
			u(p.GetAnsweredOnSpot()), u(p.GetForwardedToDepartment())})
	}
	t.Rows = append(t.Rows, []string{"合计", u(s.GetInboundTotal()), u(s.GetOutboundTotal()), u(s.GetFrom110Total()), u(s.GetAnswered()),
		pct2(s.GetConnectRate()), u(s.GetAnsweredWithinTarget()), u(s.GetAbandonedGreeting()), u(s.GetAbandonedQueue()),
		u(s.GetAbandonedRinging()), u(s.GetRejected()), f1(s.GetAvgWaitSeconds()), f1(s.GetAvgTalkSeconds()),
		u(s.GetAnsweredOnSpot()), u(s.GetForwardedToDepartment())})
	return t
}

// Write prints the paragraph, the table of by, and the footer (rejected
// calls, time zone).
func Write(w io.Writer, s *hotlinev1.GetStatsResponse, by By) error {
	if _, err := fmt.Fprintf(w, "%s\n\n", Paragraph(s)); err != nil {
		return err
	}
	if err := TableOf(s, by).WriteText(w); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n拒接(非热线号码) %d 次；时区 %s。\n", s.GetRejected(), s.GetTimezone())
	return err
}
