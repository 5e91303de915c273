package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/httpapi"
	"github.com/hotline12345/hotline-gw/web/desk"
)

// httpHandler serves /metrics, the probes and, when configured, pprof.
func (a *App) httpHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle(httpapi.Prefix, a.api.http) // the gRPC services as HTTP/JSON, through the same guard
	mux.Handle("/desk", desk.Handler())    // the agent's desk (it calls /api/v1/ with the seat's token)
	mux.HandleFunc("/healthz", a.healthz)
	a.wallRoutes(mux)
	a.recordings.Register(mux) // /recordings/{ticket_id}: supervisors and inspectors
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ariReady, accepting := a.ari.Ready(), a.svc.Accepting()
		if ariReady && accepting {
			io.WriteString(w, "ready\n")
			return
		}
		http.Error(w, fmt.Sprintf("not ready: ari_ready=%t accepting=%t", ariReady, accepting), http.StatusServiceUnavailable)
	})
	if a.cfg.Listen.Pprof {
		// Profiles show memory and goroutines (numbers, tokens in flight):
		// supervisor tokens only.
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", a.guard.HTTP(auth.RoleSupervisor, pp))
	}
	return mux
}

func registerHealth(gs *grpc.Server, hs *health.Server) { healthpb.RegisterHealthServer(gs, hs) }

// watchHealth mirrors readiness into the gRPC health service.
func watchHealth(ctx context.Context, hs *health.Server, ready func() bool) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if ready() {
			st = healthpb.HealthCheckResponse_SERVING
		}
		if st != last {
			hs.SetServingStatus("", st)
			hs.SetServingStatus("hotline.v1.StatsService", st)
			last = st
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
