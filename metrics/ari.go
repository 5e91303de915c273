package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ARI holds the collectors of the connection to Asterisk (package ari).
type ARI struct {
	// Connected is 1 while the event websocket is up and the application registered.
	Connected prometheus.Gauge
	// Connects counts successful websocket connections, by kind: "first",
	// "reconnect", "restart" (Asterisk's entity ID or startup time changed).
	Connects *prometheus.CounterVec
	// ConnectFailures counts failed connection attempts.
	ConnectFailures prometheus.Counter
	// Events counts events read from the websocket, by ARI event type.
	// The label set is bounded by Asterisk's event vocabulary; types the
	// library does not know are reported as "unknown".
	Events *prometheus.CounterVec
	// Undecodable counts messages the ARI library could not decode, by
	// reason: "unknown_type" (an event type the library does not know; it is
	// still routed, as ari.UnknownEvent, when it names an owned channel or
	// bridge), and, for messages skipped, "bad_json", "no_type", "too_large"
	// (over the websocket message limit) and "panic" (the library panicked).
	Undecodable *prometheus.CounterVec
	// Unrouted counts events that no owner claimed.
	Unrouted prometheus.Counter
	// Overflow counts events dropped because an owner's queue was full; the
	// owner is told to resynchronise.
	Overflow prometheus.Counter
	// QueueDepth is the total of events waiting in owners' queues.
	QueueDepth prometheus.Gauge
	// ReadTimeouts counts event websockets closed because nothing (no event,
	// no pong) was read from them for ari.read_timeout: half-open
	// connections.
	ReadTimeouts prometheus.Counter
	// InFlight is the number of REST requests sent to Asterisk and not yet
	// answered (bounded by ari.max_inflight).
	InFlight prometheus.Gauge
	// Requests measures REST requests to ARI by operation and result
	// ("ok", "not_found", "error", "timeout").
	Requests *prometheus.HistogramVec
}

func newARI(f promauto.Factory) *ARI {
	return &ARI{
		Connected: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_ari_connected",
			Help: "1 while the ARI event websocket is connected and the Stasis application registered.",
		}),
		Connects: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ari_connects_total",
			Help: "Successful ARI websocket connections by kind (first, reconnect, restart).",
		}, []string{"kind"}),
		ConnectFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ari_connect_failures_total",
			Help: "Failed ARI websocket connection attempts.",
		}),
		Events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ari_events_total",
			Help: "ARI events received, by event type.",
		}, []string{"type"}),
		Undecodable: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ari_events_undecodable_total",
			Help: "ARI websocket messages skipped because they could not be decoded, by reason.",
		}, []string{"reason"}),
		Unrouted: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ari_events_unrouted_total",
			Help: "ARI events that no call owner claimed.",
		}),
		Overflow: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ari_dispatch_overflow_total",
			Help: "ARI events dropped because a call owner's queue was full (the owner resynchronises from ARI).",
		}),
		QueueDepth: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_ari_dispatch_queue_depth",
			Help: "ARI events waiting in call owners' queues.",
		}),
		ReadTimeouts: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ari_read_timeouts_total",
			Help: "ARI event websockets closed because nothing, not even a pong, was read from them for ari.read_timeout (half-open connections).",
		}),
		InFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_ari_requests_in_flight",
			Help: "ARI REST requests sent to Asterisk and not yet answered (at most ari.max_inflight).",
		}),
		Requests: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_ari_request_duration_seconds",
			Help:    "Duration of ARI REST requests by operation and result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op", "result"}),
	}
}
