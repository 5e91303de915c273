// Package callback keeps the hotline's call-back tasks: a call abandoned
// in the queue becomes a task to call the citizen back (the 2025 State
// Council guidance asks hotlines to call back missed calls), durable in
// Redis and shared by every gateway instance.
//
// There is one task per caller per day (the hotline's day, Asia/Shanghai),
// found through an index keyed by a hash of the day and the caller's
// canonical number, so a replayed event or two instances seeing the same
// abandoned call never make two tasks; a second abandoned call the same day
// adds an attempt to the task. Its ID is the day and a random part
// ("cb-20261126-5f0c3a9e1b7d2c48"): it reaches logs and desktops, so it
// never carries the citizen's number.
//
// Task lifecycle (every change is one Lua script on keys under one hash
// tag: atomic, and on Redis Cluster in one slot):
//
//	open --Claim(agent)--> claimed{agent, until} --Complete(agent)--> done
//	claimed --(claim lapses: ClaimTTL)--> open   (Sweep, or the next Claim)
//	done --(the citizen is missed again later that day)--> open
package callback

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
)

// State is a task's state. The names are stored in Redis and sent in the
// API: keep them.
type State string

const (
	Open    State = "open"
	Claimed State = "claimed"
	Done    State = "done"
)

// Errors. Those that refuse a request leave the task untouched.
var (
	ErrNotFound       = errors.New("call-back task not found")
	ErrAlreadyClaimed = errors.New("call-back task claimed by another agent")
	ErrAlreadyDone    = errors.New("call-back task already done")
	ErrNotClaimed     = errors.New("call-back task not claimed")
	ErrNotClaimant    = errors.New("call-back task claimed by another agent, not the one completing it")
	ErrInvalid        = errors.New("invalid argument")
)

// FieldError is a malformed argument; it wraps ErrInvalid and names the field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "call-back: " + e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Why a citizen was missed: the reason of a task's first and latest missed
// call. The names are stored in Redis and sent in the API: keep them.
const (
	// ReasonAbandoned: the caller hung up waiting in the queue or while
	// an agent's phone rang (a task stored without a reason is one).
	ReasonAbandoned = "abandoned"
	// ReasonShed: the gateway refused the call with congestion while
	// saturated (admission control, SIP 503); the citizen never got in.
	ReasonShed = "shed"
	// ReasonRequested: the waiting caller pressed the call-back key.
	ReasonRequested = "requested"
)

// Task is a call-back task.
type Task struct {
	ID  string
	Day string // "2026-11-26", the hotline's day of the first abandoned call
	// CallerNumber is the canonical number (number.Number.Digits) to call back.
	CallerNumber string
	Line         string
	// CallID and AbandonedAt are the day's first abandoned call;
	// LastCallID and LastAbandonedAt the latest; Attempts counts them.
	CallID          string
	AbandonedAt     time.Time
	LastCallID      string
	LastAbandonedAt time.Time
	Attempts        int
	// Reason is why the day's first missed call was missed (ReasonShed,
	// ReasonAbandoned, ReasonRequested; Add's default ReasonAbandoned);
	// LastReason the latest one's.
	Reason     string
	LastReason string
	// State is the effective state: a claim that has lapsed reads as Open.
	State State
	// ClaimedBy is the claiming agent; for an Open task whose claim lapsed,
	// the last claimant (who may still Complete it unless another agent
	// claims it first).
	ClaimedBy      string
	ClaimedAt      time.Time
	ClaimExpires   time.Time // zero unless State is Claimed
	OutboundCallID string    // the call-back call (Complete)
	Result         string    // the outcome given to Complete
	DoneAt         time.Time
}

// Proto returns the task as the API message.
func (t Task) Proto() *hotlinev1.CallbackTask {
	p := &hotlinev1.CallbackTask{
		CallbackId:     t.ID,
		CallerNumber:   t.CallerNumber,
		Line:           t.Line,
		CallId:         t.CallID,
		State:          string(t.State),
		OutboundCallId: t.OutboundCallID,
		Reason:         t.Reason,
		LastReason:     t.LastReason,
		Attempts:       int32(min(t.Attempts, 1<<30)),
	}
	if t.State != Open {
		p.ClaimedBy = t.ClaimedBy
	}
	if !t.AbandonedAt.IsZero() {
		p.AbandonedAt = timestamppb.New(t.AbandonedAt)
	}
	return p
}

// ProtoList converts tasks for ListCallbacksResponse.
func ProtoList(ts []Task) []*hotlinev1.CallbackTask {
	out := make([]*hotlinev1.CallbackTask, len(ts))
	for i, t := range ts {
		out[i] = t.Proto()
	}
	return out
}

// newTaskID returns a new task ID for day ("2026-11-26"):
// "cb-20261126-" and 16 random hex digits.
func newTaskID(day string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "cb-" + strings.ReplaceAll(day, "-", "") + "-" + hex.EncodeToString(b[:])
}

// Options configure a Store.
type Options struct {
	Redis   redis.UniversalClient
	Keys    store.Keys
	Logger  *slog.Logger
	Metrics *metrics.Outbound
	// Location decides the day of an abandoned call; default UTC+8
	// (Asia/Shanghai, which has no daylight saving).
	Location *time.Location
	// Now is the clock for claims and for "today"; default time.Now.
	Now func() time.Time
	// ClaimTTL is how long a claim holds before the task is open again;
	// default 30 minutes.
	ClaimTTL time.Duration
	// TTL is how long tasks are kept after their last change; default 30 days.
	TTL time.Duration
	// Timeout bounds each Redis round trip within the caller's context;
	// default 2 s.
	Timeout time.Duration
}

// Store is one instance's handle on the shared call-back tasks. Safe for
// concurrent use; any number of Stores may work on one Redis.
type Store struct {
	rdb      redis.UniversalClient
	keys     store.Keys
	log      *slog.Logger
	m        *metrics.Outbound
	loc      *time.Location
	now      func() time.Time
	claimTTL time.Duration
	ttl      time.Duration
	timeout  time.Duration
}

// New returns a Store.
func New(o Options) (*Store, error) {
	if o.Redis == nil || o.Logger == nil || o.Metrics == nil {
		return nil, errors.New("callback store: Redis, Logger and Metrics are required")
	}
	if o.Location == nil {
		o.Location = time.FixedZone("CST", 8*3600)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 30 * time.Minute
	}
	if o.TTL <= 0 {
		o.TTL = 30 * 24 * time.Hour
	}
	if o.TTL < time.Second || o.ClaimTTL < time.Millisecond {
		return nil, fmt.Errorf("callback store: TTL %v and ClaimTTL %v too short", o.TTL, o.ClaimTTL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	return &Store{
		rdb: o.Redis, keys: o.Keys, log: o.Logger, m: o.Metrics, loc: o.Location, now: o.Now,
		claimTTL: o.ClaimTTL, ttl: o.TTL, timeout: o.Timeout,
	}, nil
}

func (s *Store) taskKey(id string) string  { return s.keys.Key("cb", "task", id) }
func (s *Store) callsKey(id string) string { return s.keys.Key("cb", "calls", id) }
func (s *Store) dayKey(day string) string  { return s.keys.Key("cb", "day", day) }
func (s *Store) claimsKey() string         { return s.keys.Key("cb", "claims") }

// whoKey is the index of a caller's task on day; the number is hashed so
// that no key name carries it.
func (s *Store) whoKey(day, caller string) string {
	h := sha256.Sum256([]byte(day + "|" + caller))
	return s.keys.Key("cb", "who", day, hex.EncodeToString(h[:16]))
}

func (s *Store) ttlSeconds() int64 { return int64(s.ttl / time.Second) }

// Day returns the hotline's day ("2026-11-26") of t.
func (s *Store) Day(t time.Time) string { return t.In(s.loc).Format(time.DateOnly) }

// Add records a missed call (abandoned, refused with congestion, or a
// requested call-back: t.Reason, default ReasonAbandoned) of
// t.CallerNumber (canonical digits) on t.Line. The first abandoned call of a caller on a day (of AbandonedAt,
// default now) creates the task (created true); later ones add an attempt
// and update the last call; a call ID already recorded (a replay) changes
// nothing. A done task is opened again by a call abandoned after its
// completion. Returns the task as stored.
func (s *Store) Add(ctx context.Context, t Task) (Task, bool, error) {
	if err := checkDigits("caller_number", t.CallerNumber); err != nil {
		return Task{}, false, err
	}
	if err := checkText("line", t.Line, 64, true); err != nil {
		return Task{}, false, err
	}
	if err := checkText("call_id", t.CallID, 256, true); err != nil {
		return Task{}, false, err
	}
	reason := t.Reason
	switch reason {
	case "":
		reason = ReasonAbandoned
	case ReasonAbandoned, ReasonShed, ReasonRequested:
	default:
		return Task{}, false, &FieldError{"reason", fmt.Sprintf("%q is not %s, %s or %s", reason, ReasonAbandoned, ReasonShed, ReasonRequested)}
	}
	at := t.AbandonedAt
	if at.IsZero() {
		at = s.now()
	}
	day := s.Day(at)
	keys := []string{s.whoKey(day, t.CallerNumber), s.dayKey(day)}
	code, _, task, err := s.run(ctx, addScript, keys, s.keys.Key("cb")+":", newTaskID(day), day, t.CallerNumber, t.Line, t.CallID, at.UnixMilli(), s.ttlSeconds(), reason)
	if err != nil {
		return Task{}, false, fmt.Errorf("add call-back task for call %s on %s: %w", t.CallID, day, err)
	}
	id := task.ID
	switch code {
	case "created":
		s.m.Callback("created")
		s.log.Info("call-back task created", "callback_id", id, "line", t.Line, "call_id", t.CallID, "reason", reason)
		return task, true, nil
	case "reopened":
		s.log.Info("call-back task reopened: caller missed again after call-back", "callback_id", id, "call_id", t.CallID)
	}
	return task, false, nil
}

// Get returns the task id.
func (s *Store) Get(ctx context.Context, id string) (Task, error) {
	if err := checkID(id); err != nil {
		return Task{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	m, err := s.rdb.HGetAll(ctx, s.taskKey(id)).Result()
	if err != nil {
		return Task{}, fmt.Errorf("get call-back task %s: %w", id, err)
	}
	if len(m) == 0 {
		return Task{}, fmt.Errorf("get call-back task %s: %w", id, ErrNotFound)
	}
	return s.fromMap(m), nil
}

// maxList bounds the tasks List returns for one day.
const maxList = 10000

// List returns the tasks of day ("2026-11-26"; "" for today), in the order
// of their first abandoned call; with openOnly only the open ones
// (including those whose claim lapsed).
func (s *Store) List(ctx context.Context, day string, openOnly bool) ([]Task, error) {
	if day == "" {
		day = s.Day(s.now())
	} else if d, err := time.Parse(time.DateOnly, day); err != nil || d.Format(time.DateOnly) != day {
		return nil, &FieldError{"day", fmt.Sprintf("%q is not a date like 2026-11-26", day)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ids, err := s.rdb.ZRange(ctx, s.dayKey(day), 0, maxList-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list call-back tasks of %s: %w", day, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.taskKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("list call-back tasks of %s: read %d tasks: %w", day, len(ids), err)
	}
	out := make([]Task, 0, len(ids))
	for _, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue // expired between the two reads
		}
		t := s.fromMap(m)
		if openOnly && t.State != Open {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// Claim gives task id to agent agentExt until ClaimTTL from now. Claiming
// a task one already holds extends the claim (do it again right before
// calling the citizen). ErrAlreadyClaimed if another agent holds a live
// claim, ErrAlreadyDone if done, ErrNotFound if unknown.
func (s *Store) Claim(ctx context.Context, id, agentExt string) (Task, error) {
	if err := checkID(id); err != nil {
		return Task{}, err
	}
	if err := checkExt(agentExt); err != nil {
		return Task{}, err
	}
	now := s.now()
	code, detail, task, err := s.run(ctx, claimScript, []string{s.taskKey(id), s.claimsKey()},
		id, agentExt, now.UnixMilli(), now.Add(s.claimTTL).UnixMilli(), s.ttlSeconds())
	if err != nil {
		return Task{}, fmt.Errorf("claim call-back task %s for agent %s: %w", id, agentExt, err)
	}
	switch code {
	case "claimed_now":
		if detail == "1" {
			s.m.Callback("expired")
		}
		s.m.Callback("claimed")
		return task, nil
	case "extended":
		return task, nil
	case "claimed":
		return Task{}, fmt.Errorf("claim call-back task %s for agent %s: held by agent %s until %s: %w",
			id, agentExt, detail, task.ClaimExpires.In(s.loc).Format(time.TimeOnly), ErrAlreadyClaimed)
	case "done":
		return Task{}, fmt.Errorf("claim call-back task %s: %w", id, ErrAlreadyDone)
	case "not_found":
		return Task{}, fmt.Errorf("claim call-back task %s: %w", id, ErrNotFound)
	}
	return Task{}, fmt.Errorf("claim call-back task %s: unexpected script reply %q", id, code)
}

// Complete closes task id: the agent who claimed it called the citizen on
// outboundCallID with result (e.g. the Originate result "connected").
// Only the claiming agent may complete; a lapsed claim still counts unless
// another agent has claimed the task since. Completing again with the same
// agent and call is a no-op (replays).
func (s *Store) Complete(ctx context.Context, id, agentExt, outboundCallID, result string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := checkExt(agentExt); err != nil {
		return err
	}
	if err := checkText("outbound_call_id", outboundCallID, 256, true); err != nil {
		return err
	}
	if err := checkText("result", result, 64, true); err != nil {
		return err
	}
	code, detail, _, err := s.run(ctx, completeScript, []string{s.taskKey(id), s.claimsKey()},
		id, agentExt, outboundCallID, result, s.now().UnixMilli(), s.ttlSeconds())
	if err != nil {
		return fmt.Errorf("complete call-back task %s by agent %s: %w", id, agentExt, err)
	}
	switch code {
	case "completed":
		s.m.Callback("completed")
		return nil
	case "replay":
		return nil
	case "done":
		return fmt.Errorf("complete call-back task %s by agent %s: completed by agent %s: %w", id, agentExt, detail, ErrAlreadyDone)
	case "not_claimed":
		return fmt.Errorf("complete call-back task %s by agent %s: %w", id, agentExt, ErrNotClaimed)
	case "not_claimant":
		return fmt.Errorf("complete call-back task %s by agent %s: claimed by agent %s: %w", id, agentExt, detail, ErrNotClaimant)
	case "not_found":
		return fmt.Errorf("complete call-back task %s: %w", id, ErrNotFound)
	}
	return fmt.Errorf("complete call-back task %s: unexpected script reply %q", id, code)
}

// Sweep opens again the tasks whose claim has lapsed (at most limit per
// call; 0 = 1000) and counts them as expired. Run it periodically on any
// number of instances (each lapse is counted once); reads already show
// lapsed claims as open without it.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := sweepScript.Run(ctx, s.rdb, []string{s.claimsKey()}, s.taskKey(""), s.now().UnixMilli(), limit).Int()
	if err != nil {
		return 0, fmt.Errorf("sweep lapsed call-back claims: %w", err)
	}
	for range n {
		s.m.Callback("expired")
	}
	if n > 0 {
		s.log.Info("call-back claims lapsed; tasks open again", "count", n)
	}
	return n, nil
}

func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) (code, detail string, t Task, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := sc.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return "", "", Task{}, err
	}
	if len(raw) != 3 {
		return "", "", Task{}, fmt.Errorf("unexpected script reply of %d elements", len(raw))
	}
	code, _ = raw[0].(string)
	detail, _ = raw[1].(string)
	flat, _ := raw[2].([]any)
	if len(flat) > 0 {
		m := make(map[string]string, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			k, _ := flat[i].(string)
			v, _ := flat[i+1].(string)
			m[k] = v
		}
		t = s.fromMap(m)
	}
	return code, detail, t, nil
}

func (s *Store) fromMap(m map[string]string) Task {
	t := Task{
		ID:              m["id"],
		Day:             m["day"],
		CallerNumber:    m["caller"],
		Line:            m["line"],
		CallID:          m["call"],
		AbandonedAt:     millis(m["abandoned"]),
		LastCallID:      m["last_call"],
		LastAbandonedAt: millis(m["last_abandoned"]),
		State:           State(m["state"]),
		ClaimedBy:       m["claimed_by"],
		ClaimedAt:       millis(m["claimed_at"]),
		ClaimExpires:    millis(m["claim_until"]),
		OutboundCallID:  m["outbound_call"],
		Result:          m["result"],
		DoneAt:          millis(m["done_at"]),
		Reason:          m["reason"],
		LastReason:      m["last_reason"],
	}
	if t.Reason == "" { // stored before tasks had a reason
		t.Reason = ReasonAbandoned
	}
	if t.LastReason == "" {
		t.LastReason = t.Reason
	}
	t.Attempts, _ = strconv.Atoi(m["attempts"])
	if t.State == Claimed && !t.ClaimExpires.After(s.now()) {
		t.State = Open
	}
	if t.State != Claimed {
		t.ClaimExpires = time.Time{}
	}
	return t
}

func millis(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func checkDigits(field, s string) error {
	if len(s) < 3 || len(s) > 15 || strings.Trim(s, "0123456789") != "" {
		return &FieldError{field, "must be 3-15 digits (the canonical number)"}
	}
	return nil
}

func checkExt(ext string) error {
	if len(ext) < 2 || len(ext) > 8 || strings.Trim(ext, "0123456789") != "" {
		return &FieldError{"agent_extension", fmt.Sprintf("%q must be 2-8 digits", ext)}
	}
	return nil
}

// checkText refuses empty (if required), over-long and control characters.
func checkText(field, s string, max int, required bool) error {
	if required && s == "" {
		return &FieldError{field, "required"}
	}
	if len(s) > max {
		return &FieldError{field, fmt.Sprintf("at most %d bytes", max)}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return &FieldError{field, "control character"}
		}
	}
	return nil
}

// checkID accepts "cb-YYYYMMDD-<3-15 digits>".
func checkID(id string) error {
	bad := &FieldError{"callback_id", fmt.Sprintf("%q is not like cb-20261126-5f0c3a9e1b7d2c48", id)}
	rest, ok := strings.CutPrefix(id, "cb-")
	if !ok || len(rest) < 12 || rest[8] != '-' {
		return bad
	}
	if _, err := time.Parse("20060102", rest[:8]); err != nil {
		return bad
	}
	tail := rest[9:]
	if len(tail) == 16 && strings.Trim(tail, "0123456789abcdef") == "" {
		return nil
	}
	// Tasks made before IDs were random carry the caller's digits; they
	// expire within the store's TTL.
	if checkDigits("callback_id", tail) != nil {
		return bad
	}
	return nil
}
