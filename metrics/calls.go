package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Calls holds the call counters and gauges. The names are part of the
// product: dashboards and the city's reports are built on them.
type Calls struct {
	// Calls counts calls once each, when the count is durably in Redis, by
	// direction ("inbound", "outbound") and line ("12345", "12333", ...).
	Calls *prometheus.CounterVec
	// Answered counts calls answered by an agent, by line.
	Answered *prometheus.CounterVec
	// AnsweredWithinTarget counts calls answered by an agent within the
	// service level (answer_target, default 15 s), by line; counted once
	// per call like Answered.
	AnsweredWithinTarget *prometheus.CounterVec
	// Abandoned counts calls the caller left before an agent answered, by
	// line and stage ("greeting", "queue", "ringing").
	Abandoned *prometheus.CounterVec
	// Rejected counts calls to numbers that are no hotline line.
	Rejected prometheus.Counter
	// Shed counts calls refused with congestion because the gateway was
	// saturated, by line and reason ("calls", "unsettled", "ari_inflight",
	// "ari_latency", "answer_failed").
	Shed *prometheus.CounterVec
	// Wait observes the time from entry to agent answer or abandon, by line.
	Wait *prometheus.HistogramVec
	// Active is the number of calls in progress, by line.
	Active *prometheus.GaugeVec
	// StartToCommand observes StasisStart → first ARI command sent for the call.
	StartToCommand prometheus.Histogram
	// StartToAgentOriginate observes StasisStart → the first agent leg's
	// originate returned (what the caller waits for before an agent rings).
	StartToAgentOriginate prometheus.Histogram

	// CountPending is the number of counts waiting to be applied to Redis.
	CountPending prometheus.Gauge
	// CountDropped counts counts lost because the pending queue was full.
	CountDropped prometheus.Counter
	// CountRetries counts failed attempts to apply counts to Redis.
	CountRetries prometheus.Counter
}

func newCalls(f promauto.Factory) *Calls {
	return &Calls{
		Calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_total",
			Help: "Calls counted once each, by direction (inbound, outbound) and line.",
		}, []string{"direction", "line"}),
		Shed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_shed_total",
			Help: "Calls refused with congestion (SIP 503, Q.850 34) because the gateway was saturated, by line and reason.",
		}, []string{"line", "reason"}),
		Answered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_answered_total",
			Help: "Calls answered by an agent, by line.",
		}, []string{"line"}),
		AnsweredWithinTarget: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_answered_within_target_total",
			Help: "Calls answered by an agent within answer_target (GB/T 33358: 15 s) of their entry, by line.",
		}, []string{"line"}),
		Abandoned: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_abandoned_total",
			Help: "Calls the caller left before an agent answered, by line and stage (greeting, queue, ringing).",
		}, []string{"line", "stage"}),
		Rejected: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_calls_rejected_total",
			Help: "Calls to dialled numbers that are no hotline line.",
		}),
		Wait: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_call_wait_seconds",
			Help:    "Time from a call's entry to agent answer or abandon, by line.",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300},
		}, []string{"line"}),
		Active: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotline_active_calls",
			Help: "Calls in progress, by line.",
		}, []string{"line"}),
		StartToCommand: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_stasis_start_to_command_seconds",
			Help:    "Time from StasisStart received to the first ARI command sent for the call.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25},
		}),
		StartToAgentOriginate: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_stasis_start_to_agent_originate_seconds",
			Help:    "Time from StasisStart received to the originate of the call's first agent leg returned.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		CountPending: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_count_pending",
			Help: "Counts waiting to be applied to Redis.",
		}),
		CountDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_count_dropped_total",
			Help: "Counts lost because the pending queue was full during a Redis outage.",
		}),
		CountRetries: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_count_retries_total",
			Help: "Failed attempts to apply counts to Redis (retried).",
		}),
	}
}
