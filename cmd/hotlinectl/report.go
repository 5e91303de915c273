package main

import (
	"flag"
	"fmt"
	"os"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/report"
)

var reportCommand = command{
	name: "report",
	args: "--from YYYY-MM-DD [--to YYYY-MM-DD] [--by day|hour|line] [--format table|csv|xlsx|json] [--out FILE]",
	help: "the city's report for a range of days: its paragraph and a table by line, day or hour (StatsService)",
	flags: func(fs *flag.FlagSet) func(c *client) error {
		from := fs.String("from", "", "first day, YYYY-MM-DD (Asia/Shanghai); required")
		to := fs.String("to", "", "last day, YYYY-MM-DD (default: --from)")
		by := fs.String("by", "line", "rows: line, day (one per day) or hour (hours of the day, summed over the range)")
		format := fs.String("format", "table", "table, csv, xlsx (needs --out) or json")
		out := fs.String("out", "", "write to FILE instead of standard output (required for xlsx)")
		return func(c *client) error {
			b, err := report.ParseBy(*by)
			if err != nil {
				return badUsage("%v", err)
			}
			if *from == "" {
				return badUsage("--from is required")
			}
			if *to == "" {
				*to = *from
			}
			switch *format {
			case "table", "csv", "json":
			case "xlsx":
				if *out == "" {
					return badUsage("--format xlsx writes a workbook: give --out FILE.xlsx")
				}
			default:
				return badUsage("--format %q: want table, csv, xlsx or json", *format)
			}
			if c.json {
				*format = "json"
			}
			st, err := hotlinev1.NewStatsServiceClient(c.conn).GetStats(c.ctx,
				&hotlinev1.GetStatsRequest{From: *from, To: *to, By: b.Breakdown()})
			if err != nil {
				return err
			}
			if *out != "" {
				f, err := os.Create(*out)
				if err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				defer f.Close()
				c.stdout = f
			}
			switch *format {
			case "json":
				err = c.printJSON(st)
			case "csv":
				err = report.TableOf(st, b).WriteCSV(c.stdout)
			case "xlsx":
				err = report.TableOf(st, b).WriteXLSX(c.stdout, report.Paragraph(st))
			default:
				err = report.Write(c.stdout, st, b)
			}
			if err != nil {
				return err
			}
			if f, ok := c.stdout.(*os.File); ok && *out != "" {
				if err := f.Close(); err != nil {
					return fmt.Errorf("--out %s: %w", *out, err)
				}
			}
			return nil
		}
	},
}
