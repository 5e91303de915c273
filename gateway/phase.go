package gateway

import (
	"context"
	"log/slog"
)

// phase is where a call is in its journey. A call changes phase only
// through enter, which checks the transition against the table below and
// logs it.
type phase int

const (
	phaseNew      phase = iota
	phaseGreeting       // answered, greeting playing
	phaseQueue          // waiting for an agent, music on hold
	phaseRinging        // an agent's phone is ringing (inbound) or the agent's, then the citizen's (outbound)
	phaseTalking        // bridged with an agent
	phaseSurvey         // the agent hung up; the caller rates the call
	phaseEnded
)

func (p phase) String() string {
	return [...]string{"new", "greeting", "queue", "ringing", "talking", "survey", "ended"}[p]
}

// transitions lists, for each phase, the phases a call may enter from it.
var transitions = map[phase][]phase{
	phaseNew:      {phaseGreeting, phaseQueue, phaseRinging, phaseTalking, phaseEnded}, // talking: adopted connected
	phaseGreeting: {phaseQueue, phaseEnded},
	phaseQueue:    {phaseQueue, phaseRinging, phaseEnded},
	phaseRinging:  {phaseQueue, phaseTalking, phaseEnded},
	phaseTalking:  {phaseQueue, phaseSurvey, phaseEnded},
	phaseSurvey:   {phaseEnded},
	phaseEnded:    {phaseEnded},
}

// allowed reports whether the table lets a call go from one phase to another.
func allowed(from, to phase) bool {
	for _, p := range transitions[from] {
		if p == to {
			return true
		}
	}
	return false
}

// badTransition is called for a transition the table does not list; the
// call still enters the phase (tests make it fail).
var badTransition = func(c *Call, from, to phase) {
	c.s.log.Error("call phase: transition not in the table", "call_id", c.id, "from", from.String(), "to", to.String())
}

// enter moves the call to phase p.
func (c *Call) enter(p phase) {
	from := c.phase
	if !allowed(from, p) {
		badTransition(c, from, p)
	}
	c.phase = p
	if p != phaseNew && p != phaseGreeting {
		c.settled() // admission control: queued, talking or ended
	}
	if from != p && c.s.log.Enabled(context.Background(), slog.LevelDebug) {
		c.s.log.Debug("call phase", "call_id", c.id, "from", from.String(), "to", p.String())
	}
}
