package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/buildinfo"
	"github.com/hotline12345/hotline-gw/metrics"
)

func TestBuildInfoOnTheInjectedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	in := buildinfo.Get()
	for _, mf := range mfs {
		if mf.GetName() != "hotline_build_info" {
			continue
		}
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("hotline_build_info has %d series, want 1", len(mf.GetMetric()))
		}
		m := mf.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		want := map[string]string{"version": in.Version, "revision": in.Revision, "goversion": in.GoVersion}
		for k, v := range want {
			if labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, labels[k], v)
			}
		}
		if len(labels) != 3 {
			t.Errorf("labels %v, want exactly version, revision, goversion", labels)
		}
		if m.GetGauge().GetValue() != 1 {
			t.Errorf("value %v, want 1", m.GetGauge().GetValue())
		}
		return
	}
	t.Fatal("hotline_build_info not registered by metrics.New")
}

func TestEventLoopBeat(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	at := time.Date(2026, 12, 1, 12, 0, 0, 500_000_000, time.UTC)
	m.EventLoop.Beat(at)
	if got := testutil.ToFloat64(m.EventLoop.Heartbeat); got != float64(at.Unix())+0.5 {
		t.Fatalf("heartbeat = %v, want %v", got, float64(at.Unix())+0.5)
	}
}
