package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Router holds the collectors of the hand-off between call owners and the
// gateway's routing loop: owners never wait for the router, they queue
// join/leave messages into a bounded queue.
type Router struct {
	// Queued is the number of hand-offs waiting for the router.
	Queued prometheus.Gauge
	// Dropped counts hand-offs refused because the queue was full, by kind
	// ("join": the owner retries; "leave": Redis's dequeue is authoritative,
	// the router drops the call at its next claim).
	Dropped *prometheus.CounterVec
}

func newRouter(f promauto.Factory) *Router {
	return &Router{
		Queued: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_router_handoffs_queued",
			Help: "Join/leave hand-offs from call owners waiting for the routing loop.",
		}),
		Dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_router_handoffs_dropped_total",
			Help: "Hand-offs to the routing loop refused because its queue was full, by kind (join, leave).",
		}, []string{"kind"}),
	}
}
