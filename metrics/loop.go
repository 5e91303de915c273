package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// EventLoop holds the liveness signal of the gateway's event loop: the
// loop that reads ARI events and hands them to call owners beats on every
// turn and on an idle tick, so a loop that is stuck (a blocked send, a
// deadlock) shows as a heartbeat that stops advancing. The alert
// HotlineEventLoopStalled and the systemd watchdog (WATCHDOG=1) are fed by
// the same beat.
type EventLoop struct {
	// Heartbeat is the Unix time of the last beat; 0 until the first.
	Heartbeat prometheus.Gauge
}

func newEventLoop(f promauto.Factory) *EventLoop {
	return &EventLoop{
		Heartbeat: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_event_loop_heartbeat_timestamp_seconds",
			Help: "Unix time of the event loop's last heartbeat (0 before the first); stalled when it stops advancing.",
		}),
	}
}

// Beat records a heartbeat at now.
func (e *EventLoop) Beat(now time.Time) {
	e.Heartbeat.Set(float64(now.UnixNano()) / 1e9)
}
