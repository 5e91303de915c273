// Package live computes the hotline's live figures, what the wall screen
// (大屏) and LiveService show: per line and per skill group the waiting
// calls and the oldest wait, the agents by state and which agent is on
// which call, and today's counts and rates. Every figure is read from the
// Redis state the gateway already keeps (the acd queues and agent hashes,
// the live-call registry, the exactly-once day and hour counts of
// gateway/count), so every instance computes the same numbers.
//
// Definitions (GB/T 33358-2016 style), over today's inbound calls in the
// hotline's time zone:
//
//	offered           = inbound − abandoned_greeting   calls that asked for an agent (entered the queue)
//	target_rate       = answered_within_target / offered  15秒接通率 (answer_target, default 15 s, from entry)
//	connect_rate      = answered / offered                接通率, target live.connect_rate_target (≥ 95%)
//	satisfaction_rate = satisfied / (satisfied + unsatisfied)
//	abandoned         = abandoned_greeting + abandoned_queue + abandoned_ringing
//
// A rate whose denominator is 0 is absent, not 0. A call counts on the day
// and hour it entered, so the answer of a call that entered before
// midnight counts on the day before.
package live

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/store"
)

// Board reads agents and queues (*acd.Pool).
type Board interface {
	Board(ctx context.Context) (acd.Board, error)
}

// Counts reads the day's and the hours' counts (*count.Counter).
type Counts interface {
	Query(ctx context.Context, r count.Range) (count.Totals, error)
	QueryHours(ctx context.Context, r count.Range) ([24]count.Totals, error)
}

// Calls finds live calls of any instance by ID (store.CallRegistry).
type Calls interface {
	Get(ctx context.Context, ids ...string) (map[string]store.LiveCall, error)
}

// Source is what a snapshot is computed from.
type Source struct {
	Board  Board
	Counts Counts
	Calls  Calls
	Plan   *line.Plan
	// Location is the hotline's time zone: it decides "today".
	Location *time.Location
	// AnswerTarget is the service level (answer_target).
	AnswerTarget time.Duration
	// ConnectRateTarget is live.connect_rate_target.
	ConnectRateTarget float64
}

// Compute reads everything and returns the snapshot at now. Ready and
// Instance are left for the caller (they describe the serving instance).
func (s *Source) Compute(ctx context.Context, now time.Time) (*hotlinev1.LiveSnapshot, error) {
	now = now.In(s.Location)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.Location)
	r := count.Range{From: day, To: day}
	board, err := s.Board.Board(ctx)
	if err != nil {
		return nil, fmt.Errorf("live figures: %w", err)
	}
	// The lines of the calls that wait or are with an agent.
	var ids []string
	for _, ws := range board.Waiting {
		for _, w := range ws {
			ids = append(ids, w.CallID)
		}
	}
	for _, a := range board.Agents {
		if a.CallID != "" {
			ids = append(ids, a.CallID)
		}
	}
	calls, err := s.Calls.Get(ctx, ids...)
	if err != nil {
		return nil, fmt.Errorf("live figures: %w", err)
	}
	tot, err := s.Counts.Query(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("live figures: %w", err)
	}
	hours, err := s.Counts.QueryHours(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("live figures: %w", err)
	}
	return s.build(now, board, calls, tot, hours), nil
}

// build is Compute without the reads.
func (s *Source) build(now time.Time, board acd.Board, calls map[string]store.LiveCall, tot count.Totals, hours [24]count.Totals) *hotlinev1.LiveSnapshot {
	snap := &hotlinev1.LiveSnapshot{
		At:                  timestamppb.New(now),
		Day:                 now.Format(time.DateOnly),
		Timezone:            s.Location.String(),
		AnswerTargetSeconds: uint32(s.AnswerTarget / time.Second),
		ConnectRateTarget:   s.ConnectRateTarget,
		AgentCounts:         &hotlinev1.AgentCounts{},
	}
	lineOf := make(map[string]string, len(calls))
	for id, c := range calls {
		lineOf[id] = c.Line
	}
	lines := s.Plan.Lines()
	skillLine := map[string]string{} // a queued call the registry does not know: the skill's first line
	for _, l := range lines {
		if _, ok := skillLine[l.Skill]; !ok {
			skillLine[l.Skill] = l.Number
		}
	}

	// Waiting calls by line, from the queues.
	type queue struct {
		n      uint32
		oldest time.Time
	}
	byLine := map[string]*queue{}
	bySkill := map[string]*queue{}
	all := &queue{}
	add := func(q *queue, at time.Time) {
		q.n++
		if q.oldest.IsZero() || at.Before(q.oldest) {
			q.oldest = at
		}
	}
	for skill, ws := range board.Waiting {
		for _, w := range ws {
			ln, ok := lineOf[w.CallID]
			if !ok {
				ln = skillLine[skill]
			}
			if byLine[ln] == nil {
				byLine[ln] = &queue{}
			}
			if bySkill[skill] == nil {
				bySkill[skill] = &queue{}
			}
			add(byLine[ln], w.Entered)
			add(bySkill[skill], w.Entered)
			add(all, w.Entered)
		}
	}
	wait := func(f *hotlinev1.LiveFigures, q *queue) {
		if q == nil || q.n == 0 {
			return
		}
		f.Waiting = q.n
		f.OldestEntered = timestamppb.New(q.oldest)
		f.OldestWaitSeconds = seconds(now.Sub(q.oldest))
	}

	snap.Total = s.figures(tot, "")
	wait(snap.Total, all)
	s.alarm(snap.Total)
	for _, l := range lines {
		f := s.figures(tot, l.Number)
		wait(f, byLine[l.Number])
		s.alarm(f)
		snap.Lines = append(snap.Lines, &hotlinev1.LiveLine{Line: l.Number, Name: l.Name, Merged: l.Merged(), Skill: l.Skill, Figures: f})
	}

	// Skill groups, in the order of their first line.
	var skills []string
	for _, l := range lines {
		if !slices.Contains(skills, l.Skill) {
			skills = append(skills, l.Skill)
		}
	}
	skillCounts := map[string]*hotlinev1.AgentCounts{}
	for _, sk := range skills {
		ls := &hotlinev1.LiveSkill{Skill: sk, Agents: &hotlinev1.AgentCounts{}}
		if q := bySkill[sk]; q != nil {
			ls.Waiting = q.n
			ls.OldestWaitSeconds = seconds(now.Sub(q.oldest))
		}
		skillCounts[sk] = ls.Agents
		snap.Skills = append(snap.Skills, ls)
	}

	for _, a := range board.Agents {
		la := &hotlinev1.LiveAgent{
			Extension: a.Extension, State: a.State.Proto(), Reason: a.Reason,
			Skills: slices.Clone(a.Skills), CallId: a.CallID, Line: lineOf[a.CallID],
		}
		if a.CallID == "" {
			la.Line = ""
		}
		if !a.Since.IsZero() {
			la.StateSince = timestamppb.New(a.Since)
		}
		snap.Agents = append(snap.Agents, la)
		tally(snap.AgentCounts, a.State)
		for _, sk := range a.Skills {
			if c := skillCounts[sk]; c != nil {
				tally(c, a.State)
			}
		}
	}

	for h, t := range hours {
		snap.Hours = append(snap.Hours, &hotlinev1.LiveHour{
			Hour:                 uint32(h),
			Inbound:              u32(t.Sum(count.Inbound)),
			Answered:             u32(t.Sum(count.Answered)),
			Abandoned:            u32(t.Sum(count.AbandonGreeting) + t.Sum(count.AbandonQueue) + t.Sum(count.AbandonRinging)),
			AnsweredWithinTarget: u32(t.Sum(count.AnsweredTarget)),
		})
	}
	return snap
}

// figures returns today's counts and rates of one line, or of every line
// when ln is "".
func (s *Source) figures(t count.Totals, ln string) *hotlinev1.LiveFigures {
	get := func(k count.Kind) uint32 {
		if ln == "" {
			return u32(t.Sum(k))
		}
		return u32(t.Get(k, ln))
	}
	f := &hotlinev1.LiveFigures{
		Inbound:              get(count.Inbound),
		Outbound:             get(count.Outbound),
		Answered:             get(count.Answered),
		AnsweredWithinTarget: get(count.AnsweredTarget),
		AbandonedGreeting:    get(count.AbandonGreeting),
		Overflow:             get(count.Overflow),
		TransfersTo110:       get(count.TransferTo110),
		From110:              get(count.From110),
		Satisfied:            get(count.Satisfied),
		Unsatisfied:          get(count.Unsatisfied),
		SurveyNoAnswer:       get(count.SurveyNoAnswer),
		Shed:                 get(count.Shed), // refused while saturated: offered, never answered
	}
	f.Abandoned = f.AbandonedGreeting + get(count.AbandonQueue) + get(count.AbandonRinging)
	if f.Inbound > f.AbandonedGreeting {
		f.Offered = f.Inbound - f.AbandonedGreeting
	}
	f.TargetRate = rate(f.AnsweredWithinTarget, f.Offered)
	f.ConnectRate = rate(f.Answered, f.Offered)
	f.SatisfactionRate = rate(f.Satisfied, f.Satisfied+f.Unsatisfied)
	return f
}

// alarm sets f.Alarm: the oldest wait over the answer target, or the
// connect rate under its target.
func (s *Source) alarm(f *hotlinev1.LiveFigures) {
	over := f.Waiting > 0 && time.Duration(f.OldestWaitSeconds)*time.Second > s.AnswerTarget
	low := f.ConnectRate != nil && *f.ConnectRate < s.ConnectRateTarget
	f.Alarm = over || low
}

func tally(c *hotlinev1.AgentCounts, st acd.State) {
	switch st {
	case acd.Ready:
		c.Ready++
	case acd.Paused:
		c.Paused++
	case acd.Ringing:
		c.Ringing++
	case acd.OnCall:
		c.OnCall++
	case acd.WrapUp:
		c.WrapUp++
	case acd.LoggedOut:
		c.LoggedOut++
		return
	default:
		return
	}
	c.LoggedIn++
}

// rate is a/b, or nil when b is 0.
func rate(a, b uint32) *float64 {
	if b == 0 {
		return nil
	}
	r := float64(a) / float64(b)
	return &r
}

func seconds(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

func u32(n int64) uint32 {
	if n < 0 {
		return 0
	}
	if n > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(n)
}
