package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ACD holds the collectors of the routing state (package gateway/acd).
//
// Agents and Waiting mirror the shared state in Redis: every instance that
// runs the refresher reports the same global values, so aggregate them across
// instances with max(), not sum(). Claims and Freed count what this instance
// did; sum them.
type ACD struct {
	// Agents is the number of logged-in agents by state ("logged_out",
	// "ready", "paused", "ringing", "on_call", "wrap_up"), refreshed from Redis.
	Agents *prometheus.GaugeVec
	// Claims counts attempts to claim an agent for a waiting call, by result:
	// "claimed", "no_agent" (no ready agent with the skill), "not_head" (the
	// call is behind as many waiting calls as there are ready agents),
	// "not_waiting" (the call is not in the queue), "again" (a repeated claim
	// for a call whose agent is still ringing for it: the agent chosen before
	// is returned), "given_back" (the call left the queue while an agent a
	// claim chose for it was still ringing for it unoffered: the agent is
	// ready again), "error" (Redis failed).
	Claims *prometheus.CounterVec
	// Waiting is the number of calls waiting per skill group, refreshed from Redis.
	Waiting *prometheus.GaugeVec
	// Freed counts agents released by the sweeper because their call was no
	// longer live, by the state they were stuck in ("ringing", "on_call").
	Freed *prometheus.CounterVec
}

func newACD(f promauto.Factory) *ACD {
	m := &ACD{
		Agents: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotline_agents",
			Help: "Agents by state (logged_out, ready, paused, ringing, on_call, wrap_up), refreshed from the shared store; aggregate across instances with max().",
		}, []string{"state"}),
		Claims: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_agent_claims_total",
			Help: "Attempts by this instance to claim an agent for a waiting call, by result (claimed, again, given_back, no_agent, not_head, not_waiting, error).",
		}, []string{"result"}),
		Waiting: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotline_queue_waiting",
			Help: "Calls waiting for an agent, by skill group, refreshed from the shared store; aggregate across instances with max().",
		}, []string{"skill"}),
		Freed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_agents_freed_total",
			Help: "Agents freed by the sweeper because their call was no longer live, by the state they were stuck in (ringing, on_call).",
		}, []string{"state"}),
	}
	for _, s := range []string{"logged_out", "ready", "paused", "ringing", "on_call", "wrap_up"} {
		m.Agents.WithLabelValues(s)
	}
	for _, r := range []string{"claimed", "again", "given_back", "no_agent", "not_head", "not_waiting", "error"} {
		m.Claims.WithLabelValues(r)
	}
	m.Freed.WithLabelValues("ringing")
	m.Freed.WithLabelValues("on_call")
	return m
}
