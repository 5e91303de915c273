// Package recording keeps what the gateway knows about the calls'
// recordings (质检录音) beside Asterisk's stored recordings: which ticket
// has which recording and when it was made (an index in Redis, written when
// the ticket is handed to the outbox), and the retention sweep that deletes
// the gateway's recordings older than recordings.retention from Asterisk.
package recording

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
)

// NoneTTL is how long the index remembers a ticket without a recording
// when no retention is set (with one, the retention): long enough for an
// inspector to be told "no recording" rather than "unknown ticket".
const NoneTTL = 90 * 24 * time.Hour

// Index is the Redis index of the tickets' recordings:
//
//	recordings:ticket:<ticket ID>  the recording's name, "" for a ticket without one
//	recordings:made                sorted set: recording name → Unix time it was made
type Index struct {
	Redis redis.UniversalClient
	Keys  store.Keys
	// Retention: a ticket without a recording is remembered that long
	// (NoneTTL when 0).
	Retention time.Duration
	// Timeout bounds each Redis round trip when ctx has no earlier
	// deadline (default 2s).
	Timeout time.Duration
}

func (x *Index) ticketKey(id string) string { return x.Keys.Key("recordings", "ticket", id) }
func (x *Index) madeKey() string            { return x.Keys.Key("recordings", "made") }

func (x *Index) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := x.Timeout
	if d <= 0 {
		d = 2 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

// MadeAt is when a ticket's recording was made: the agent's answer (the
// bridge is recorded from then on), else the call's end, else now.
func MadeAt(t *hotlinev1.Ticket, now time.Time) time.Time {
	switch {
	case t.GetAnsweredAt().IsValid() && t.GetAnsweredAt().AsTime().Unix() > 0:
		return t.GetAnsweredAt().AsTime()
	case t.GetEndedAt().IsValid() && t.GetEndedAt().AsTime().Unix() > 0:
		return t.GetEndedAt().AsTime()
	}
	return now
}

// noteIn queues Note(t) in pipe (without MULTI: each write is
// idempotent).
func (x *Index) noteIn(ctx context.Context, pipe redis.Pipeliner, t *hotlinev1.Ticket) ([]redis.Cmder, error) {
	id := t.GetTicketId()
	if id == "" {
		return nil, errors.New("recording index: ticket without ID")
	}
	name := t.GetRecording()
	if name == "" {
		ttl := x.Retention
		if ttl <= 0 {
			ttl = NoneTTL
		}
		return []redis.Cmder{pipe.SetNX(ctx, x.ticketKey(id), "", ttl)}, nil
	}
	made := MadeAt(t, time.Now())
	return []redis.Cmder{
		pipe.Set(ctx, x.ticketKey(id), name, 0),
		pipe.ZAdd(ctx, x.madeKey(), redis.Z{Score: float64(made.Unix()), Member: name}),
	}, nil
}

// Note records t's recording (or that it has none). A ticket without a
// recording never overwrites one with (a reaper's stub after the full
// ticket). Idempotent.
func (x *Index) Note(ctx context.Context, t *hotlinev1.Ticket) error {
	id := t.GetTicketId()
	if id == "" {
		return errors.New("recording index: ticket without ID")
	}
	ctx, cancel := x.ctx(ctx)
	defer cancel()
	name := t.GetRecording()
	if name == "" {
		ttl := x.Retention
		if ttl <= 0 {
			ttl = NoneTTL
		}
		if err := x.Redis.SetNX(ctx, x.ticketKey(id), "", ttl).Err(); err != nil {
			return fmt.Errorf("recording index: ticket %s: %w", id, err)
		}
		return nil
	}
	made := MadeAt(t, time.Now())
	_, err := x.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, x.ticketKey(id), name, 0)
		p.ZAdd(ctx, x.madeKey(), redis.Z{Score: float64(made.Unix()), Member: name})
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording index: ticket %s: %w", id, err)
	}
	return nil
}

// Lookup returns the name of a ticket's recording: found false for a
// ticket the index does not know, name "" for a ticket without one.
func (x *Index) Lookup(ctx context.Context, ticketID string) (name string, found bool, err error) {
	ctx, cancel := x.ctx(ctx)
	defer cancel()
	name, err = x.Redis.Get(ctx, x.ticketKey(ticketID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("recording index: ticket %s: %w", ticketID, err)
	}
	return name, true, nil
}

// MadeTimes returns when each named recording was made, by name; names the
// index does not know are absent.
func (x *Index) MadeTimes(ctx context.Context, names []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(names))
	for start := 0; start < len(names); start += 500 {
		chunk := names[start:min(start+500, len(names))]
		cctx, cancel := x.ctx(ctx)
		scores, err := x.Redis.ZMScore(cctx, x.madeKey(), chunk...).Result()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("recording index: made times: %w", err)
		}
		for i, s := range scores {
			if s > 0 {
				out[chunk[i]] = time.Unix(int64(s), 0)
			}
		}
	}
	return out, nil
}

// SetMade sets when a recording was made (tests backdate one with it).
func (x *Index) SetMade(ctx context.Context, name string, at time.Time) error {
	ctx, cancel := x.ctx(ctx)
	defer cancel()
	return x.Redis.ZAdd(ctx, x.madeKey(), redis.Z{Score: float64(at.Unix()), Member: name}).Err()
}

// Removed forgets a deleted recording's time; the ticket's entry stays
// for NoneTTL (or the retention) so that a fetch says the recording was
// removed rather than that the ticket is unknown.
func (x *Index) Removed(ctx context.Context, name, ticketID string) error {
	ctx, cancel := x.ctx(ctx)
	defer cancel()
	ttl := x.Retention
	if ttl <= 0 {
		ttl = NoneTTL
	}
	_, err := x.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, x.madeKey(), name)
		if ticketID != "" {
			p.Expire(ctx, x.ticketKey(ticketID), ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording index: removed %s: %w", name, err)
	}
	return nil
}

// TicketOutbox is the outbox the call owners hand tickets to
// (gateway.TicketOutbox).
type TicketOutbox interface {
	Enqueue(ctx context.Context, t *hotlinev1.Ticket) error
}

// Outbox notes each ticket's recording in the index, then hands the ticket
// to Next. An index error is returned (the spool retries the whole
// Enqueue; Note and the outbox are idempotent).
type Outbox struct {
	Next  TicketOutbox
	Index *Index
}

// Enqueue notes t in the index and enqueues it.
func (o *Outbox) Enqueue(ctx context.Context, t *hotlinev1.Ticket) error {
	if err := o.Index.Note(ctx, t); err != nil {
		return err
	}
	return o.Next.Enqueue(ctx, t)
}

// stepOutbox is an outbox whose enqueue can ride in a caller's pipeline
// (ticket.Outbox).
type stepOutbox interface {
	Redis() redis.UniversalClient
	EnqueueIn(ctx context.Context, pipe redis.Pipeliner, t *hotlinev1.Ticket, leaveKey, leaveField string) (interface{ Err(context.Context) error }, error)
}

// Redis is the client of Next and the index when they share one (a
// caller's pipeline on it may carry an enqueue: EnqueueIn), else nil.
func (o *Outbox) Redis() redis.UniversalClient {
	if n, ok := o.Next.(stepOutbox); ok && n.Redis() == o.Index.Redis {
		return o.Index.Redis
	}
	return nil
}

// EnqueueIn queues Enqueue(t) in pipe, a pipeline on Redis(): the index's
// note, then Next's EnqueueIn (see ticket.Outbox.EnqueueIn). Err is nil
// once both are in Redis; on an error Enqueue again (both idempotent).
func (o *Outbox) EnqueueIn(ctx context.Context, pipe redis.Pipeliner, t *hotlinev1.Ticket, leaveKey, leaveField string) (interface{ Err(context.Context) error }, error) {
	n, ok := o.Next.(stepOutbox)
	if !ok || o.Redis() == nil {
		return nil, errors.New("recording outbox: the next outbox cannot join a pipeline")
	}
	note, err := o.Index.noteIn(ctx, pipe, t)
	if err != nil {
		return nil, err
	}
	q, err := n.EnqueueIn(ctx, pipe, t, leaveKey, leaveField)
	if err != nil {
		return nil, err
	}
	return queuedNote{note: note, next: q, id: t.GetTicketId()}, nil
}

type queuedNote struct {
	note []redis.Cmder
	next interface{ Err(context.Context) error }
	id   string
}

func (q queuedNote) Err(ctx context.Context) error {
	for _, c := range q.note {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("recording index: ticket %s: %w", q.id, err)
		}
	}
	return q.next.Err(ctx)
}

// madeFromName is a recording's time read from its name when the index
// does not have it: the gateway names recordings after the call, whose ID
// for an inbound call is Asterisk's channel ID "<Unix seconds>.<n>".
func madeFromName(callID string) (time.Time, bool) {
	secs, _, ok := cutDot(callID)
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || n < 1_000_000_000 || n > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

func cutDot(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}
