package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outbound holds the collectors of outbound calls (follow-ups 回访 and
// call-backs of missed calls), of the call-back tasks (package
// gateway/callback), of the satisfaction survey and of the outbound rate
// limiter (package gateway/outbound).
//
// Label values are fixed vocabularies (see the fields); never a phone
// number, agent extension, task ID or call ID.
type Outbound struct {
	// Calls counts outbound calls once each, when they end, by purpose
	// ("follow_up", "callback") and result ("connected", "agent_no_answer",
	// "busy", "no_answer", "invalid_number", "rejected", "failed").
	Calls *prometheus.CounterVec
	// Callbacks counts call-back task events: "created" (a missed call
	// became a new task), "claimed" (an agent took a task), "completed"
	// (the claiming agent closed it), "expired" (a claim lapsed and the
	// task was opened again).
	Callbacks *prometheus.CounterVec
	// Satisfaction counts satisfaction survey results by line and result
	// ("satisfied", "unsatisfied", "no_answer").
	Satisfaction *prometheus.CounterVec
	// Active is the number of outbound calls this instance holds a limiter
	// slot for; sum across instances.
	Active prometheus.Gauge
	// RateLimited counts outbound calls refused by the limiter (over the
	// call rate or the concurrent cap).
	RateLimited prometheus.Counter
}

func newOutbound(f promauto.Factory) *Outbound {
	o := &Outbound{
		Calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_outbound_calls_total",
			Help: "Outbound calls counted once each when they end, by purpose (follow_up, callback) and result (connected, agent_no_answer, busy, no_answer, invalid_number, rejected, failed).",
		}, []string{"purpose", "result"}),
		Callbacks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_callbacks_total",
			Help: "Call-back task events (created, claimed, completed, expired).",
		}, []string{"event"}),
		Satisfaction: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_satisfaction_total",
			Help: "Satisfaction survey results by line and result (satisfied, unsatisfied, no_answer).",
		}, []string{"line", "result"}),
		Active: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_outbound_active",
			Help: "Outbound calls holding a limiter slot on this instance; sum across instances.",
		}),
		RateLimited: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_outbound_rate_limited_total",
			Help: "Outbound calls refused by the rate limiter (over the call rate or the concurrent cap).",
		}),
	}
	// Pre-create the series so that dashboards see zeros, not gaps.
	for _, p := range []string{"follow_up", "callback"} {
		for _, r := range []string{"connected", "agent_no_answer", "busy", "no_answer", "invalid_number", "rejected", "failed"} {
			o.Calls.WithLabelValues(p, r)
		}
	}
	for _, e := range []string{"created", "claimed", "completed", "expired"} {
		o.Callbacks.WithLabelValues(e)
	}
	return o
}

// CallEnded counts one outbound call that reached its final result.
func (o *Outbound) CallEnded(purpose, result string) {
	o.Calls.WithLabelValues(purpose, result).Inc()
}

// Callback counts one call-back task event.
func (o *Outbound) Callback(event string) {
	o.Callbacks.WithLabelValues(event).Inc()
}

// SurveyResult counts one satisfaction survey result on line.
func (o *Outbound) SurveyResult(line, result string) {
	o.Satisfaction.WithLabelValues(line, result).Inc()
}
