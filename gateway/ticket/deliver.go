package ticket

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
)

// Group is the outbox stream's consumer group. It is stored in Redis: keep it.
const Group = "delivery"

// ErrRejected marks a sink error that retrying cannot fix (the sink refused
// the ticket itself, e.g. gRPC InvalidArgument). The Deliverer moves such a
// ticket to the dead-letter stream instead of retrying it.
var ErrRejected = errors.New("ticket rejected by sink")

// DefaultDeadLetterCodes are the gRPC codes with which a sink refuses a
// ticket for good: retrying the same ticket cannot succeed, so it goes to
// the dead letters at once. (AlreadyExists is no refusal: the sink has the
// ticket, which counts as a duplicate delivery.)
var DefaultDeadLetterCodes = []codes.Code{
	codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied,
	codes.Unimplemented, codes.OutOfRange, codes.NotFound,
}

// Sink is the ticket system. Submit returns once the sink has stored the
// ticket durably; duplicate reports that it already had this ticket ID.
// Errors wrapping ErrRejected, or carrying a gRPC code of
// Options.DeadLetterCodes, are permanent; every other error is retried (see
// Options.MaxAttempts and MaxAge).
type Sink interface {
	Submit(ctx context.Context, t *hotlinev1.Ticket) (duplicate bool, err error)
}

// Encoded is one ticket as the outbox stores it: its ID and its protobuf
// encoding, handed to a BatchSink as is.
type Encoded struct {
	ID  string
	Raw string // the encoded hotlinev1.Ticket
}

// Result is a BatchSink's answer for one ticket: Err as Sink.Submit's
// would be for that ticket alone.
type Result struct {
	Duplicate bool
	Err       error
}

// BatchSink is a Sink that also takes several tickets in one request
// (TicketSink.SubmitTickets). SubmitBatch returns one Result per ticket, in
// order, once every stored ticket is durable; an error means none of the
// batch may be assumed stored. A sink without the batch call answers with
// gRPC Unimplemented, and the Deliverer falls back to Submit.
type BatchSink interface {
	Sink
	SubmitBatch(ctx context.Context, batch []Encoded) ([]Result, error)
}

// Defaults of Options.SendBatch and SendLinger (and of the tickets section).
const (
	DefaultSendBatch  = 128
	DefaultSendLinger = 2 * time.Millisecond
)

// Options configure a Deliverer. Zero durations and counts take defaults.
type Options struct {
	Redis    redis.UniversalClient
	Keys     store.Keys
	Consumer string // this gateway instance's name: its consumer in the group
	Sink     Sink
	Logger   *slog.Logger
	Metrics  *metrics.Tickets

	Workers      int           // concurrent submits; default 16
	Batch        int           // entries per XREADGROUP / XAUTOCLAIM / acknowledgement; default 1024
	Block        time.Duration // XREADGROUP BLOCK; default and maximum 1s
	ClaimIdle    time.Duration // claim other consumers' entries pending longer; default 60s
	ClaimEvery   time.Duration // how often to look for such entries; default 10s
	BacklogEvery time.Duration // how often to refresh the backlog gauge; default 5s
	Timeout      time.Duration // per Redis round trip; default 2s
	BackoffMin   time.Duration // first retry delay; default 100ms
	BackoffMax   time.Duration // Redis retry delay cap; default 5s

	// SendBatch is the most tickets per SubmitBatch when the Sink is a
	// BatchSink; 1 submits every ticket alone. Default DefaultSendBatch.
	SendBatch int
	// SendLinger is how long a worker waits for a batch to fill before it
	// sends what it has; 0: DefaultSendLinger, negative: never waits.
	SendLinger time.Duration

	// RetryMax caps the delay before a ticket the sink refused is submitted
	// again (exponential from BackoffMin); default 1 minute. While the sink
	// is unreachable the cap is BackoffMax, so the backlog goes out soon
	// after it is back. A ticket waiting for its retry holds no worker.
	// At most ClaimIdle/2, so no other instance claims a waiting ticket.
	RetryMax time.Duration
	// DeadLetterCodes are the gRPC codes that move a ticket to the dead
	// letters at once; nil means DefaultDeadLetterCodes.
	DeadLetterCodes []codes.Code
	// MaxAttempts moves a ticket to the dead letters after that many
	// refusals by the sink (answers other than success, the
	// DeadLetterCodes, or an unreachable sink: Unavailable,
	// DeadlineExceeded, Canceled, ResourceExhausted). Default 20; negative
	// means never. An unreachable sink counts only towards MaxAge, so an
	// outage never dead-letters the backlog.
	MaxAttempts int
	// MaxAge moves a ticket to the dead letters once it has been in the
	// outbox that long without being delivered, whatever the error; default
	// 72h; negative means never.
	MaxAge time.Duration
	// DeadLetterMaxAge trims dead letters older than that (checked every
	// BacklogEvery); default 30 days; negative means never.
	DeadLetterMaxAge time.Duration
}

// Deliverer submits the outbox's entries to the sink and removes them once
// the sink confirmed them. Every gateway instance runs one, with its own
// consumer name.
type Deliverer struct {
	o      Options
	stream string
	dead   string
	log    *slog.Logger
	m      *metrics.Tickets

	work      chan redis.XMessage
	acks      chan string
	deadCodes map[codes.Code]bool
	single    atomic.Bool // the sink answered SubmitTickets Unimplemented

	mu       sync.Mutex
	inflight map[string]struct{} // entry IDs this deliverer holds, until acked
	retries  retryHeap           // entries waiting for their next attempt
	wake     chan struct{}       // a new retry was scheduled
	// tries counts this deliverer's failed tries per entry (the backoff);
	// localRefusals counts refusals Redis could not record.
	tries, localRefusals map[string]int
}

// NewDeliverer checks o and returns a Deliverer; call Run to start it.
func NewDeliverer(o Options) (*Deliverer, error) {
	switch {
	case o.Redis == nil:
		return nil, errors.New("ticket deliverer: no Redis client")
	case o.Sink == nil:
		return nil, errors.New("ticket deliverer: no sink")
	case o.Logger == nil || o.Metrics == nil:
		return nil, errors.New("ticket deliverer: logger and metrics are required")
	case o.Consumer == "" || strings.ContainsAny(o.Consumer, " \t\r\n"):
		return nil, fmt.Errorf("ticket deliverer: invalid consumer name %q", o.Consumer)
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Batch <= 0 {
		o.Batch = 1024
	}
	if o.SendBatch <= 0 {
		o.SendBatch = DefaultSendBatch
	}
	if o.SendLinger == 0 {
		o.SendLinger = DefaultSendLinger
	}
	if o.Block <= 0 || o.Block > time.Second {
		o.Block = time.Second
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = 60 * time.Second
	}
	if o.ClaimEvery <= 0 {
		o.ClaimEvery = 10 * time.Second
	}
	if o.BacklogEvery <= 0 {
		o.BacklogEvery = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(5*time.Second, o.BackoffMin)
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	// An entry waiting for its retry stays pending without being read:
	// below ClaimIdle/2 no other instance takes it over meanwhile.
	o.RetryMax = max(min(o.RetryMax, o.ClaimIdle/2), o.BackoffMin)
	if o.DeadLetterCodes == nil {
		o.DeadLetterCodes = DefaultDeadLetterCodes
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.DeadLetterMaxAge == 0 {
		o.DeadLetterMaxAge = DefaultDeadLetterMaxAge
	}
	dc := make(map[codes.Code]bool, len(o.DeadLetterCodes))
	for _, c := range o.DeadLetterCodes {
		if c == codes.OK {
			return nil, errors.New("ticket deliverer: OK is not a dead-letter code")
		}
		dc[c] = true
	}
	return &Deliverer{
		o: o, stream: streamKey(o.Keys), dead: deadKey(o.Keys), log: o.Logger.With("consumer", o.Consumer), m: o.Metrics,
		work: make(chan redis.XMessage, o.Batch), acks: make(chan string, 4*o.Batch), deadCodes: dc,
		inflight: make(map[string]struct{}), wake: make(chan struct{}, 1),
		tries: make(map[string]int), localRefusals: make(map[string]int),
	}, nil
}

// Backlog returns the number of tickets in the outbox not yet confirmed.
func (d *Deliverer) Backlog(ctx context.Context) (int64, error) {
	return backlog(ctx, d.o.Redis, d.o.Keys, d.o.Timeout)
}

// Run delivers until ctx ends; call it once. Entries being submitted when
// ctx ends stay pending in the group and are delivered again later: Run
// hands them back on its way out (see handBack), so another instance
// claims them on its next pass, or this consumer re-reads them after a
// restart. Delivery is at least once, and the sink deduplicates.
func (d *Deliverer) Run(ctx context.Context) {
	if !d.createGroup(ctx) {
		return
	}
	var workers, acker sync.WaitGroup
	acker.Add(1)
	go func() { defer acker.Done(); d.ackLoop(ctx) }()
	for range d.o.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); d.worker(ctx) }()
	}
	var aux sync.WaitGroup
	aux.Add(3)
	go func() { defer aux.Done(); d.backlogLoop(ctx) }()
	go func() { defer aux.Done(); d.claimLoop(ctx) }()
	go func() { defer aux.Done(); d.retryLoop(ctx) }()

	d.readLoop(ctx)

	aux.Wait()
	workers.Wait()
	close(d.acks) // every sender has stopped: the acker drains and returns
	acker.Wait()
	d.handBack(ctx)
}

// handBack runs when the deliverer stops: the entries this consumer still
// holds unconfirmed (read or claimed but not submitted, being submitted,
// or waiting for a retry) are marked idle for ClaimIdle, so the next claim
// of any running instance (every ClaimEvery) takes them over instead of
// waiting ClaimIdle for a consumer that has stopped. If this instance
// comes back first, it re-reads them itself. Delivery stays at least once.
func (d *Deliverer) handBack(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*d.o.Timeout)
	defer cancel()
	start, total := "-", 0
	for {
		pend, err := d.o.Redis.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: d.stream, Group: Group, Consumer: d.o.Consumer, Start: start, End: "+", Count: int64(d.o.Batch),
		}).Result()
		if err != nil {
			d.log.Warn("ticket deliverer: cannot hand back unconfirmed tickets; other instances take them after claim_idle", "err", err)
			return
		}
		if len(pend) == 0 {
			break
		}
		args := []any{"XCLAIM", d.stream, Group, d.o.Consumer, 0}
		for _, p := range pend {
			args = append(args, p.ID)
		}
		args = append(args, "IDLE", d.o.ClaimIdle.Milliseconds(), "JUSTID")
		if err := d.o.Redis.Do(ctx, args...).Err(); err != nil {
			d.log.Warn("ticket deliverer: cannot hand back unconfirmed tickets; other instances take them after claim_idle", "err", err)
			return
		}
		total += len(pend)
		start = "(" + pend[len(pend)-1].ID
	}
	if total > 0 {
		d.log.Info("ticket deliverer: unconfirmed tickets handed back for the other instances", "count", total)
	}
}

// createGroup creates the consumer group (and the stream) if missing,
// retrying while Redis is unreachable. It reports false if ctx ended.
func (d *Deliverer) createGroup(ctx context.Context) bool {
	b := d.newBackoff()
	for {
		cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
		err := d.o.Redis.XGroupCreateMkStream(cctx, d.stream, Group, "0").Err()
		cancel()
		if err == nil || strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return true
		}
		d.log.Warn("ticket deliverer: cannot create consumer group; retrying", "stream", d.stream, "group", Group, "err", err)
		if !b.sleep(ctx) {
			return false
		}
	}
}

// readLoop first re-reads this consumer's own pending entries (left by a
// previous life of this instance), then new entries, and hands them to
// the workers.
func (d *Deliverer) readLoop(ctx context.Context) {
	b := d.newBackoff()
	start := "0" // own pending history first
	for ctx.Err() == nil {
		id := start
		block := time.Duration(-1) // no BLOCK for the history
		if start == "" {
			id, block = ">", d.o.Block
		}
		cctx, cancel := context.WithTimeout(ctx, d.o.Block+d.o.Timeout)
		res, err := d.o.Redis.XReadGroup(cctx, &redis.XReadGroupArgs{
			Group: Group, Consumer: d.o.Consumer, Streams: []string{d.stream, id},
			Count: int64(d.o.Batch), Block: block,
		}).Result()
		cancel()
		if errors.Is(err, redis.Nil) { // BLOCK timed out: nothing new
			start = ""
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") { // stream or group deleted under us
				d.createGroup(ctx)
				continue
			}
			d.log.Warn("ticket deliverer: XREADGROUP failed; retrying", "stream", d.stream, "err", err)
			b.sleep(ctx)
			continue
		}
		b.reset()
		var msgs []redis.XMessage
		if len(res) > 0 {
			msgs = res[0].Messages
		}
		if start != "" {
			if len(msgs) == 0 {
				start = "" // history done: read new entries from now on
				continue
			}
			start = msgs[len(msgs)-1].ID
		}
		if _, ok := d.dispatch(ctx, msgs); !ok {
			return
		}
	}
}

// claimLoop takes over entries pending longer than ClaimIdle, at start and
// every ClaimEvery: those of consumers that died mid-delivery.
func (d *Deliverer) claimLoop(ctx context.Context) {
	t := time.NewTicker(d.o.ClaimEvery)
	defer t.Stop()
	for {
		if err := d.claim(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("ticket deliverer: claiming idle entries failed; will try again", "stream", d.stream, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Deliverer) claim(ctx context.Context) error {
	cursor := "0-0"
	for {
		cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
		msgs, next, err := d.o.Redis.XAutoClaim(cctx, &redis.XAutoClaimArgs{
			Stream: d.stream, Group: Group, Consumer: d.o.Consumer,
			MinIdle: d.o.ClaimIdle, Start: cursor, Count: int64(d.o.Batch),
		}).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("XAUTOCLAIM %s from %s: %w", d.stream, cursor, err)
		}
		n, ok := d.dispatch(ctx, msgs)
		if n > 0 {
			d.log.Info("ticket deliverer: claimed entries idle too long", "count", n, "min_idle", d.o.ClaimIdle)
		}
		if !ok {
			return ctx.Err()
		}
		if next == "0-0" || next == "" {
			return nil
		}
		cursor = next
	}
}

// dispatch hands msgs not already held to the workers and returns how many
// it handed; ok is false if ctx ended first.
func (d *Deliverer) dispatch(ctx context.Context, msgs []redis.XMessage) (n int, ok bool) {
	for _, msg := range msgs {
		d.mu.Lock()
		_, held := d.inflight[msg.ID]
		if !held {
			d.inflight[msg.ID] = struct{}{}
		}
		d.mu.Unlock()
		if held { // our own entry, claimed back: already on its way
			continue
		}
		select {
		case d.work <- msg:
			n++
		case <-ctx.Done():
			return n, false
		}
	}
	return n, true
}

func (d *Deliverer) release(id string) {
	d.mu.Lock()
	delete(d.inflight, id)
	d.mu.Unlock()
}

// deliver submits one entry once with Sink.Submit (see outcome).
func (d *Deliverer) deliver(ctx context.Context, msg redis.XMessage) {
	t, ok := d.prepare(ctx, msg)
	if !ok {
		return
	}
	dup, err := d.o.Sink.Submit(ctx, t)
	d.outcome(ctx, msg, t.GetTicketId(), dup, err)
}

// prepare decodes an entry before it is submitted. An entry that needs no
// submission — deleted while pending, undecodable (dead-lettered), or a
// stub superseded by its full ticket (acknowledged) — is dealt with here,
// and ok is false.
func (d *Deliverer) prepare(ctx context.Context, msg redis.XMessage) (t *hotlinev1.Ticket, ok bool) {
	if msg.Values == nil { // deleted while pending: already delivered by someone
		d.ack(ctx, msg.ID)
		return nil, false
	}
	t, err := decode(msg)
	if err != nil {
		d.deadLetter(ctx, msg, DeadUndecodable, 0, err.Error())
		return nil, false
	}
	if IsStub(t) && d.superseded(ctx, t.GetTicketId()) {
		d.log.Info("stub ticket superseded by the full ticket; not delivered", "ticket_id", t.GetTicketId(), "entry", msg.ID)
		d.ack(ctx, msg.ID)
		return nil, false
	}
	return t, true
}

// prepareRaw is prepare for the batch path, without decoding the ticket:
// the stored bytes go to the sink as they are, so only the fields the
// deliverer needs (the ID and whether it is a stub) are read from the wire
// (scanEncoded). An entry the scan cannot read goes through prepare, which
// dead-letters it as undecodable with the decoder's error. A ticket whose
// top-level fields are well-formed but whose content the sink's decoder
// refuses fails the whole SubmitTickets; deliverBatch then delivers the
// batch one by one, where prepare decodes every ticket in full.
func (d *Deliverer) prepareRaw(ctx context.Context, msg redis.XMessage) (Encoded, bool) {
	if msg.Values == nil { // deleted while pending: already delivered by someone
		d.ack(ctx, msg.ID)
		return Encoded{}, false
	}
	raw, _ := msg.Values[fieldTicket].(string)
	id, stub, ok := scanEncoded(raw)
	if sid, _ := msg.Values[fieldID].(string); !ok || sid != id || ValidateID(id) != nil {
		t, ok := d.prepare(ctx, msg) // dead-letters it with the reason
		if !ok {
			return Encoded{}, false
		}
		return Encoded{ID: t.GetTicketId(), Raw: raw}, true
	}
	if stub && d.superseded(ctx, id) {
		d.log.Info("stub ticket superseded by the full ticket; not delivered", "ticket_id", id, "entry", msg.ID)
		d.ack(ctx, msg.ID)
		return Encoded{}, false
	}
	return Encoded{ID: id, Raw: raw}, true
}

// Field numbers of hotlinev1.Ticket that scanEncoded reads.
const (
	ticketIDField  protowire.Number = 1
	endReasonField protowire.Number = 15
)

// scanEncoded reads the ticket ID and whether the ticket is a stub
// (IsStub) from an encoded hotlinev1.Ticket without decoding it: it walks
// the top-level fields, and, as the decoder does, the last occurrence of a
// field wins. ok is false if the top level is not well-formed or a field
// it reads has the wrong wire type.
func scanEncoded(raw string) (id string, stub, ok bool) {
	b := unsafe.Slice(unsafe.StringData(raw), len(raw)) // read only
	off := 0
	for off < len(b) {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return "", false, false
		}
		if num == ticketIDField || num == endReasonField {
			if typ != protowire.BytesType {
				return "", false, false
			}
			v, m := protowire.ConsumeBytes(b[off+n:])
			if m < 0 {
				return "", false, false
			}
			start := off + n + m - len(v)
			if num == ticketIDField {
				id = raw[start : start+len(v)]
			} else {
				stub = raw[start:start+len(v)] == EndReasonUnobserved
			}
			off += n + m
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return "", false, false
		}
		off += n + m
	}
	return id, stub, true
}

// worker delivers entries: one at a time with Sink.Submit, or, when the
// sink is a BatchSink and SendBatch > 1, up to SendBatch entries per
// SubmitBatch, waiting at most SendLinger for a batch to fill.
func (d *Deliverer) worker(ctx context.Context) {
	bs, _ := d.o.Sink.(BatchSink)
	var batch []redis.XMessage
	for {
		var msg redis.XMessage
		select {
		case <-ctx.Done():
			return
		case msg = <-d.work:
		}
		if bs == nil || d.o.SendBatch <= 1 || d.single.Load() {
			d.deliver(ctx, msg)
			continue
		}
		batch = append(batch[:0], msg)
		if !d.fill(ctx, &batch) {
			return // stopping: the entries held stay pending
		}
		d.deliverBatch(ctx, bs, batch)
	}
}

// fill adds entries from the work queue to batch until it holds SendBatch
// or SendLinger has passed; it reports false if ctx ended.
func (d *Deliverer) fill(ctx context.Context, batch *[]redis.XMessage) bool {
	for len(*batch) < d.o.SendBatch { // what is queued already
		select {
		case msg := <-d.work:
			*batch = append(*batch, msg)
			continue
		default:
		}
		break
	}
	if len(*batch) >= d.o.SendBatch || d.o.SendLinger <= 0 {
		return true
	}
	t := time.NewTimer(d.o.SendLinger)
	defer t.Stop()
	for len(*batch) < d.o.SendBatch {
		select {
		case msg := <-d.work:
			*batch = append(*batch, msg)
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// deliverBatch submits msgs in one SubmitBatch and settles each entry by
// its own result (see outcome), so one refused ticket is retried or
// dead-lettered alone. An error for the whole batch from an unreachable
// sink settles every entry as that error (retried); any other error for
// the whole batch, or a sink without SubmitTickets (Unimplemented, which
// also switches this deliverer to single submissions), delivers the
// entries one by one, so that a ticket is only ever dead-lettered for its
// own refusal.
func (d *Deliverer) deliverBatch(ctx context.Context, bs BatchSink, msgs []redis.XMessage) {
	enc := make([]Encoded, 0, len(msgs))
	held := make([]redis.XMessage, 0, len(msgs))
	for _, msg := range msgs {
		e, ok := d.prepareRaw(ctx, msg)
		if !ok {
			continue
		}
		enc = append(enc, e)
		held = append(held, msg)
	}
	if len(enc) == 0 {
		return
	}
	res, err := bs.SubmitBatch(ctx, enc)
	if err != nil && ctx.Err() != nil {
		return // stopping: the entries stay pending
	}
	if err != nil {
		code, unreachable := d.classify(err)
		if code == codes.Unimplemented && d.single.CompareAndSwap(false, true) {
			d.log.Warn("ticket sink does not implement SubmitTickets; submitting one ticket per call", "err", err)
		}
		if !unreachable {
			if code != codes.Unimplemented {
				d.log.Warn("ticket batch refused as a whole; submitting its tickets one by one", "tickets", len(held), "code", code.String(), "err", err)
			}
			for _, msg := range held {
				d.deliver(ctx, msg)
			}
			return
		}
	}
	for i, msg := range held {
		dup, e := false, err
		if err == nil {
			dup, e = res[i].Duplicate, res[i].Err
		}
		d.outcome(ctx, msg, enc[i].ID, dup, e)
	}
}

// outcome settles one submission of entry msg (ticket id). Confirmed, it
// queues its acknowledgement; refused for good (or too often, or for too
// long), it moves it to the dead letters; otherwise it schedules the next
// attempt after a capped backoff and returns, so that no ticket ever holds
// a worker while it waits.
func (d *Deliverer) outcome(ctx context.Context, msg redis.XMessage, id string, dup bool, err error) {
	if err != nil && status.Code(err) == codes.AlreadyExists {
		dup, err = true, nil // the sink has it (by its ID, the idempotency key)
	}
	if err == nil {
		result := metrics.TicketDelivered
		if dup {
			result = metrics.TicketDuplicate
		}
		d.m.Total.WithLabelValues(result).Inc()
		if at, ok := entryTime(msg.ID); ok {
			d.m.Delivery.Observe(time.Since(at).Seconds())
		}
		d.ack(ctx, msg.ID)
		return
	}
	if ctx.Err() != nil {
		return // stopping: the entry stays pending
	}
	code, unreachable := d.classify(err)
	if errors.Is(err, ErrRejected) || d.deadCodes[code] {
		d.deadLetter(ctx, msg, deadReasonOf(code), 0, err.Error())
		return
	}
	attempts := d.countAttempt(ctx, msg.ID, !unreachable)
	if d.o.MaxAttempts > 0 && attempts >= d.o.MaxAttempts {
		d.deadLetter(ctx, msg, DeadMaxAttempts, attempts,
			fmt.Sprintf("refused %d times, the last: %v", attempts, err))
		return
	}
	if at, ok := entryTime(msg.ID); ok && d.o.MaxAge > 0 && time.Since(at) >= d.o.MaxAge {
		d.deadLetter(ctx, msg, DeadMaxAge, attempts,
			fmt.Sprintf("not delivered within %s, the last error: %v", d.o.MaxAge, err))
		return
	}
	d.m.Total.WithLabelValues(metrics.TicketRetried).Inc()
	n := d.noteTry(msg.ID)
	lvl := slog.LevelDebug
	if n == 1 || n%10 == 0 {
		lvl = slog.LevelWarn
	}
	ceiling := d.o.RetryMax
	if unreachable {
		ceiling = d.o.BackoffMax // back as soon as the sink is
	}
	delay := d.retryDelay(n, ceiling)
	d.log.Log(ctx, lvl, "ticket not delivered; will retry", "ticket_id", id, "entry", msg.ID,
		"attempt", n, "refusals", attempts, "code", code.String(), "retry_in", delay, "err", err)
	d.scheduleRetry(msg, delay)
}

// superseded reports whether a full ticket has been enqueued for the ID of
// a stub; on a Redis error the stub is delivered (the full one follows it).
func (d *Deliverer) superseded(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	n, err := supersededScript.Run(ctx, d.o.Redis, []string{seenKey(d.o.Keys, id)}).Int()
	return err == nil && n == 1
}

// classify returns err's gRPC code and whether it means the sink could not
// be reached or asked for time (counts only towards MaxAge).
func (d *Deliverer) classify(err error) (codes.Code, bool) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded, true
	case errors.Is(err, context.Canceled):
		return codes.Canceled, true
	}
	c := status.Code(err)
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
		return c, true
	}
	return c, false
}

// countAttempt records one more try of entry in Redis (so that every
// instance and every restart sees the same count) and returns the number of
// refusals so far; refused tells whether this try counts as one. If Redis
// cannot be reached it counts in memory only.
func (d *Deliverer) countAttempt(ctx context.Context, entry string, refused bool) int {
	if !refused {
		cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
		defer cancel()
		n, err := d.o.Redis.HGet(cctx, attemptsKey(d.o.Keys), entry).Int()
		if err != nil {
			return 0
		}
		return n
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	n, err := d.o.Redis.HIncrBy(cctx, attemptsKey(d.o.Keys), entry, 1).Result()
	if err != nil {
		d.log.Warn("ticket deliverer: attempt not counted in Redis", "entry", entry, "err", err)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.localRefusals[entry]++
		return d.localRefusals[entry]
	}
	return int(n)
}

// noteTry counts a failed try of entry by this deliverer (for the backoff).
func (d *Deliverer) noteTry(entry string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tries[entry]++
	return d.tries[entry]
}

// retryDelay is BackoffMin doubled per failed try, capped at ceiling, with
// jitter: uniform in [delay/2, delay].
func (d *Deliverer) retryDelay(tries int, ceiling time.Duration) time.Duration {
	delay := d.o.BackoffMin
	for i := 1; i < tries && delay < ceiling; i++ {
		delay *= 2
	}
	delay = min(delay, ceiling)
	return delay/2 + rand.N(delay/2+1)
}

// scheduleRetry hands msg to the workers again after delay. The entry stays
// held (in flight) meanwhile, so neither the reader nor the claimer
// dispatches it twice.
func (d *Deliverer) scheduleRetry(msg redis.XMessage, delay time.Duration) {
	d.mu.Lock()
	heap.Push(&d.retries, retryItem{due: time.Now().Add(delay), msg: msg})
	d.m.Retrying.Set(float64(d.retries.Len()))
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// retryLoop dispatches entries whose retry is due until ctx ends. Entries
// still waiting then stay pending in the group.
func (d *Deliverer) retryLoop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		var due []redis.XMessage
		now := time.Now()
		for d.retries.Len() > 0 && !d.retries[0].due.After(now) {
			due = append(due, heap.Pop(&d.retries).(retryItem).msg)
		}
		next := time.Hour
		if d.retries.Len() > 0 {
			next = time.Until(d.retries[0].due)
		}
		d.m.Retrying.Set(float64(d.retries.Len()))
		d.mu.Unlock()
		for _, msg := range due {
			select {
			case d.work <- msg:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-t.C:
		}
	}
}

type retryItem struct {
	due time.Time
	msg redis.XMessage
}

// retryHeap orders retries by due time (container/heap).
type retryHeap []retryItem

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(retryItem)) }
func (h *retryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (d *Deliverer) ack(ctx context.Context, id string) {
	select {
	case d.acks <- id:
	case <-ctx.Done():
	}
}

// decode returns the entry's ticket, or why it cannot be delivered.
func decode(msg redis.XMessage) (*hotlinev1.Ticket, error) {
	raw, ok := msg.Values[fieldTicket].(string)
	if !ok {
		return nil, fmt.Errorf("entry %s has no field %q", msg.ID, fieldTicket)
	}
	t := &hotlinev1.Ticket{}
	if err := proto.Unmarshal([]byte(raw), t); err != nil {
		return nil, fmt.Errorf("entry %s: decode ticket: %w", msg.ID, err)
	}
	if err := ValidateID(t.GetTicketId()); err != nil {
		return nil, fmt.Errorf("entry %s: %w", msg.ID, err)
	}
	if id, _ := msg.Values[fieldID].(string); id != t.GetTicketId() {
		return nil, fmt.Errorf("entry %s: field %q is %q but the ticket's ID is %q", msg.ID, fieldID, id, t.GetTicketId())
	}
	return t, nil
}

// entryTime is the time Redis added the entry: its ID's milliseconds.
func entryTime(id string) (time.Time, bool) {
	ms, _, ok := strings.Cut(id, "-")
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// Dead-letter reasons: the "reason" field of a dead letter and the label of
// hotline_ticket_dead_letters_total. Besides these, a ticket refused for
// good carries its gRPC code in snake case ("invalid_argument",
// "permission_denied", ...; "rejected" for a non-gRPC ErrRejected).
const (
	DeadUndecodable = "undecodable"  // the outbox entry is not a valid ticket
	DeadMaxAttempts = "max_attempts" // refused Options.MaxAttempts times
	DeadMaxAge      = "max_age"      // not delivered within Options.MaxAge
)

// deadReasonOf names a permanent refusal by its gRPC code.
func deadReasonOf(c codes.Code) string {
	if c == codes.Unknown || c == codes.OK {
		return "rejected"
	}
	return snake(c.String())
}

// snake turns "InvalidArgument" into "invalid_argument".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// deadLetter moves msg to the dead-letter stream, with the reason, the
// error and the number of refusals, and removes it from the outbox, in one
// transaction; it retries until done or ctx ends (then the entry stays
// pending and is tried again later).
func (d *Deliverer) deadLetter(ctx context.Context, msg redis.XMessage, reason string, attempts int, detail string) {
	defer d.release(msg.ID)
	values := make([]any, 0, 2*len(msg.Values)+12)
	for k, v := range msg.Values {
		if k == fieldReason || k == fieldError || k == fieldEntry || k == fieldConsumer || k == fieldAttempts {
			continue // a requeued dead letter carries its old ones
		}
		values = append(values, k, v)
	}
	values = append(values, fieldReason, reason, fieldError, detail, fieldEntry, msg.ID,
		fieldConsumer, d.o.Consumer, fieldAttempts, strconv.Itoa(attempts))
	b := d.newBackoff()
	for {
		cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
		_, err := d.o.Redis.TxPipelined(cctx, func(p redis.Pipeliner) error {
			p.XAdd(cctx, &redis.XAddArgs{Stream: d.dead, Values: values})
			p.XAck(cctx, d.stream, Group, msg.ID)
			p.XDel(cctx, d.stream, msg.ID)
			p.HDel(cctx, attemptsKey(d.o.Keys), msg.ID)
			return nil
		})
		cancel()
		if err == nil {
			d.m.Total.WithLabelValues(metrics.TicketDeadLetter).Inc()
			d.m.DeadLetters.WithLabelValues(reason).Inc()
			d.forget(msg.ID)
			d.log.Error("ticket entry moved to dead letters", "entry", msg.ID, "dead_letters", d.dead,
				"ticket_id", msg.Values[fieldID], "reason", reason, "attempts", attempts, "err", detail)
			return
		}
		d.log.Warn("ticket deliverer: moving entry to dead letters failed; retrying", "entry", msg.ID, "err", err)
		if !b.sleep(ctx) {
			return
		}
	}
}

// forget drops what this deliverer counted about entry.
func (d *Deliverer) forget(entry string) {
	d.mu.Lock()
	delete(d.tries, entry)
	delete(d.localRefusals, entry)
	d.mu.Unlock()
}

// ackLoop acknowledges and deletes delivered entries in batches, each with
// a deadline of its own (Options.Timeout) that ctx does not cut short; when
// acks is closed (Run stopping) it acknowledges what it has left, so
// confirmed tickets are not delivered again.
func (d *Deliverer) ackLoop(ctx context.Context) {
	ids := make([]string, 0, d.o.Batch)
	b := d.newBackoff()
	for {
		if len(ids) == 0 {
			id, ok := <-d.acks
			if !ok {
				return
			}
			ids = append(ids, id)
		}
	fill:
		for len(ids) < cap(ids) {
			select {
			case id, ok := <-d.acks:
				if !ok {
					break fill
				}
				ids = append(ids, id)
			default:
				break fill
			}
		}
		// Each batch has its own deadline (ackBatch) and is not cut short
		// by ctx: a stop that comes while it is on its way would turn
		// tickets the sink confirmed into deliveries again.
		if err := d.ackBatch(context.WithoutCancel(ctx), ids); err != nil {
			if ctx.Err() != nil {
				d.log.Warn("ticket deliverer: final acknowledgement failed; those tickets will be delivered again", "count", len(ids), "err", err)
			} else {
				d.log.Warn("ticket deliverer: acknowledgement failed; retrying", "count", len(ids), "err", err)
				b.sleep(ctx)
				continue
			}
		}
		b.reset()
		for _, id := range ids {
			d.release(id)
		}
		ids = ids[:0]
	}
}

func (d *Deliverer) ackBatch(ctx context.Context, ids []string) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	_, err := d.o.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, d.stream, Group, ids...)
		p.XDel(ctx, d.stream, ids...)
		p.HDel(ctx, attemptsKey(d.o.Keys), ids...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("XACK+XDEL %d entries of %s: %w", len(ids), d.stream, err)
	}
	for _, id := range ids {
		d.forget(id)
	}
	return nil
}

func (d *Deliverer) backlogLoop(ctx context.Context) {
	t := time.NewTicker(d.o.BacklogEvery)
	defer t.Stop()
	for {
		n, err := d.Backlog(ctx)
		if err == nil {
			d.m.Backlog.Set(float64(n))
		} else if ctx.Err() == nil {
			d.log.Warn("ticket deliverer: backlog not refreshed", "err", err)
		}
		if d.o.DeadLetterMaxAge > 0 {
			if _, err := trimDead(ctx, d.o.Redis, d.o.Keys, d.o.Timeout, d.o.DeadLetterMaxAge); err != nil && ctx.Err() == nil {
				d.log.Warn("ticket deliverer: dead letters not trimmed", "err", err)
			}
		}
		if n, err := deadLen(ctx, d.o.Redis, d.o.Keys, d.o.Timeout); err == nil {
			d.m.DeadLetterBacklog.Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backoff is exponential backoff with jitter: each delay is uniform in
// [cur/2, cur], and cur doubles up to max.
type backoff struct{ cur, min, max time.Duration }

func (d *Deliverer) newBackoff() *backoff {
	return &backoff{cur: d.o.BackoffMin, min: d.o.BackoffMin, max: d.o.BackoffMax}
}

func (b *backoff) reset() { b.cur = b.min }

// sleep waits for the next delay; it reports false if ctx ended first.
func (b *backoff) sleep(ctx context.Context) bool {
	wait := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(2*b.cur, b.max)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Options returns the options in force, defaults filled in.
func (d *Deliverer) Options() Options { return d.o }
