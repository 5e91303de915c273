// Package count keeps the hotline's call counts durably in Redis, per hour,
// per day and per month in the hotline's time zone, per line, and exactly once per call:
// every increment carries the call ID and the kind of count, and a Redis
// script applies it only if that pair was never applied before. Counts are
// queued in memory while Redis is unreachable (bounded, overflow counted)
// and applied when it returns.
package count

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/internal/backoff"
	"github.com/hotline12345/hotline-gw/internal/journal"
	"github.com/hotline12345/hotline-gw/metrics"
)

// Kind is what is counted. The names are stored in Redis: keep them.
type Kind string

const (
	Inbound         Kind = "inbound"  // a citizen's call entered a line
	Outbound        Kind = "outbound" // the hotline called a citizen
	From110         Kind = "from110"  // 110 transferred a call to 12345 (also counted inbound)
	Rejected        Kind = "rejected" // unknown dialled number (line "unknown")
	Answered        Kind = "answered" // answered by an agent; Value = wait in ms
	AnsweredTarget  Kind = "answered_target"
	AbandonGreeting Kind = "abandoned_greeting" // Value = wait in ms
	AbandonQueue    Kind = "abandoned_queue"
	AbandonRinging  Kind = "abandoned_ringing"
	Overflow        Kind = "overflow"
	Talk            Kind = "talk" // Value = talk time in ms
	TransferTo110   Kind = "transfer_to110"
	Satisfied       Kind = "satisfied"
	Unsatisfied     Kind = "unsatisfied"
	SurveyNoAnswer  Kind = "survey_no_answer"
	// Shed: refused with congestion because the gateway was saturated
	// (admission control, or an answer that kept failing); also counted
	// inbound, an outcome beside answered, abandoned, overflow and
	// callback_requested.
	Shed Kind = "shed"
	// CallbackRequested: the caller pressed the call-back key in the
	// queue; an outcome beside answered, abandoned and overflow.
	CallbackRequested Kind = "callback_requested"
	// The agent's disposition of an answered call (one per call, counted
	// when its ticket is written): 当即答复, 网络转办, to 110, consultation.
	DispositionOnSpot       Kind = "disposition_on_spot"
	DispositionForwarded    Kind = "disposition_forwarded"
	DispositionTo110        Kind = "disposition_to110"
	DispositionConsultation Kind = "disposition_consultation"
	// The citizen's verdict in a follow-up call (回访), one per follow-up
	// call, counted when its ticket is written.
	FollowUpSatisfied    Kind = "followup_satisfied"
	FollowUpBasically    Kind = "followup_basically"
	FollowUpDissatisfied Kind = "followup_dissatisfied"
)

// UnknownLine is the line recorded for rejected calls.
const UnknownLine = "unknown"

// dedupTTL is how long a (call, kind) pair is remembered; replays older than
// this would count again, and no event is replayed that late.
const dedupTTL = 8 * 24 * time.Hour

// Op is one increment: it adds 1 to "<kind>:<line>" (and Value to
// "<kind>_ms:<line>" when Value is set) in the hour, day and month of At.
type Op struct {
	CallID string
	Kind   Kind
	Line   string
	At     time.Time // the call's entry time: decides the day and month
	Value  int64     // milliseconds, for kinds that carry a duration
}

// applyScript applies one op exactly once to every period's hash.
// KEYS: once, then the period hashes (day, month, hour).
// ARGV: ttl seconds, field, value field, value.
var applyScript = redis.NewScript(`
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  for i = 2, #KEYS do
    redis.call('HINCRBY', KEYS[i], ARGV[2], 1)
    if ARGV[3] ~= '' then
      redis.call('HINCRBY', KEYS[i], ARGV[3], ARGV[4])
    end
  end
  return 1
end
return 0
`)

// HourLayout names an hour's hash: the day and the hour of the day in the
// hotline's time zone, "2023-01-10T09".
const HourLayout = "2006-01-02T15"

// Counter applies ops to Redis from one goroutine (Run) that owns the
// pending queue.
type Counter struct {
	rdb     redis.UniversalClient
	keys    store.Keys
	loc     *time.Location
	log     *slog.Logger
	m       *metrics.Calls
	pending chan Op
	timeout time.Duration
	j       *journal.Journal

	mu       sync.Mutex
	flushed  *sync.Cond
	inFlight int
}

// Options configure a Counter.
type Options struct {
	Redis        redis.UniversalClient
	Keys         store.Keys
	Location     *time.Location
	Logger       *slog.Logger
	Metrics      *metrics.Calls
	PendingLimit int           // ops held while Redis is unreachable
	Timeout      time.Duration // per Redis round trip
	// Journal keeps every op on local disk until Redis has it (spool.dir),
	// so a SIGKILL during a Redis outage loses no count; nil: memory only.
	Journal *journal.Journal
}

// New returns a Counter; call Run to start applying.
func New(o Options) *Counter {
	if o.PendingLimit <= 0 {
		o.PendingLimit = store.DefaultPendingLimit
	}
	if o.Timeout <= 0 {
		o.Timeout = store.DefaultTimeout
	}
	c := &Counter{
		rdb: o.Redis, keys: o.Keys, loc: o.Location, log: o.Logger, m: o.Metrics,
		pending: make(chan Op, o.PendingLimit), timeout: o.Timeout, j: o.Journal,
	}
	c.flushed = sync.NewCond(&c.mu)
	return c
}

// Add queues op without blocking. If the queue is full (Redis down for
// longer than the queue holds) the op is dropped, counted and logged.
func (c *Counter) Add(op Op) {
	if op.At.IsZero() {
		op.At = time.Now()
	}
	c.journal(op)
	c.queue(op)
}

// journal keeps op on local disk until Redis has it.
func (c *Counter) journal(op Op) {
	if c.j == nil {
		return
	}
	b, err := json.Marshal(op)
	if err == nil {
		err = c.j.Add(journalKey(op), b)
	}
	if err != nil {
		c.log.Error("count not journaled: lost if the gateway dies before Redis has it", "call_id", op.CallID, "kind", op.Kind, "err", err)
	}
}

// Replay queues the ops a previous process left in the journal
// (journal.Open); call it before Run. Applying an op twice counts it once.
func (c *Counter) Replay(recs []journal.Record) {
	for _, r := range recs {
		var op Op
		if err := json.Unmarshal(r.Data, &op); err != nil || op.CallID == "" {
			c.log.Error("journaled count undecodable; dropped", "key", r.Key, "err", err)
			if c.j != nil {
				_ = c.j.Done(r.Key)
			}
			continue
		}
		c.queue(op)
	}
	if len(recs) > 0 {
		c.log.Info("counts from the journal of a previous process queued again", "counts", len(recs))
	}
}

func journalKey(op Op) string { return op.CallID + "/" + string(op.Kind) }

func (c *Counter) queue(op Op) {
	c.mu.Lock()
	c.inFlight++
	c.mu.Unlock()
	select {
	case c.pending <- op:
		c.m.CountPending.Inc()
	default:
		c.done(1)
		c.m.CountDropped.Inc()
		c.log.Error("count queue full: count dropped", "call_id", op.CallID, "kind", op.Kind, "line", op.Line)
	}
}

func (c *Counter) done(n int) {
	c.mu.Lock()
	c.inFlight -= n
	if c.inFlight == 0 {
		c.flushed.Broadcast()
	}
	c.mu.Unlock()
}

// Flush waits until every op added so far is applied, or ctx ends.
func (c *Counter) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.flushed.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.inFlight > 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("count flush: %d counts not yet in Redis: %w", c.inFlight, ctx.Err())
		}
		c.flushed.Wait()
	}
	return nil
}

// Run applies queued ops in batches until ctx ends, retrying with backoff
// while Redis is unreachable. Ops still queued when ctx ends stay unapplied;
// call Flush before cancelling to drain them.
func (c *Counter) Run(ctx context.Context) {
	batch := make([]Op, 0, 128)
	// Doubling from 50ms while below 2s: the last delay is 3.2s.
	retry := backoff.New(50*time.Millisecond, 3200*time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			return
		case op := <-c.pending:
			batch = append(batch[:0], op)
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case op := <-c.pending:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		for {
			err := c.apply(ctx, batch)
			if err == nil {
				retry.Reset()
				break
			}
			c.m.CountRetries.Inc()
			c.log.Warn("counts not applied, Redis unreachable; retrying", "pending", len(c.pending)+len(batch), "err", err)
			if !retry.Sleep(ctx) {
				return
			}
		}
		c.m.CountPending.Sub(float64(len(batch)))
		if c.j != nil {
			keys := make([]string, len(batch))
			for i, op := range batch {
				keys[i] = journalKey(op)
			}
			if err := c.j.Done(keys...); err != nil {
				c.log.Warn("journal: counts not marked done (replayed at start; counted once anyway)", "err", err)
			}
		}
		c.done(len(batch))
	}
}

// apply runs applyScript for each op of batch in one pipeline, by its SHA
// (EVALSHA: the script's text is not sent with every count). Ops that
// Redis answers NOSCRIPT (a restarted or flushed Redis, a new Cluster
// node) are applied again after SCRIPT LOAD; an op is counted once anyway.
func (c *Counter) apply(ctx context.Context, batch []Op) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	again, err := c.applySha(ctx, batch)
	if err != nil || len(again) == 0 {
		return err
	}
	if err := applyScript.Load(ctx, c.rdb).Err(); err != nil {
		return fmt.Errorf("apply counts: SCRIPT LOAD: %w", err)
	}
	if again, err = c.applySha(ctx, again); err != nil {
		return err
	}
	if len(again) > 0 {
		return fmt.Errorf("apply %d counts: Redis answers NOSCRIPT after SCRIPT LOAD", len(again))
	}
	return nil
}

// applySha applies batch with EVALSHA and returns the ops Redis did not
// know the script for.
func (c *Counter) applySha(ctx context.Context, batch []Op) (noScript []Op, err error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, op := range batch {
		cmds[i] = c.evalSha(ctx, pipe, op)
	}
	_, _ = pipe.Exec(ctx) // each command's own error is read below
	for i, cmd := range cmds {
		n, err := cmd.Int()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			noScript = append(noScript, batch[i])
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("apply count %s of call %s: %w", batch[i].Kind, batch[i].CallID, err)
		}
		if n == 1 {
			c.observe(batch[i])
		}
	}
	return noScript, nil
}

// evalSha queues op's applyScript, by its SHA, in pipe.
func (c *Counter) evalSha(ctx context.Context, pipe redis.Pipeliner, op Op) *redis.Cmd {
	at := op.At.In(c.loc)
	field := string(op.Kind) + ":" + op.Line
	var vfield, v string
	if op.Value != 0 {
		vfield, v = string(op.Kind)+"_ms:"+op.Line, strconv.FormatInt(op.Value, 10)
	}
	keys := []string{
		c.keys.Key("once", op.CallID, string(op.Kind)),
		c.keys.Key("count", "day", at.Format(time.DateOnly)),
		c.keys.Key("count", "month", at.Format("2006-01")),
		c.keys.Key("count", "hour", at.Format(HourLayout)),
	}
	return applyScript.EvalSha(ctx, pipe, keys, int(dedupTTL/time.Second), field, vfield, v)
}

// Redis is the client the Counter applies its ops with: a caller's
// pipeline on the same client may carry ops (Pipe).
func (c *Counter) Redis() redis.UniversalClient { return c.rdb }

// InPipe is a call's ops riding in a caller's pipeline (Pipe); Done reads
// their replies once the pipeline ran.
type InPipe struct {
	c    *Counter
	ops  []Op
	cmds []*redis.Cmd
}

// Pipe journals ops (as Add) and queues them in pipe, a pipeline on the
// Counter's own client (Redis), so that a call's counts go in the round
// trip of the step that makes them rather than in a batch of their own.
// Call Done after the pipeline ran, whatever its error: ops Redis applied
// are done; every other op (NOSCRIPT, a timeout, Redis down) goes to the
// Counter's queue as Add's do, still journaled, so none is lost or
// counted twice (applyScript counts a (call, kind) once).
func (c *Counter) Pipe(ctx context.Context, pipe redis.Pipeliner, ops ...Op) *InPipe {
	p := &InPipe{c: c, ops: make([]Op, 0, len(ops)), cmds: make([]*redis.Cmd, 0, len(ops))}
	for _, op := range ops {
		if op.At.IsZero() {
			op.At = time.Now()
		}
		c.journal(op)
		c.mu.Lock()
		c.inFlight++
		c.mu.Unlock()
		p.ops = append(p.ops, op)
		p.cmds = append(p.cmds, c.evalSha(ctx, pipe, op))
	}
	return p
}

// Done reads the replies of the ops after their pipeline ran (see Pipe).
func (p *InPipe) Done() {
	if p == nil {
		return
	}
	c := p.c
	var keys []string
	for i, cmd := range p.cmds {
		op := p.ops[i]
		n, err := cmd.Int()
		if err != nil {
			// Not applied, or not known to be: the batcher applies it
			// (once, whatever happened here).
			c.log.Debug("count in a step's pipeline not applied; queued", "call_id", op.CallID, "kind", op.Kind, "err", err)
			c.queue(op)
			c.done(1)
			continue
		}
		if n == 1 {
			c.observe(op)
		}
		keys = append(keys, journalKey(op))
		c.done(1)
	}
	if c.j != nil && len(keys) > 0 {
		if err := c.j.Done(keys...); err != nil {
			c.log.Warn("journal: counts not marked done (replayed at start; counted once anyway)", "err", err)
		}
	}
}

// observe mirrors a newly applied count in Prometheus, so the metrics too
// count each call once however many instances saw it.
func (c *Counter) observe(op Op) {
	switch op.Kind {
	case Inbound, Outbound:
		c.m.Calls.WithLabelValues(string(op.Kind), op.Line).Inc()
	case Answered:
		c.m.Answered.WithLabelValues(op.Line).Inc()
	case AnsweredTarget:
		c.m.AnsweredWithinTarget.WithLabelValues(op.Line).Inc()
	case AbandonGreeting, AbandonQueue, AbandonRinging:
		c.m.Abandoned.WithLabelValues(op.Line, string(op.Kind)[len("abandoned_"):]).Inc()
	case Rejected:
		c.m.Rejected.Inc()
	}
}

// Limits returns the pending limit and the per-round-trip timeout in
// force, defaults filled in.
func (c *Counter) Limits() (pendingLimit int, timeout time.Duration) {
	return cap(c.pending), c.timeout
}
