package live

import (
	"sync"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// ShedWindow is the "last minute" of LiveFigures.shed_last_minute.
const ShedWindow = time.Minute

// shedStep is how far apart the kept readings are at least (the window's
// precision); readings in between are not kept, so that frequent requests
// do not grow the history.
const shedStep = time.Second

// shedWindow keeps the day's shed counts as the hub read them over the
// last ShedWindow, so that a snapshot tells how many calls were refused
// with congestion in about the last minute: the count now minus the count
// a minute ago (or when the hub first read it, so refusals from before it
// started are not "now"). The counts are the shared exactly-once day
// counts, so every instance shows the same figure within a refresh.
type shedWindow struct {
	mu   sync.Mutex
	seen []shedSeen // oldest first
}

type shedSeen struct {
	at    time.Time
	day   string
	total uint32
	lines map[string]uint32
}

// fill sets ShedLastMinute of s's total and lines, read at now.
func (w *shedWindow) fill(now time.Time, s *hotlinev1.LiveSnapshot) {
	if s.GetTotal() == nil {
		return
	}
	cur := shedSeen{at: now, day: s.GetDay(), total: s.Total.GetShed(), lines: make(map[string]uint32, len(s.Lines))}
	for _, l := range s.Lines {
		cur.lines[l.GetLine()] = l.GetFigures().GetShed()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.seen); n > 0 && w.seen[n-1].day != cur.day {
		w.seen = nil // a new day counts from zero
	}
	// The baseline is the newest reading at least ShedWindow old (or the
	// oldest one while the hub is younger than that).
	cut := now.Add(-ShedWindow)
	i := 0
	for i+1 < len(w.seen) && !w.seen[i+1].at.After(cut) {
		i++
	}
	w.seen = w.seen[i:]
	base := cur
	if len(w.seen) > 0 {
		base = w.seen[0]
	}
	s.Total.ShedLastMinute = minus(cur.total, base.total)
	for _, l := range s.Lines {
		if l.Figures != nil {
			l.Figures.ShedLastMinute = minus(cur.lines[l.Line], base.lines[l.Line])
		}
	}
	if n := len(w.seen); n == 0 || now.Sub(w.seen[n-1].at) >= shedStep {
		w.seen = append(w.seen, cur)
	}
}

func minus(a, b uint32) uint32 {
	if a < b {
		return 0
	}
	return a - b
}
