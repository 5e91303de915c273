package gateway

import (
	"fmt"
	"testing"
)

// Every call flow the tests drive must stay inside the transition table.
func init() {
	badTransition = func(c *Call, from, to phase) {
		panic(fmt.Sprintf("call %s: phase %s → %s is not in the transition table", c.id, from, to))
	}
}

func TestPhaseTable(t *testing.T) {
	for _, tc := range []struct {
		from, to phase
		ok       bool
	}{
		{phaseNew, phaseGreeting, true},
		{phaseGreeting, phaseQueue, true},
		{phaseQueue, phaseRinging, true},
		{phaseRinging, phaseQueue, true}, // the agent did not answer
		{phaseRinging, phaseTalking, true},
		{phaseTalking, phaseSurvey, true},
		{phaseTalking, phaseQueue, true}, // a transfer failed after the agent left
		{phaseSurvey, phaseEnded, true},
		{phaseEnded, phaseQueue, false},
		{phaseSurvey, phaseTalking, false},
		{phaseGreeting, phaseTalking, false},
		{phaseTalking, phaseRinging, false},
	} {
		if got := allowed(tc.from, tc.to); got != tc.ok {
			t.Errorf("allowed(%s → %s) = %t, want %t", tc.from, tc.to, got, tc.ok)
		}
	}
	for p := phaseNew; p <= phaseEnded; p++ {
		if p != phaseEnded && !allowed(p, phaseEnded) {
			t.Errorf("a call in %s cannot end", p)
		}
	}
}
