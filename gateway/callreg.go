package gateway

import (
	"context"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
)

// LiveCall is what the call registry keeps of a live call (store.LiveCall).
type LiveCall = store.LiveCall

// Registry is what the Service needs of the call registry.
type Registry interface {
	Enter(ctx context.Context, c LiveCall) error
	Leave(ctx context.Context, id string) error
	All(ctx context.Context) ([]LiveCall, error)
}

// Leases are the gateway instances' heartbeats (store.Leases).
type Leases interface {
	Renew(ctx context.Context, instance string) error
	Alive(ctx context.Context, instances []string) (map[string]bool, error)
	Period() time.Duration
}

// renewLease keeps this instance's lease current until ctx ends.
func (s *Service) renewLease(ctx context.Context) {
	tick := time.NewTicker(s.o.Leases.Period())
	defer tick.Stop()
	for {
		rctx, cancel := s.opCtx(ctx)
		err := s.o.Leases.Renew(rctx, s.o.Instance)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("instance lease not renewed", "instance", s.o.Instance, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ReapUnobserved writes the ticket of every registered call that is no
// longer live anywhere: no owner on this instance, no channel of it in
// Asterisk, and (with Leases) its owning instance's lease lapsed — a live
// instance cut off from Redis for a while still has the call's full ticket
// to write. Any instance may run it. The reaper's ticket is a stub
// (ticket.EndReasonUnobserved); a full ticket the owner writes later
// supersedes it in the outbox.
func (s *Service) ReapUnobserved(ctx context.Context) {
	if s.o.Registry == nil || s.o.Outbox == nil {
		return
	}
	calls, err := s.o.Registry.All(ctx)
	if err != nil || len(calls) == 0 {
		return
	}
	chans, err := s.o.PBX.ListChannels(ctx)
	if err != nil {
		return
	}
	alive := s.leasesOf(ctx, calls)
	if alive == nil {
		return
	}
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	suspects := map[string]bool{}
	for _, lc := range calls {
		if _, ok := s.call(lc.ID); ok || alive[lc.Instance] {
			continue
		}
		live := false
		for _, ch := range chans {
			if dialplan.BelongsTo(ch, lc.ID) {
				live = true
				break
			}
		}
		if live {
			continue
		}
		// Reap only what was already gone at the previous sweep: a call that
		// just ended is its owner's to finish (its ticket has the details).
		suspects[lc.ID] = true
		if !s.suspects[lc.ID] {
			continue
		}
		t := &hotlinev1.Ticket{
			TicketId: lc.ID, CallId: lc.ID, Direction: hotlinev1.Direction_DIRECTION_INBOUND,
			CallerNumber: lc.Caller, CalledNumber: lc.DNIS, Line: lc.Line, MainLine: lc.Main, Skill: lc.Skill,
			EnteredAt: timestamppb.New(lc.Entered), EndedAt: timestamppb.Now(),
			EndReason: ticket.EndReasonUnobserved, GatewayInstance: s.o.Instance,
		}
		switch lc.Entry {
		case EntryFrom110:
			t.Direction = hotlinev1.Direction_DIRECTION_FROM110
		case EntryOutbound:
			t.Direction = hotlinev1.Direction_DIRECTION_OUTBOUND
		}
		if err := s.o.Outbox.Enqueue(ctx, t); err != nil {
			s.log.Warn("reaper: ticket not written; retried later", "call_id", lc.ID, "err", err)
			continue
		}
		_ = s.o.Registry.Leave(ctx, lc.ID)
		delete(suspects, lc.ID)
		s.log.Warn("reaper: ticket written for a call that ended while no gateway watched it", "call_id", lc.ID, "gateway", lc.Instance)
	}
	s.suspects = suspects
}

// leasesOf returns which of the calls' owning instances hold a current
// lease; this instance counts as gone (its own calls without an owner are
// its to reap). Nil when the leases cannot be read: reap nothing then.
func (s *Service) leasesOf(ctx context.Context, calls []LiveCall) map[string]bool {
	if s.o.Leases == nil {
		return map[string]bool{}
	}
	var others []string
	for _, lc := range calls {
		if lc.Instance != s.o.Instance && !slices.Contains(others, lc.Instance) {
			others = append(others, lc.Instance)
		}
	}
	alive, err := s.o.Leases.Alive(ctx, others)
	if err != nil {
		s.log.Warn("reaper: instance leases not readable; nothing reaped", "err", err)
		return nil
	}
	return alive
}
