package ticket

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
)

// Dead-letter entry fields besides those of the outbox entry. They are
// stored in Redis: keep them.
const (
	fieldReason   = "reason"   // why: a Dead* constant or a gRPC code in snake case
	fieldError    = "error"    // the last error, as text
	fieldEntry    = "entry"    // the outbox entry ID it had
	fieldConsumer = "consumer" // the gateway instance that moved it
	fieldAttempts = "attempts" // refusals counted before it was moved
)

func attemptsKey(k store.Keys) string { return k.Key("tickets", "attempts") }

// DeadLetter is one ticket in the dead-letter stream.
type DeadLetter struct {
	ID       string    // the dead-letter entry's ID (Requeue takes it)
	At       time.Time // when it was moved
	TicketID string
	Reason   string // DeadUndecodable, DeadMaxAttempts, DeadMaxAge or a gRPC code ("invalid_argument", ...)
	Error    string // the last error
	Entry    string // the outbox entry ID it had
	Consumer string // the gateway instance that moved it
	Attempts int    // refusals counted before it was moved
	// Ticket is the decoded ticket, nil if it does not decode (reason
	// DeadUndecodable).
	Ticket *hotlinev1.Ticket
}

// DeadLetters lists up to count dead letters (oldest first) with IDs after
// after ("" from the start); next is the after of the following page, ""
// when there is none.
func (o *Outbox) DeadLetters(ctx context.Context, after string, count int) (list []DeadLetter, next string, err error) {
	if count <= 0 || count > 1000 {
		return nil, "", fmt.Errorf("list dead letters: count %d must be 1-1000", count)
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	msgs, err := o.rdb.XRangeN(ctx, deadKey(o.keys), start, "+", int64(count)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("list dead letters: XRANGE %s from %q: %w", deadKey(o.keys), start, err)
	}
	for _, m := range msgs {
		list = append(list, deadLetterOf(m))
	}
	if len(msgs) == count {
		next = msgs[len(msgs)-1].ID
	}
	return list, next, nil
}

func deadLetterOf(m redis.XMessage) DeadLetter {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	dl := DeadLetter{
		ID: m.ID, TicketID: str(fieldID), Reason: str(fieldReason), Error: str(fieldError),
		Entry: str(fieldEntry), Consumer: str(fieldConsumer),
	}
	dl.At, _ = entryTime(m.ID)
	dl.Attempts, _ = strconv.Atoi(str(fieldAttempts))
	if raw := str(fieldTicket); raw != "" {
		t := &hotlinev1.Ticket{}
		if proto.Unmarshal([]byte(raw), t) == nil {
			dl.Ticket = t
		}
	}
	return dl
}

// requeueScript moves one dead letter back to the outbox as a new entry
// with its ticket fields (and a count of how often it was requeued).
// KEYS: dead stream, outbox stream. ARGV: dead-letter ID. Returns the new
// outbox entry ID, false if there is no such dead letter, or an error if
// it has no ticket.
var requeueScript = redis.NewScript(`
local m = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #m == 0 then return false end
local f = m[1][2]
local v = {}
for i = 1, #f, 2 do v[f[i]] = f[i + 1] end
if not v['id'] or not v['t'] then return redis.error_reply('dead letter ' .. ARGV[1] .. ' has no ticket') end
local n = tonumber(v['requeued'] or '0') + 1
local id = redis.call('XADD', KEYS[2], '*', 'id', v['id'], 't', v['t'], 'requeued', tostring(n))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
`)

// ErrNoDeadLetter is returned by Requeue for an ID that is not (or no
// longer) in the dead-letter stream.
var ErrNoDeadLetter = errors.New("no such dead letter")

// Requeue moves the dead letter id back to the outbox, to be delivered like
// a new ticket (with fresh attempts), and returns its new outbox entry ID.
// Each move is atomic: the ticket is in exactly one of the two streams.
func (o *Outbox) Requeue(ctx context.Context, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res, err := requeueScript.Run(ctx, o.rdb, []string{deadKey(o.keys), streamKey(o.keys)}, id).Text()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("requeue dead letter %s: %w", id, ErrNoDeadLetter)
	}
	if err != nil {
		return "", fmt.Errorf("requeue dead letter %s from %s: %w", id, deadKey(o.keys), err)
	}
	o.log.Info("dead letter requeued", "dead_letter", id, "entry", res)
	return res, nil
}

// TrimDeadLetters deletes dead letters moved more than olderThan ago and
// returns how many.
func (o *Outbox) TrimDeadLetters(ctx context.Context, olderThan time.Duration) (int64, error) {
	return trimDead(ctx, o.rdb, o.keys, o.timeout, olderThan)
}

func trimDead(ctx context.Context, rdb redis.UniversalClient, k store.Keys, timeout, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("trim dead letters: age %s must be positive", olderThan)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	minID := strconv.FormatInt(time.Now().Add(-olderThan).UnixMilli(), 10) + "-0"
	n, err := rdb.XTrimMinID(ctx, deadKey(k), minID).Result()
	if err != nil {
		return 0, fmt.Errorf("trim dead letters: XTRIM %s MINID %s: %w", deadKey(k), minID, err)
	}
	return n, nil
}

func deadLen(ctx context.Context, rdb redis.UniversalClient, k store.Keys, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := rdb.XLen(ctx, deadKey(k)).Result()
	if err != nil {
		return 0, fmt.Errorf("dead letters: XLEN %s: %w", deadKey(k), err)
	}
	return n, nil
}
