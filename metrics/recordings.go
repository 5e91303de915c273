package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Recordings are the quality-inspection recordings (质检录音): fetches by
// ticket ID and the retention sweep (package gateway/recording).
type Recordings struct {
	// Access counts GET /recordings/{ticket_id} by result ("ok",
	// "partial", "unauthenticated", "forbidden", "unknown_ticket",
	// "no_recording", "recording_missing", "range_not_satisfiable",
	// "bad_request", "unavailable", "aborted").
	Access *prometheus.CounterVec
	// Removed counts stored recordings the retention sweep deleted.
	Removed prometheus.Counter
	// Sweeps counts retention sweeps by result ("ok", "error").
	Sweeps *prometheus.CounterVec
}

func newRecordings(f promauto.Factory) *Recordings {
	m := &Recordings{
		Access: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_recording_access_total",
			Help: "Fetches of a call's recording by ticket ID (GET /recordings/{ticket_id}), by result.",
		}, []string{"result"}),
		Removed: f.NewCounter(prometheus.CounterOpts{
			Name: "hotline_recordings_removed_total",
			Help: "Stored recordings deleted by the retention sweep (recordings.retention).",
		}),
		Sweeps: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_recording_sweeps_total",
			Help: "Retention sweeps of the stored recordings, by result (ok, error).",
		}, []string{"result"}),
	}
	m.Access.WithLabelValues("ok")
	m.Sweeps.WithLabelValues("ok")
	m.Sweeps.WithLabelValues("error")
	return m
}
