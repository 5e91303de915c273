package edge

import (
	"math"
	"testing"

	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
)

// Follow-up verdicts count beside the keypad survey in the overall
// satisfaction rate (满意 and 基本满意 satisfied); satisfaction_rate stays
// the keypad's.
func TestFollowUpVerdictsInSatisfaction(t *testing.T) {
	tot := count.Totals{
		"satisfied:12345": 6, "unsatisfied:12345": 2,
		"followup_satisfied:12345": 3, "followup_basically:12345": 1, "followup_dissatisfied:12333": 4,
	}
	s := BuildStats(tot, line.New(nil, line.Numbering{}), "2026-12-01", "2026-12-01", "Asia/Shanghai", 0)
	if s.GetFollowUpSatisfied() != 3 || s.GetFollowUpBasicallySatisfied() != 1 || s.GetFollowUpDissatisfied() != 4 {
		t.Errorf("follow-up figures %d/%d/%d; want 3/1/4", s.GetFollowUpSatisfied(), s.GetFollowUpBasicallySatisfied(), s.GetFollowUpDissatisfied())
	}
	if got := s.GetSatisfactionRate(); math.Abs(got-0.75) > 1e-9 {
		t.Errorf("keypad satisfaction_rate %v; want 6/8", got)
	}
	// (6 + 3 + 1) / (6 + 2 + 3 + 1 + 4) = 10/16
	if got := s.GetOverallSatisfactionRate(); math.Abs(got-0.625) > 1e-9 {
		t.Errorf("overall_satisfaction_rate %v; want 10/16", got)
	}
}
