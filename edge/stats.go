package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
)

// Counts is what the StatsServer reads (*count.Counter).
type Counts interface {
	Query(ctx context.Context, r count.Range) (count.Totals, error)
	QueryDays(ctx context.Context, r count.Range) ([]count.Day, error)
	QueryHours(ctx context.Context, r count.Range) ([24]count.Totals, error)
}

// StatsServer implements hotlinev1.StatsService over the Redis counts.
type StatsServer struct {
	hotlinev1.UnimplementedStatsServiceServer
	Counter      Counts
	Plan         *line.Plan
	Location     *time.Location
	AnswerTarget time.Duration
	Now          func() time.Time
	Log          *slog.Logger
}

// GetStats returns the counts for an inclusive range of days, to
// supervisor tokens only.
func (s *StatsServer) GetStats(ctx context.Context, req *hotlinev1.GetStatsRequest) (*hotlinev1.GetStatsResponse, error) {
	if _, err := auth.Require(ctx, auth.RoleSupervisor); err != nil {
		return nil, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	r, err := count.ParseRange(req.GetFrom(), req.GetTo(), s.Location, now())
	if err != nil {
		return nil, toStatus(s.Log, "get stats", &argError{msg: err.Error()})
	}
	tot, err := s.Counter.Query(ctx, r)
	if err != nil {
		return nil, toStatus(s.Log, "get stats", err)
	}
	resp := BuildStats(tot, s.Plan, req.GetFrom(), req.GetTo(), s.Location.String(), s.AnswerTarget)
	switch req.GetBy() {
	case hotlinev1.StatsBreakdown_STATS_BREAKDOWN_DAY:
		days, err := s.Counter.QueryDays(ctx, r)
		if err != nil {
			return nil, toStatus(s.Log, "get stats by day", err)
		}
		for _, d := range days {
			resp.Periods = append(resp.Periods, PeriodStats(d.Date, d.Totals))
		}
	case hotlinev1.StatsBreakdown_STATS_BREAKDOWN_HOUR:
		hours, err := s.Counter.QueryHours(ctx, r)
		if errors.Is(err, count.ErrBadRange) {
			return nil, toStatus(s.Log, "get stats by hour", &argError{msg: err.Error()})
		}
		if err != nil {
			return nil, toStatus(s.Log, "get stats by hour", err)
		}
		for h, t := range hours {
			resp.Periods = append(resp.Periods, PeriodStats(fmt.Sprintf("%02d", h), t))
		}
	}
	return resp, nil
}

// PeriodStats turns one day's or one hour's counts, every line summed,
// into a row of the API's answer.
func PeriodStats(period string, t count.Totals) *hotlinev1.PeriodStats {
	p := &hotlinev1.PeriodStats{
		Period:                period,
		Inbound:               uint64(t.Sum(count.Inbound)),
		Outbound:              uint64(t.Sum(count.Outbound)),
		From110:               uint64(t.Sum(count.From110)),
		Answered:              uint64(t.Sum(count.Answered)),
		AnsweredWithinTarget:  uint64(t.Sum(count.AnsweredTarget)),
		AbandonedGreeting:     uint64(t.Sum(count.AbandonGreeting)),
		AbandonedQueue:        uint64(t.Sum(count.AbandonQueue)),
		AbandonedRinging:      uint64(t.Sum(count.AbandonRinging)),
		Rejected:              uint64(t.Sum(count.Rejected)),
		CallbackRequested:     uint64(t.Sum(count.CallbackRequested)),
		Shed:                  uint64(t.Sum(count.Shed)),
		AvgWaitSeconds:        avgSeconds(t.SumMs(count.Answered), t.Sum(count.Answered)),
		AvgTalkSeconds:        avgSeconds(t.SumMs(count.Talk), t.Sum(count.Talk)),
		AnsweredOnSpot:        uint64(t.Sum(count.DispositionOnSpot)),
		ForwardedToDepartment: uint64(t.Sum(count.DispositionForwarded)),
	}
	p.ConnectRate = ratio(p.Answered, p.Inbound)
	return p
}

// BuildStats turns summed counts into the API's answer.
func BuildStats(t count.Totals, plan *line.Plan, from, to, tz string, target time.Duration) *hotlinev1.GetStatsResponse {
	resp := &hotlinev1.GetStatsResponse{
		From: from, To: to, Timezone: tz,
		InboundTotal:               uint64(t.Sum(count.Inbound)),
		OutboundTotal:              uint64(t.Sum(count.Outbound)),
		From110Total:               uint64(t.Sum(count.From110)),
		Answered:                   uint64(t.Sum(count.Answered)),
		AnsweredWithinTarget:       uint64(t.Sum(count.AnsweredTarget)),
		AbandonedGreeting:          uint64(t.Sum(count.AbandonGreeting)),
		AbandonedQueue:             uint64(t.Sum(count.AbandonQueue)),
		AbandonedRinging:           uint64(t.Sum(count.AbandonRinging)),
		Rejected:                   uint64(t.Sum(count.Rejected)),
		TransfersTo110:             uint64(t.Sum(count.TransferTo110)),
		Satisfied:                  uint64(t.Sum(count.Satisfied)),
		Unsatisfied:                uint64(t.Sum(count.Unsatisfied)),
		SurveyNoAnswer:             uint64(t.Sum(count.SurveyNoAnswer)),
		CallbackRequested:          uint64(t.Sum(count.CallbackRequested)),
		Shed:                       uint64(t.Sum(count.Shed)),
		AnsweredOnSpot:             uint64(t.Sum(count.DispositionOnSpot)),
		ForwardedToDepartment:      uint64(t.Sum(count.DispositionForwarded)),
		DispositionTo110:           uint64(t.Sum(count.DispositionTo110)),
		ConsultationOnly:           uint64(t.Sum(count.DispositionConsultation)),
		FollowUpSatisfied:          uint64(t.Sum(count.FollowUpSatisfied)),
		FollowUpBasicallySatisfied: uint64(t.Sum(count.FollowUpBasically)),
		FollowUpDissatisfied:       uint64(t.Sum(count.FollowUpDissatisfied)),
		AnswerTargetSeconds:        uint32(target / time.Second),
		AvgWaitSeconds:             avgSeconds(t.SumMs(count.Answered), t.Sum(count.Answered)),
		AvgTalkSeconds:             avgSeconds(t.SumMs(count.Talk), t.Sum(count.Talk)),
	}
	resp.ConnectRate = ratio(resp.Answered, resp.InboundTotal)
	resp.TargetRate = ratio(resp.AnsweredWithinTarget, resp.InboundTotal)
	resp.SatisfactionRate = ratio(resp.Satisfied, resp.Satisfied+resp.Unsatisfied)
	good := resp.Satisfied + resp.FollowUpSatisfied + resp.FollowUpBasicallySatisfied
	resp.OverallSatisfactionRate = ratio(good, good+resp.Unsatisfied+resp.FollowUpDissatisfied)
	for _, l := range plan.Lines() {
		n := l.Number
		resp.Lines = append(resp.Lines, &hotlinev1.LineStats{
			Line: n, Name: l.Name, Merged: l.Merged(),
			Inbound:               uint64(t.Get(count.Inbound, n)),
			Outbound:              uint64(t.Get(count.Outbound, n)),
			Answered:              uint64(t.Get(count.Answered, n)),
			AnsweredWithinTarget:  uint64(t.Get(count.AnsweredTarget, n)),
			AbandonedGreeting:     uint64(t.Get(count.AbandonGreeting, n)),
			AbandonedQueue:        uint64(t.Get(count.AbandonQueue, n)),
			AbandonedRinging:      uint64(t.Get(count.AbandonRinging, n)),
			Overflow:              uint64(t.Get(count.Overflow, n)),
			CallbackRequested:     uint64(t.Get(count.CallbackRequested, n)),
			Shed:                  uint64(t.Get(count.Shed, n)),
			AnsweredOnSpot:        uint64(t.Get(count.DispositionOnSpot, n)),
			ForwardedToDepartment: uint64(t.Get(count.DispositionForwarded, n)),
			DispositionTo110:      uint64(t.Get(count.DispositionTo110, n)),
			ConsultationOnly:      uint64(t.Get(count.DispositionConsultation, n)),
			AvgWaitSeconds:        avgSeconds(t.Ms(count.Answered, n), t.Get(count.Answered, n)),
			AvgTalkSeconds:        avgSeconds(t.Ms(count.Talk, n), t.Get(count.Talk, n)),
		})
	}
	return resp
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func avgSeconds(ms, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(ms) / float64(n) / 1000
}
