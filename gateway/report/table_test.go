package report

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
	"github.com/xuri/excelize/v2"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// columnStarts returns the display column where each cell of line starts,
// cells being separated by two or more spaces.
func columnStarts(line string) []int {
	var starts []int
	col, spaces, inCell := 0, 0, false
	for _, r := range line {
		if r == ' ' {
			spaces++
		} else {
			if !inCell || spaces >= 2 {
				starts = append(starts, col)
			}
			inCell, spaces = true, 0
		}
		col += runewidth.RuneWidth(r)
	}
	return starts
}

// Chinese text takes two columns a character: every column starts at the
// same display column on every line, whatever mix of Chinese and Latin text
// the cells hold; numbers end at the same column.
func TestTextTableAlignsByDisplayWidth(t *testing.T) {
	tb := Table{
		Header:  []string{"线路", "名称", "呼入"},
		Numeric: []bool{false, false, true},
		Rows: [][]string{
			{"12345", "市民服务热线", "7"},
			{"12333", "人社 [归并]", "12"},
			{"合计", "", "19"},
		},
	}
	var b bytes.Buffer
	if err := tb.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), b.String())
	}
	want := []string{
		"线路   名称          呼入",
		"12345  市民服务热线     7",
		"12333  人社 [归并]     12",
		"合计                   19",
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], want[i])
		}
	}
	head := columnStarts(lines[0])
	for _, l := range lines[1:3] {
		got := columnStarts(l)
		if got[0] != head[0] || got[1] != head[1] {
			t.Errorf("%q: text columns start at %v, header's at %v", l, got, head)
		}
	}
	end := runewidth.StringWidth(lines[0])
	for _, l := range lines[1:] {
		if w := runewidth.StringWidth(l); w != end {
			t.Errorf("%q ends at column %d, the header at %d (numbers are right-aligned)", l, w, end)
		}
	}
}

func sample() *hotlinev1.GetStatsResponse {
	return &hotlinev1.GetStatsResponse{
		From: "2023-04-30", To: "2023-05-01", Timezone: "Asia/Shanghai", InboundTotal: 8, Answered: 6, ConnectRate: 0.75,
		AnswerTargetSeconds: 15, AvgWaitSeconds: 4.25,
		Lines: []*hotlinev1.LineStats{
			{Line: "12345", Name: "市民服务热线", Inbound: 5, Answered: 4},
			{Line: "12333", Name: "人社", Merged: true, Inbound: 3, Answered: 2},
		},
		Periods: []*hotlinev1.PeriodStats{
			{Period: "2023-04-30", Inbound: 3, Answered: 2, ConnectRate: 2.0 / 3},
			{Period: "2023-05-01", Inbound: 5, Answered: 4, ConnectRate: 0.8},
		},
	}
}

func TestCSVReadsBack(t *testing.T) {
	var b bytes.Buffer
	if err := TableOf(sample(), ByDay).WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(b.String(), "\ufeff")
	if !ok {
		t.Fatal("CSV has no UTF-8 byte-order mark (spreadsheets would misread the Chinese headers)")
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want header, two days, total: %q", len(recs), recs)
	}
	if recs[0][0] != "日期" || recs[0][1] != "呼入" || recs[0][5] != "接通率(%)" {
		t.Errorf("header = %q", recs[0])
	}
	for i, want := range [][]string{{"2023-04-30", "3", "66.67"}, {"2023-05-01", "5", "80.00"}, {"合计", "8", "75.00"}} {
		r := recs[i+1]
		if r[0] != want[0] || r[1] != want[1] || r[5] != want[2] {
			t.Errorf("row %d = %q, want date %s inbound %s rate %s", i+1, r, want[0], want[1], want[2])
		}
	}
}

func TestXLSXReadsBack(t *testing.T) {
	var b bytes.Buffer
	s := sample()
	if err := TableOf(s, ByLine).WriteXLSX(&b, Paragraph(s)); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(SheetTable)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "线路" || rows[0][2] != "呼入" {
		t.Fatalf("rows = %q", rows)
	}
	if rows[2][1] != "人社 [归并]" || rows[2][2] != "3" || rows[3][0] != "合计" || rows[3][2] != "8" {
		t.Errorf("rows = %q", rows)
	}
	typ, err := f.GetCellType(SheetTable, "C2")
	if err != nil {
		t.Fatal(err)
	}
	if typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
		t.Errorf("C2 (呼入 of 12345) has type %v, want a number", typ)
	}
	if v, err := f.GetCellValue(SheetTable, "C2"); err != nil || v != "5" {
		t.Errorf("C2 = %q (%v), want 5", v, err)
	}
	p, err := f.GetCellValue(SheetParagraph, "A1")
	if err != nil || p != Paragraph(s) {
		t.Errorf("paragraph sheet A1 = %q (%v), want %q", p, err, Paragraph(s))
	}
}

func TestHourRowsAreNamedByTheirHour(t *testing.T) {
	s := &hotlinev1.GetStatsResponse{Periods: []*hotlinev1.PeriodStats{{Period: "00", Inbound: 1}, {Period: "23", Inbound: 2}}, InboundTotal: 3}
	tb := TableOf(s, ByHour)
	if tb.Header[0] != "时段" || tb.Rows[0][0] != "00:00-01:00" || tb.Rows[1][0] != "23:00-24:00" || tb.Rows[2][0] != "合计" {
		t.Errorf("hour table = %q %q", tb.Header, tb.Rows)
	}
}
