package count

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
	sums, err := c.hashes(ctx, r, keys)
	if err != nil {
		return nil, err
	}
	tot := Totals{}
	for _, t := range sums {
		tot.add(t)
	}
	return tot, nil
}

// Day is the counts of one day.
type Day struct {
	Date   string // "2023-01-10"
	Totals Totals
}

// QueryDays returns the counts of each day of r, in order.
func (c *Counter) QueryDays(ctx context.Context, r Range) ([]Day, error) {
	var keys []string
	var days []Day
	for d := r.From; !d.After(r.To); d = d.AddDate(0, 0, 1) {
		keys = append(keys, c.keys.Key("count", "day", d.Format(time.DateOnly)))
		days = append(days, Day{Date: d.Format(time.DateOnly)})
	}
	sums, err := c.hashes(ctx, r, keys)
	if err != nil {
		return nil, err
	}
	for i := range days {
		days[i].Totals = sums[i]
	}
	return days, nil
}

// MaxHourRangeDays bounds a per-hour query (24 hashes a day).
const MaxHourRangeDays = 92

// QueryHours returns the counts of each hour of the day (0 to 23, in the
// hotline's time zone) summed over the days of r: for one day, that day's
// hours. Hours are kept for counts applied since hotline-gw counted per
// hour; older days have their day and month totals only.
func (c *Counter) QueryHours(ctx context.Context, r Range) ([24]Totals, error) {
	var hours [24]Totals
	if n := r.Days(); n > MaxHourRangeDays {
		return hours, fmt.Errorf("%d days from %s to %s; per hour at most %d: %w",
			n, r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), MaxHourRangeDays, ErrBadRange)
	}
	var keys []string
	for d := r.From; !d.After(r.To); d = d.AddDate(0, 0, 1) {
		for h := 0; h < 24; h++ {
			at := time.Date(d.Year(), d.Month(), d.Day(), h, 0, 0, 0, d.Location())
			keys = append(keys, c.keys.Key("count", "hour", at.Format(HourLayout)))
		}
	}
	sums, err := c.hashes(ctx, r, keys)
	if err != nil {
		return hours, err
	}
	for h := range hours {
		hours[h] = Totals{}
	}
	for i, t := range sums {
		hours[i%24].add(t)
	}
	return hours, nil
}

func (t Totals) add(o Totals) {
	for k, v := range o {
		t[k] += v
	}
}

// hashes reads the count hashes named by keys, in one round trip.
func (c *Counter) hashes(ctx context.Context, r Range, keys []string) ([]Totals, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("query counts %s..%s: %w", r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), err)
	}
	out := make([]Totals, len(keys))
	for i, cmd := range cmds {
		m, err := cmd.Result()
		if err != nil {
			return nil, fmt.Errorf("query counts %s: %w", keys[i], err)
		}
		t := Totals{}
		for f, v := range m {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("query counts: %s field %s holds %q: %w", keys[i], f, v, err)
			}
			t[f] = n
		}
		out[i] = t
	}
	return out, nil
}
