package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"
	"github.com/xuri/excelize/v2"
)

// Table is a report's rows under their headers. Cells are text; the columns
// marked Numeric hold numbers (right-aligned, and numbers in a spreadsheet).
type Table struct {
	Header  []string
	Numeric []bool // by column; shorter than Header means the rest are text
	Rows    [][]string
}

func (t Table) numeric(col int) bool { return col < len(t.Numeric) && t.Numeric[col] }

// WriteText prints t aligned by display width: a Chinese character takes
// two columns on a terminal, a Latin one one (text/tabwriter counts runes,
// which misaligns Chinese headers). Columns are two spaces apart; numeric
// columns are right-aligned.
func (t Table) WriteText(w io.Writer) error {
	widths := make([]int, len(t.Header))
	for _, row := range append([][]string{t.Header}, t.Rows...) {
		for i, c := range row {
			if i < len(widths) {
				widths[i] = max(widths[i], runewidth.StringWidth(c))
			}
		}
	}
	var b strings.Builder
	for _, row := range append([][]string{t.Header}, t.Rows...) {
		line := make([]string, 0, len(widths))
		for i := range widths {
			c := ""
			if i < len(row) {
				c = row[i]
			}
			pad := strings.Repeat(" ", widths[i]-runewidth.StringWidth(c))
			if t.numeric(i) {
				line = append(line, pad+c)
			} else {
				line = append(line, c+pad)
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(line, "  "), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes t as CSV (RFC 4180) in UTF-8 with a byte-order mark, so
// that a spreadsheet opened by double-click reads the Chinese headers.
func (t Table) WriteCSV(w io.Writer) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Header); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	if err := cw.WriteAll(t.Rows); err != nil {
		return fmt.Errorf("write csv rows: %w", err)
	}
	return nil
}

// Sheet names of an XLSX report.
const (
	SheetTable     = "报表"
	SheetParagraph = "说明"
)

// WriteXLSX writes t as an Excel workbook: the table on sheet 报表 (headers
// in row 1, numeric columns as numbers) and the report's paragraph on sheet
// 说明.
func (t Table) WriteXLSX(w io.Writer, paragraph string) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", SheetTable); err != nil {
		return fmt.Errorf("xlsx: name sheet %s: %w", SheetTable, err)
	}
	for r, row := range append([][]string{t.Header}, t.Rows...) {
		for c, v := range row {
			cell, err := excelize.CoordinatesToCellName(c+1, r+1)
			if err != nil {
				return fmt.Errorf("xlsx: cell %d,%d: %w", c+1, r+1, err)
			}
			var val any = v
			if r > 0 && t.numeric(c) {
				if n, err := strconv.ParseFloat(v, 64); err == nil {
					val = n
				}
			}
			if err := f.SetCellValue(SheetTable, cell, val); err != nil {
				return fmt.Errorf("xlsx: set %s: %w", cell, err)
			}
		}
	}
	for c, h := range t.Header {
		col, err := excelize.ColumnNumberToName(c + 1)
		if err != nil {
			return fmt.Errorf("xlsx: column %d: %w", c+1, err)
		}
		if err := f.SetColWidth(SheetTable, col, col, float64(max(8, runewidth.StringWidth(h)+2))); err != nil {
			return fmt.Errorf("xlsx: width of %s: %w", col, err)
		}
	}
	if _, err := f.NewSheet(SheetParagraph); err != nil {
		return fmt.Errorf("xlsx: sheet %s: %w", SheetParagraph, err)
	}
	if err := f.SetCellValue(SheetParagraph, "A1", paragraph); err != nil {
		return fmt.Errorf("xlsx: paragraph: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return nil
}
