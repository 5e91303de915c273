// Package ticket hands every call's ticket (工单) durably to the city's
// ticket system: the call owner enqueues it at hangup into a Redis stream
// (the outbox), and a Deliverer on every gateway instance submits the
// stream's entries to the ticket system's TicketSink, at least once, and
// removes them only after the sink confirmed them. The sink deduplicates by
// ticket ID. A gateway killed mid-delivery leaves its entries pending in the
// stream's consumer group; any instance claims them once they are idle long
// enough.
package ticket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
)

// MaxIDLen is the longest accepted ticket ID, in bytes.
const MaxIDLen = 128

// SeenTTL is how long an enqueued ticket ID is remembered: the same ID
// enqueued again within it is not delivered again.
const SeenTTL = 8 * 24 * time.Hour

// Stream entry fields. They are stored in Redis: keep them.
const (
	fieldID     = "id" // the ticket ID
	fieldTicket = "t"  // the protobuf-encoded hotlinev1.Ticket
)

// ErrInvalidID is wrapped by every ticket ID validation error.
var ErrInvalidID = errors.New("invalid ticket ID")

// ValidateID checks a ticket ID: non-empty, at most MaxIDLen bytes, and
// printable ASCII without spaces (it becomes part of a Redis key and is the
// sink's idempotency key).
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidID, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w %q: byte %d (0x%02x) is not printable ASCII", ErrInvalidID, id, i, c)
		}
	}
	return nil
}

// EndReasonUnobserved is the end reason of a stub ticket: the one the
// reaper writes for a call that ended while no gateway watched it. It holds
// only what the call registry knew (line, caller, entry time); the owner's
// full ticket, if it is written later, supersedes it.
const EndReasonUnobserved = "ended_unobserved"

// IsStub reports whether t is a reaper's stub ticket.
func IsStub(t *hotlinev1.Ticket) bool { return t.GetEndReason() == EndReasonUnobserved }

// The seen key's values: which kind of ticket was enqueued for the ID.
// "1" (written before stubs existed) counts as full.
const (
	seenFull = "1"
	seenStub = "stub"
)

// enqueueScript adds a ticket to the outbox unless its ID was enqueued
// before, or only a stub was and this ticket is full (it supersedes the
// stub). KEYS: seen, stream. ARGV: ttl seconds, ticket ID, encoded ticket,
// seen value ("1" full, "stub"). Returns the new entry ID, or false when
// the ID was already enqueued.
var enqueueScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and not (cur == 'stub' and ARGV[4] ~= 'stub') then return false end
redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[1])
return redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 't', ARGV[3])
`)

// enqueueLeaveScript is enqueueScript that then deletes a field of a hash
// (the call's entry in the registry of live calls), whether the ticket was
// queued now or before: the call leaves the registry only once its ticket
// is in Redis, in the same step. KEYS: seen, stream, hash. ARGV: as
// enqueueScript's, then the field.
var enqueueLeaveScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local added = false
if not cur or (cur == 'stub' and ARGV[4] ~= 'stub') then
  redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[1])
  added = redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 't', ARGV[3])
end
redis.call('HDEL', KEYS[3], ARGV[5])
return added
`)

// supersededScript tells whether a stub in the outbox has been superseded
// by a full ticket for the same ID. KEYS: seen. Returns 1 if it has.
var supersededScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= 'stub' then return 1 end
return 0
`)

// Outbox is the durable queue of tickets waiting for delivery.
type Outbox struct {
	rdb     redis.UniversalClient
	keys    store.Keys
	log     *slog.Logger
	m       *metrics.Tickets
	timeout time.Duration
}

// OutboxOptions configure an Outbox.
type OutboxOptions struct {
	Redis   redis.UniversalClient
	Keys    store.Keys
	Logger  *slog.Logger
	Metrics *metrics.Tickets
	Timeout time.Duration // per Redis round trip when ctx has no earlier deadline; default 2s
}

// NewOutbox returns an Outbox.
func NewOutbox(o OutboxOptions) *Outbox {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	return &Outbox{rdb: o.Redis, keys: o.Keys, log: o.Logger, m: o.Metrics, timeout: o.Timeout}
}

func streamKey(k store.Keys) string          { return k.Key("tickets", "outbox") }
func deadKey(k store.Keys) string            { return k.Key("tickets", "dead") }
func seenKey(k store.Keys, id string) string { return k.Key("tickets", "seen", id) }

// Enqueue stores t in the outbox and returns once Redis has it: from then on
// the ticket is durable and will be delivered. A ticket ID enqueued before
// (within SeenTTL) is accepted without being queued again, so retrying
// Enqueue after an error is always safe — except that a full ticket for an
// ID of which only a stub (IsStub) was enqueued supersedes the stub: it is
// queued, and the stub, if still undelivered, is not delivered. The sink
// sees the full ticket; if it already had the stub, it gets the full
// ticket under the same ID after it and must let it replace the stub.
func (o *Outbox) Enqueue(ctx context.Context, t *hotlinev1.Ticket) error {
	_, err := o.Add(ctx, t)
	return err
}

// encodeForEnqueue checks t and returns its ID and stored bytes.
func encodeForEnqueue(t *hotlinev1.Ticket) (id string, b []byte, err error) {
	if t == nil {
		return "", nil, errors.New("enqueue ticket: nil ticket")
	}
	id = t.GetTicketId()
	if err := ValidateID(id); err != nil {
		return "", nil, fmt.Errorf("enqueue ticket: %w", err)
	}
	if b, err = proto.Marshal(t); err != nil {
		return "", nil, fmt.Errorf("enqueue ticket %s: encode: %w", id, err)
	}
	return id, b, nil
}

// Add is Enqueue that also reports whether the ticket was new.
func (o *Outbox) Add(ctx context.Context, t *hotlinev1.Ticket) (added bool, err error) {
	id, b, err := encodeForEnqueue(t)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	keys := []string{seenKey(o.keys, id), streamKey(o.keys)}
	kind := seenFull
	if IsStub(t) {
		kind = seenStub
	}
	res, err := enqueueScript.Run(ctx, o.rdb, keys, int(SeenTTL/time.Second), id, b, kind).Result()
	switch {
	case errors.Is(err, redis.Nil):
		o.log.Info("ticket already enqueued; not queued again", "ticket_id", id)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("enqueue ticket %s to %s: %w", id, keys[1], err)
	}
	o.m.Total.WithLabelValues(metrics.TicketEnqueued).Inc()
	o.log.Debug("ticket enqueued", "ticket_id", id, "entry", res)
	return true, nil
}

// Redis is the outbox's client: a caller's pipeline on it may carry an
// enqueue (EnqueueIn).
func (o *Outbox) Redis() redis.UniversalClient { return o.rdb }

// Queued is an Enqueue riding in a caller's pipeline (EnqueueIn).
type Queued struct {
	o    *Outbox
	id   string
	keys []string
	args []any
	cmd  *redis.Cmd
}

// EnqueueIn queues Enqueue(t) in pipe, a pipeline on the outbox's client,
// followed in the same script by HDEL leaveKey leaveField (the call
// leaving the registry of live calls once its ticket is in Redis). Call
// Err once the pipeline ran: nil means the ticket is in the outbox (now
// or before) and the field is gone; on an error neither is known (Enqueue
// again: it is idempotent).
func (o *Outbox) EnqueueIn(ctx context.Context, pipe redis.Pipeliner, t *hotlinev1.Ticket, leaveKey, leaveField string) (interface{ Err(context.Context) error }, error) {
	id, b, err := encodeForEnqueue(t)
	if err != nil {
		return nil, err
	}
	kind := seenFull
	if IsStub(t) {
		kind = seenStub
	}
	q := &Queued{o: o, id: id, keys: []string{seenKey(o.keys, id), streamKey(o.keys), leaveKey},
		args: []any{int(SeenTTL / time.Second), id, b, kind, leaveField}}
	q.cmd = enqueueLeaveScript.EvalSha(ctx, pipe, q.keys, q.args...)
	return q, nil
}

// Err reports the enqueue's outcome once its pipeline ran; a Redis that
// did not know the script (NOSCRIPT) runs it with its text here.
func (q *Queued) Err(ctx context.Context) error {
	res, err := q.cmd.Result()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		ctx, cancel := context.WithTimeout(ctx, q.o.timeout)
		defer cancel()
		res, err = enqueueLeaveScript.Eval(ctx, q.o.rdb, q.keys, q.args...).Result()
	}
	switch {
	case errors.Is(err, redis.Nil):
		q.o.log.Info("ticket already enqueued; not queued again", "ticket_id", q.id)
		return nil
	case err != nil:
		return fmt.Errorf("enqueue ticket %s to %s: %w", q.id, q.keys[1], err)
	}
	q.o.m.Total.WithLabelValues(metrics.TicketEnqueued).Inc()
	q.o.log.Debug("ticket enqueued", "ticket_id", q.id, "entry", res)
	return nil
}

// Backlog returns the number of tickets in the outbox that the sink has not
// confirmed yet (pending deliveries included).
func (o *Outbox) Backlog(ctx context.Context) (int64, error) {
	return backlog(ctx, o.rdb, o.keys, o.timeout)
}

func backlog(ctx context.Context, rdb redis.UniversalClient, k store.Keys, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := rdb.XLen(ctx, streamKey(k)).Result()
	if err != nil {
		return 0, fmt.Errorf("ticket backlog: XLEN %s: %w", streamKey(k), err)
	}
	return n, nil
}

// Flush waits until the outbox is empty — every ticket enqueued so far (by
// any instance) confirmed by the sink — or ctx ends. It polls every 20ms.
func (o *Outbox) Flush(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := o.Backlog(ctx)
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("ticket flush: %w (last error: %v)", ctx.Err(), err)
			}
			return fmt.Errorf("ticket flush: %d tickets not yet delivered: %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}
