package metrics

import "github.com/prometheus/client_golang/prometheus/promauto"

// Outbound holds the collectors of this part of the gateway.
type Outbound struct{}

func newOutbound(f promauto.Factory) *Outbound {
	return &Outbound{}
}
