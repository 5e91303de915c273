package count

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxRangeDays bounds a stats query.
const MaxRangeDays = 366

// ErrBadRange is wrapped by every error about a requested date range.
var ErrBadRange = errors.New("bad date range")

// Range is an inclusive range of days in the hotline's time zone.
type Range struct {
	From, To time.Time // midnight of the first and of the last day
}

// ParseRange parses "2023-01-01" dates in loc and checks the range: from
// not after to, at most MaxRangeDays days, no day before 2000 or after
// next year.
func ParseRange(from, to string, loc *time.Location, now time.Time) (Range, error) {
	f, err := time.ParseInLocation(time.DateOnly, from, loc)
	if err != nil {
		return Range{}, fmt.Errorf("from %q is not a date like 2023-01-01: %w", from, ErrBadRange)
	}
	t, err := time.ParseInLocation(time.DateOnly, to, loc)
	if err != nil {
		return Range{}, fmt.Errorf("to %q is not a date like 2023-02-28: %w", to, ErrBadRange)
	}
	switch {
	case t.Before(f):
		return Range{}, fmt.Errorf("from %s is after to %s: %w", from, to, ErrBadRange)
	case f.Year() < 2000:
		return Range{}, fmt.Errorf("from %s is before the year 2000: %w", from, ErrBadRange)
	case t.Year() > now.In(loc).Year()+1:
		return Range{}, fmt.Errorf("to %s is too far in the future: %w", to, ErrBadRange)
	}
	if days := (Range{From: f, To: t}).Days(); days > MaxRangeDays {
		return Range{}, fmt.Errorf("%d days from %s to %s; at most %d: %w", days, from, to, MaxRangeDays, ErrBadRange)
	}
	return Range{From: f, To: t}, nil
}

// Days is the number of days in the range.
func (r Range) Days() int {
	n := 0
	for d := r.From; !d.After(r.To); d = d.AddDate(0, 0, 1) {
		n++
	}
	return n
}

// Totals maps "<kind>:<line>" (and "<kind>_ms:<line>") to sums.
type Totals map[string]int64

// Get returns the count of kind on line.
func (t Totals) Get(kind Kind, line string) int64 { return t[string(kind)+":"+line] }

// Ms returns the summed milliseconds of kind on line.
func (t Totals) Ms(kind Kind, line string) int64 { return t[string(kind)+"_ms:"+line] }

// Sum returns the count of kind over all lines.
func (t Totals) Sum(kind Kind) int64 {
	var n int64
	prefix := string(kind) + ":"
	for k, v := range t {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// SumMs returns the summed milliseconds of kind over all lines.
func (t Totals) SumMs(kind Kind) int64 { return t.Sum(kind + "_ms") }

// Query sums the per-day counts over r, using a whole month's hash where
// the range covers the month.
func (c *Counter) Query(ctx context.Context, r Range) (Totals, error) {
	var keys []string
	for d := r.From; !d.After(r.To); {
		first := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, d.Location())
		last := first.AddDate(0, 1, -1)
		if d.Equal(first) && !last.After(r.To) {
			keys = append(keys, c.keys.Key("count", "month", d.Format("2006-01")))
			d = last.AddDate(0, 0, 1)
			continue
		}
		keys = append(keys, c.keys.Key("count", "day", d.Format(time.DateOnly)))
		d = d.AddDate(0, 0, 1)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	for _, k := range keys {
		pipe.HGetAll(ctx, k)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("query counts %s..%s: %w", r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), err)
	}
	tot := Totals{}
	for _, cmd := range cmds {
		m, err := cmd.(interface {
			Result() (map[string]string, error)
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("query counts: %w", err)
		}
		for f, v := range m {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("query counts: field %s holds %q: %w", f, v, err)
			}
			tot[f] += n
		}
	}
	return tot, nil
}
