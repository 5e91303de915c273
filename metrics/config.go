package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reload results of hotline_config_reloads_total.
const (
	ReloadOK      = "ok"
	ReloadRefused = "refused"
)

// Config holds the collectors of configuration reloads (SIGHUP).
type Config struct {
	// Reloads counts reload attempts by result: ok (the new file is in
	// force) or refused (it did not load or validate; the old one stays).
	Reloads *prometheus.CounterVec
	// LastSuccess is the Unix time the configuration in force was loaded
	// (at start, then at each successful reload).
	LastSuccess prometheus.Gauge
}

func newConfig(f promauto.Factory) *Config {
	c := &Config{
		Reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: ok, or refused (the file did not load or validate; the configuration in force stays).",
		}, []string{"result"}),
		LastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_config_last_reload_success_timestamp_seconds",
			Help: "Unix time the configuration in force was loaded (start or the last successful reload).",
		}),
	}
	for _, r := range []string{ReloadOK, ReloadRefused} {
		c.Reloads.WithLabelValues(r)
	}
	return c
}
