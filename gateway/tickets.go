package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/internal/backoff"
	"github.com/hotline12345/hotline-gw/internal/journal"
)

// TicketOutbox is where finished calls' tickets go (ticket.Outbox: a Redis
// stream, delivered to the ticket system at least once).
type TicketOutbox interface {
	Enqueue(ctx context.Context, t *hotlinev1.Ticket) error
}

// ticketSpool hands tickets to the outbox from one goroutine, retrying with
// backoff while Redis is unreachable, so that a call's end never waits on
// Redis and no ticket is lost to an outage (bounded; overflow is logged as
// an error with the ticket ID).
type ticketSpool struct {
	out TicketOutbox
	j   *journal.Journal // nil: memory only
	// onEnqueued runs with the call ID once a ticket is in the outbox.
	onEnqueued func(callID string)
	log        *slog.Logger
	q          chan *hotlinev1.Ticket
	mu         sync.Mutex
	cond       *sync.Cond
	busy       int
}

func newTicketSpool(out TicketOutbox, log *slog.Logger, limit int) *ticketSpool {
	s := &ticketSpool{out: out, log: log, q: make(chan *hotlinev1.Ticket, limit)}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *ticketSpool) add(t *hotlinev1.Ticket) {
	s.mu.Lock()
	s.busy++
	s.mu.Unlock()
	select {
	case s.q <- t:
	default:
		s.done()
		s.log.Error("ticket spool full: ticket not handed off", "ticket_id", t.GetTicketId())
	}
}

// journal keeps t in the local journal before it is spooled in memory.
func (s *ticketSpool) journal(t *hotlinev1.Ticket) {
	if s.j == nil {
		return
	}
	b, err := proto.Marshal(t)
	if err == nil {
		err = s.j.Add(t.GetTicketId(), b)
	}
	if err != nil {
		s.log.Error("ticket not journaled: lost if the gateway dies before Redis is back", "ticket_id", t.GetTicketId(), "err", err)
	}
}

// replay spools again the tickets a previous process left in the journal.
func (s *ticketSpool) replay(recs []journal.Record) {
	for _, r := range recs {
		t := &hotlinev1.Ticket{}
		if err := proto.Unmarshal(r.Data, t); err != nil {
			s.log.Error("journaled ticket undecodable; dropped", "ticket_id", r.Key, "err", err)
			if s.j != nil {
				_ = s.j.Done(r.Key)
			}
			continue
		}
		s.log.Info("ticket from the journal of a previous process spooled again", "ticket_id", r.Key)
		s.add(t)
	}
}

// enqueued forgets a ticket that is in the outbox.
func (s *ticketSpool) enqueued(t *hotlinev1.Ticket) {
	if s.j != nil {
		if err := s.j.Done(t.GetTicketId()); err != nil {
			s.log.Warn("journal: ticket not marked done (replayed once more at start; the outbox dedups)", "ticket_id", t.GetTicketId(), "err", err)
		}
	}
	if s.onEnqueued != nil {
		s.onEnqueued(t.GetCallId())
	}
}

func (s *ticketSpool) done() {
	s.mu.Lock()
	s.busy--
	if s.busy == 0 {
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

func (s *ticketSpool) run(ctx context.Context) {
	for {
		var t *hotlinev1.Ticket
		select {
		case <-ctx.Done():
			return
		case t = <-s.q:
		}
		retry := backoff.New(50*time.Millisecond, 3*time.Second)
		for {
			octx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := s.out.Enqueue(octx, t)
			cancel()
			if err == nil {
				s.enqueued(t)
				break
			}
			s.log.Warn("ticket not yet in the outbox; retrying", "ticket_id", t.GetTicketId(), "err", err)
			if !retry.Sleep(ctx) {
				return
			}
		}
		s.done()
	}
}

// flush waits until every ticket added so far is in the outbox.
func (s *ticketSpool) flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.busy > 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("ticket flush: %d tickets not yet in the outbox: %w", s.busy, ctx.Err())
		}
		s.cond.Wait()
	}
	return nil
}
