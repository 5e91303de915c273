package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Ticket results, the values of the "result" label of hotline_tickets_total.
// The names are part of the product: keep them.
const (
	TicketEnqueued   = "enqueued"    // a new ticket is durably in the outbox
	TicketDelivered  = "delivered"   // the sink stored a ticket it did not have
	TicketDuplicate  = "duplicate"   // the sink already had the ticket (treated as delivered)
	TicketRetried    = "retried"     // a delivery attempt failed and will be retried
	TicketDeadLetter = "dead_letter" // an entry was moved to the dead-letter stream
)

// Tickets holds the collectors of the durable ticket hand-off (package
// gateway/ticket).
type Tickets struct {
	// Total counts tickets by result: "enqueued", "delivered", "duplicate",
	// "retried", "dead_letter".
	Total *prometheus.CounterVec
	// Backlog is the number of tickets in the outbox not yet confirmed by
	// the sink (the outbox stream's length), refreshed periodically.
	Backlog prometheus.Gauge
	// Delivery observes the time from enqueue to the sink's confirmation.
	Delivery prometheus.Histogram
	// DeadLetters counts tickets moved to the dead letters by reason:
	// "undecodable", "max_attempts", "max_age", "rejected", or the gRPC code
	// of a refusal for good in snake case ("invalid_argument",
	// "failed_precondition", "permission_denied", "unimplemented", ...).
	DeadLetters *prometheus.CounterVec
	// DeadLetterBacklog is the length of the dead-letter stream, refreshed
	// periodically.
	DeadLetterBacklog prometheus.Gauge
	// Retrying is the number of tickets this instance holds for a later
	// attempt (none of them holds a worker).
	Retrying prometheus.Gauge
}

func newTickets(f promauto.Factory) *Tickets {
	t := &Tickets{
		Total: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_tickets_total",
			Help: "Tickets by result (enqueued, delivered, duplicate, retried, dead_letter).",
		}, []string{"result"}),
		Backlog: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_ticket_backlog",
			Help: "Tickets in the outbox not yet confirmed by the ticket system.",
		}),
		Delivery: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_ticket_delivery_seconds",
			Help:    "Time from a ticket's enqueue to the ticket system's confirmation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
		}),
	}
	t.DeadLetters = f.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_ticket_dead_letters_total",
		Help: "Tickets moved to the dead letters, by reason (undecodable, max_attempts, max_age, rejected, or the refusing gRPC code: invalid_argument, permission_denied, ...).",
	}, []string{"reason"})
	t.DeadLetterBacklog = f.NewGauge(prometheus.GaugeOpts{
		Name: "hotline_ticket_dead_letter_backlog",
		Help: "Tickets in the dead-letter stream (shared by every instance; aggregate with max()).",
	})
	t.Retrying = f.NewGauge(prometheus.GaugeOpts{
		Name: "hotline_ticket_retrying",
		Help: "Tickets this instance holds for a later delivery attempt after a failed one.",
	})
	for _, r := range []string{"undecodable", "max_attempts", "max_age", "invalid_argument", "failed_precondition", "permission_denied", "unimplemented"} {
		t.DeadLetters.WithLabelValues(r)
	}
	// Export every result from the start so that rates and alerts work
	// before the first event of each kind.
	for _, r := range []string{TicketEnqueued, TicketDelivered, TicketDuplicate, TicketRetried, TicketDeadLetter} {
		t.Total.WithLabelValues(r)
	}
	return t
}
