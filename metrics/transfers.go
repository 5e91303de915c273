package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Transfers holds the collectors of the one-key transfer between 12345 and
// 110 (package transfer).
type Transfers struct {
	// Transfers counts transfers once each, when they end, by direction
	// ("to110", "from110"), mode ("blind", "three_party", "none" for
	// arrivals from 110) and result (the record's outcome: "completed",
	// "peer_hangup", "busy", "no_answer", "failed", "timeout", "cancelled",
	// "caller_hangup"; "arrived" for calls transferred from 110).
	Transfers *prometheus.CounterVec
	// Setup observes the time from the transfer request to 110 answering,
	// by direction.
	Setup *prometheus.HistogramVec
}

func newTransfers(f promauto.Factory) *Transfers {
	t := &Transfers{
		Transfers: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_transfers_total",
			Help: "One-key transfers between 12345 and 110, counted when they end, by direction (to110, from110), mode (blind, three_party, none) and result.",
		}, []string{"direction", "mode", "result"}),
		Setup: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_transfer_setup_seconds",
			Help:    "Time from a transfer request to the other platform answering, by direction.",
			Buckets: []float64{.5, 1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60},
		}, []string{"direction"}),
	}
	// Pre-create the common series so that dashboards see zeros, not gaps.
	for _, mode := range []string{"blind", "three_party"} {
		for _, res := range []string{"completed", "busy", "no_answer", "failed"} {
			t.Transfers.WithLabelValues("to110", mode, res)
		}
	}
	t.Transfers.WithLabelValues("from110", "none", "arrived")
	t.Setup.WithLabelValues("to110")
	return t
}

// Ended counts one transfer that reached a final state. The transfer
// package calls it; the label values are its fixed vocabulary.
func (t *Transfers) Ended(direction, mode, result string) {
	t.Transfers.WithLabelValues(direction, mode, result).Inc()
}

// Answered observes the setup time of a transfer (request → answered).
func (t *Transfers) Answered(direction string, setup time.Duration) {
	t.Setup.WithLabelValues(direction).Observe(setup.Seconds())
}

// From110Arrived counts a call the 110 platform transferred to 12345 (the
// gateway calls it when such a call enters Stasis, e.g. with the "from110"
// application argument).
func (t *Transfers) From110Arrived() {
	t.Transfers.WithLabelValues("from110", "none", "arrived").Inc()
}
