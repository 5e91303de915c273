// Package line knows the hotline numbers citizens dial: it normalises a
// dialled number (DNIS) as a trunk delivers it and finds the line it means,
// including the old numbers merged into the main line 12345.
package line

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
)

// Line is one dialable hotline number.
type Line struct {
	Number string
	Name   string
	Skill  string
	// Main is the number of the line that answers this one: itself for a main
	// line, 12345 for the merged lines 12333, 12315 and 12348.
	Main     string
	Greeting string
	// Record: answered calls are recorded for quality inspection.
	Record bool
}

// Merged reports whether the line is answered by another (main) line.
func (l Line) Merged() bool { return l.Main != l.Number }

// ErrUnknownNumber is returned for a dialled number that is no configured line.
var ErrUnknownNumber = errors.New("not a hotline number")

// ErrMalformed is returned for a dialled number that is not a phone number at all.
var ErrMalformed = errors.New("malformed dialled number")

// Plan is the set of lines and the normalisation rules. Update replaces
// what may change while calls run (names, greetings, recording, prefixes);
// the set of lines, their skills and merges are fixed at New.
type Plan struct {
	st atomic.Pointer[planState]
}

// planState is one immutable version of a plan.
type planState struct {
	lines    map[string]Line
	ordered  []Line
	prefixes []string
}

// New builds a plan from validated configuration.
func New(lines []Config, n Numbering) *Plan {
	p := &Plan{}
	p.st.Store(newState(lines, n))
	return p
}

// Update replaces the lines' names, greetings and recording switches and
// the numbering prefixes (a reload, from validated configuration). Calls
// already running keep the line they were given. It refuses, changing
// nothing, when lines are added or removed or a line's skill or merge
// changes: routing and the skill queues are built from those at start.
func (p *Plan) Update(lines []Config, n Numbering) error {
	next := newState(lines, n)
	cur := p.st.Load()
	if len(next.ordered) != len(cur.ordered) {
		return fmt.Errorf("lines: %d lines instead of %d", len(next.ordered), len(cur.ordered))
	}
	for _, l := range cur.ordered {
		nl, ok := next.lines[l.Number]
		switch {
		case !ok:
			return fmt.Errorf("lines: line %s removed", l.Number)
		case nl.Skill != l.Skill:
			return fmt.Errorf("lines: line %s: skill %q instead of %q", l.Number, nl.Skill, l.Skill)
		case nl.Main != l.Main:
			return fmt.Errorf("lines: line %s: merged into %q instead of %q", l.Number, nl.Main, l.Main)
		}
	}
	p.st.Store(next)
	return nil
}

func newState(lines []Config, n Numbering) *planState {
	p := &planState{lines: make(map[string]Line, len(lines)), prefixes: append([]string(nil), n.StripPrefixes...)}
	for _, l := range lines {
		main := l.MergedInto
		if main == "" {
			main = l.Number
		}
		ln := Line{Number: l.Number, Name: l.Name, Skill: l.Skill, Main: main, Greeting: l.Greeting, Record: l.Record}
		p.lines[l.Number] = ln
		p.ordered = append(p.ordered, ln)
	}
	sort.SliceStable(p.ordered, func(i, j int) bool {
		// Main lines first, then merged lines in configuration order.
		return !p.ordered[i].Merged() && p.ordered[j].Merged()
	})
	return p
}

// Lines returns every line, main lines first.
func (p *Plan) Lines() []Line { return append([]Line(nil), p.st.Load().ordered...) }

// Get returns the line with exactly this number.
func (p *Plan) Get(number string) (Line, bool) {
	l, ok := p.st.Load().lines[number]
	return l, ok
}

// Main returns the first main line (12345 in the hotline's configuration).
func (p *Plan) Main() Line { return p.st.Load().ordered[0] }

// Lookup normalises a dialled number and returns its line. The error wraps
// ErrMalformed or ErrUnknownNumber and quotes the input.
func (p *Plan) Lookup(dialled string) (Line, error) {
	st := p.st.Load()
	n, err := st.normalize(dialled)
	if err != nil {
		return Line{}, err
	}
	if l, ok := st.lines[n]; ok {
		return l, nil
	}
	return Line{}, fmt.Errorf("dialled number %q (normalised %q): %w", clip(dialled), n, ErrUnknownNumber)
}

// Normalize reduces the forms a trunk delivers ("sip:+8612345@host;user=phone",
// "tel:+86-739-12345", "073912345") to bare digits and strips the configured
// prefixes, in order and repeatedly, as long as something remains.
func (p *Plan) Normalize(dialled string) (string, error) { return p.st.Load().normalize(dialled) }

func (p *planState) normalize(dialled string) (string, error) {
	s := strings.TrimSpace(dialled)
	if len(s) > 256 {
		return "", fmt.Errorf("dialled number of %d bytes: %w", len(s), ErrMalformed)
	}
	s = userPart(s)
	// Visual separators that appear in tel: URIs and human input.
	s = strings.Map(func(r rune) rune {
		switch r {
		case '-', '.', '(', ')', ' ':
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "", fmt.Errorf("dialled number %q is empty: %w", clip(dialled), ErrMalformed)
	}
	digits := strings.TrimPrefix(s, "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", fmt.Errorf("dialled number %q has characters other than digits: %w", clip(dialled), ErrMalformed)
	}
	for changed := true; changed; {
		changed = false
		for _, pre := range p.prefixes {
			if strings.HasPrefix(s, pre) && len(s) > len(pre) {
				s = s[len(pre):]
				changed = true
			}
		}
	}
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return "", fmt.Errorf("dialled number %q: %w", clip(dialled), ErrMalformed)
	}
	return s, nil
}

// userPart extracts the user part of a sip:/sips:/tel: URI, or returns s.
func userPart(s string) string {
	s = strings.TrimPrefix(strings.TrimSuffix(s, ">"), "<")
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "sip:"):
		s = s[4:]
	case strings.HasPrefix(lower, "sips:"):
		s = s[5:]
	case strings.HasPrefix(lower, "tel:"):
		s = s[4:]
	default:
		return s
	}
	if i := strings.IndexAny(s, "@;?"); i >= 0 {
		s = s[:i]
	}
	return s
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
