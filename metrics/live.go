package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Live holds the gauges of the live figures (package gateway/live), read
// from the shared Redis: every instance reports the same values, so
// aggregate them across instances with max(), not sum().
type Live struct {
	// OldestWait is how long the longest-waiting call of each skill group's
	// queue has waited, in seconds (0 when the queue is empty).
	OldestWait *prometheus.GaugeVec
	// Refreshes counts the refreshes of the live figures from Redis, by
	// result ("ok", "error").
	Refreshes *prometheus.CounterVec
	// Streams is the number of live-figure streams (gRPC and SSE) open now.
	Streams prometheus.Gauge
}

func newLive(f promauto.Factory) *Live {
	m := &Live{
		OldestWait: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotline_queue_oldest_wait_seconds",
			Help: "Wait of the longest-waiting call in each skill group's queue (0: empty), refreshed from the shared store; aggregate across instances with max().",
		}, []string{"skill"}),
		Refreshes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_live_refreshes_total",
			Help: "Refreshes of the live figures (wall screen, LiveService) from Redis by this instance, by result (ok, error).",
		}, []string{"result"}),
		Streams: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_live_streams",
			Help: "Live-figure streams (LiveService.StreamSnapshots and /live/stream) open on this instance.",
		}),
	}
	m.Refreshes.WithLabelValues("ok")
	m.Refreshes.WithLabelValues("error")
	return m
}
