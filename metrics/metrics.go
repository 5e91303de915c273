// Package metrics owns every Prometheus collector of hotline-gw. Collectors are
// registered on an injected prometheus.Registerer so that tests use a fresh
// registry and nothing is registered globally.
//
// Naming: every metric starts with "hotline_", carries its unit in the name
// (_seconds, _total, _bytes) and uses low-cardinality labels only: never a
// phone number, channel ID or call ID as a label value.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics groups the collectors of the gateway by the package that updates them.
type Metrics struct {
	ARI       *ARI
	Calls     *Calls
	Tickets   *Tickets
	ACD       *ACD
	Transfers *Transfers
	Outbound  *Outbound
	// EventLoop is the event loop's heartbeat.
	EventLoop *EventLoop
	// Router is the hand-off queue to the routing loop.
	Router *Router
	// Live is the wall's figures refreshed from Redis (gateway/live).
	Live *Live
	// Recordings are the recordings' fetches and retention.
	Recordings *Recordings
	// Build is hotline_build_info: 1, labelled with the running build.
	Build prometheus.Gauge
	// Config counts configuration reloads.
	Config *Config
}

// New creates and registers every collector on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		ARI:        newARI(f),
		Calls:      newCalls(f),
		Tickets:    newTickets(f),
		ACD:        newACD(f),
		Transfers:  newTransfers(f),
		Outbound:   newOutbound(f),
		EventLoop:  newEventLoop(f),
		Router:     newRouter(f),
		Live:       newLive(f),
		Build:      newBuildInfo(f),
		Recordings: newRecordings(f),
		Config:     newConfig(f),
	}
}

// NewUnregistered returns collectors registered on a private registry; for
// tests and tools that do not export metrics.
func NewUnregistered() *Metrics { return New(prometheus.NewRegistry()) }
