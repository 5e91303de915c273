package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hotline12345/hotline-gw/buildinfo"
)

// newBuildInfo registers hotline_build_info, constant 1, whose labels say
// which build is running (package buildinfo). A dashboard joins on it to
// show versions; a rollout shows as two label sets at once.
func newBuildInfo(f promauto.Factory) prometheus.Gauge {
	in := buildinfo.Get()
	g := f.NewGauge(prometheus.GaugeOpts{
		Name: "hotline_build_info",
		Help: "Build of the running gateway: 1, labelled with version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{
			"version":   in.Version,
			"revision":  in.Revision,
			"goversion": in.GoVersion,
		},
	})
	g.Set(1)
	return g
}
