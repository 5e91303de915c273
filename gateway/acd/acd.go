// Package acd is the hotline's automatic call distribution: the pool of
// agents, the queues of waiting calls and the events sent to agents'
// desktops, shared by every gateway instance through Redis.
//
// Every state change is one Lua script on keys that share one hash tag, so
// it is atomic and works on Redis Cluster. The hot operation is Claim: it
// hands the longest-idle ready agent of a skill to a call, but only if the
// call is among the first K waiting calls of that skill (K = ready agents),
// and removes the agent from all its skill sets in the same step, so no two
// instances ever offer one agent two calls and no instance jumps the queue.
//
// Agent lifecycle (see State):
//
//	logged_out --Login--> paused{login} --SetReady--> ready --Claim--> ringing{call}
//	ringing --Answered--> on_call --Release(completed)--> wrap_up --(wrap-up over)--> ready
//	ringing --Release(missed)--> paused{missed_call}
//	ringing --Release(cancelled)--> ready (keeps its idle-since: it did no work)
//
// Timestamps that decide order (idle-since, wrap-up end) come from the Redis
// server's clock, so instances with skewed clocks still agree. The entry
// time of a waiting call is given by the caller of Enqueue.
package acd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/internal/randid"
	"github.com/hotline12345/hotline-gw/metrics"
)

// State is an agent's state. The names are stored in Redis: keep them.
type State string

const (
	LoggedOut State = "logged_out"
	Ready     State = "ready"
	Paused    State = "paused"
	Ringing   State = "ringing" // offered a call (CallID)
	OnCall    State = "on_call" // talking on CallID
	WrapUp    State = "wrap_up" // after a call, until WrapUpEnds
)

// Proto returns the state as the API enum.
func (s State) Proto() hotlinev1.AgentState {
	switch s {
	case LoggedOut:
		return hotlinev1.AgentState_AGENT_STATE_LOGGED_OUT
	case Ready:
		return hotlinev1.AgentState_AGENT_STATE_READY
	case Paused:
		return hotlinev1.AgentState_AGENT_STATE_PAUSED
	case Ringing:
		return hotlinev1.AgentState_AGENT_STATE_RINGING
	case OnCall:
		return hotlinev1.AgentState_AGENT_STATE_ON_CALL
	case WrapUp:
		return hotlinev1.AgentState_AGENT_STATE_WRAP_UP
	}
	return hotlinev1.AgentState_AGENT_STATE_UNSPECIFIED
}

// Pause reasons set by the pool itself.
const (
	ReasonLogin      = "login"       // just logged in: not offered calls until SetReady
	ReasonMissedCall = "missed_call" // did not answer an offered call
)

// Outcome is how an agent's part in a call ended (Release).
type Outcome string

const (
	// Completed: the agent talked; wrap-up, then ready.
	Completed Outcome = "completed"
	// Missed: the agent's phone did not answer or was busy; the agent is
	// paused with reason missed_call and must set ready again.
	Missed Outcome = "missed"
	// Cancelled: the caller left (or the call went elsewhere) while the
	// agent's phone rang; the agent is ready again at once and keeps its
	// place in the longest-idle order.
	Cancelled Outcome = "cancelled"
)

// Agent is a snapshot of one agent.
type Agent struct {
	Extension  string
	Skills     []string
	State      State
	Reason     string // pause reason
	CallID     string // ringing, on_call, and the call just ended during wrap_up
	Since      time.Time
	IdleSince  time.Time // orders ready agents: the earliest is offered first
	WrapUp     time.Duration
	WrapUpEnds time.Time // zero unless State is WrapUp
	SessionID  string
}

// Endpoint is the Asterisk endpoint of the agent's phone.
func (a Agent) Endpoint() string { return "PJSIP/agent" + a.Extension }

// Proto returns the agent as the API message.
func (a Agent) Proto() *hotlinev1.Agent {
	p := &hotlinev1.Agent{
		Extension: a.Extension,
		Skills:    slices.Clone(a.Skills),
		State:     a.State.Proto(),
		Reason:    a.Reason,
		CallId:    a.CallID,
	}
	if !a.Since.IsZero() {
		p.StateSince = timestamppb.New(a.Since)
	}
	return p
}

// Errors. Those that refuse a request leave the state untouched.
//
// Every script is safe to run again with the same arguments: a request whose
// reply was lost (a timeout, a reset connection, or the Redis client resending
// the script) can be repeated and gets the answer of the first run, or a
// harmless no-op. A caller that got an error other than these refusals from
// Claim must treat the call as possibly assigned: claim it again (the same
// agent comes back) or take it out of the queue with Dequeue (which gives
// the agent back); never forget it.
var (
	ErrUnknownAgent    = errors.New("unknown agent (never logged in)")
	ErrAlreadyLoggedIn = errors.New("agent already logged in")
	ErrNotAllowed      = errors.New("state change not allowed")
	ErrWrongCall       = errors.New("agent is not ringing for that call")
	ErrNoAgent         = errors.New("no ready agent")
	ErrNotHead         = errors.New("call is not at the head of its queue")
	ErrNotWaiting      = errors.New("call is not waiting in the queue")
	ErrInvalid         = errors.New("invalid argument")
)

// FieldError is a malformed argument; it wraps ErrInvalid and names the field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return ErrInvalid }

// ValidExtension reports whether ext is 2-8 digits.
func ValidExtension(ext string) bool {
	if len(ext) < 2 || len(ext) > 8 {
		return false
	}
	for i := 0; i < len(ext); i++ {
		if ext[i] < '0' || ext[i] > '9' {
			return false
		}
	}
	return true
}

func checkExt(ext string) error {
	if !ValidExtension(ext) {
		return &FieldError{"extension", fmt.Sprintf("%q must be 2-8 digits", ext)}
	}
	return nil
}

func checkSkill(field, s string) error {
	if !conf.ValidSkill(s) {
		return &FieldError{field, fmt.Sprintf("%q must be 1-32 of a-z, 0-9, _ or -", s)}
	}
	return nil
}

func checkCall(id string) error {
	if id == "" || len(id) > 256 {
		return &FieldError{"call_id", "must be 1-256 bytes"}
	}
	return nil
}

// MaxWrapUp bounds an agent's wrap-up time.
const MaxWrapUp = time.Hour

// Options configure a Pool.
type Options struct {
	Redis   redis.UniversalClient
	Keys    store.Keys
	Logger  *slog.Logger
	Metrics *metrics.ACD
	// Skills are the configured skill groups, for the per-skill waiting gauge.
	Skills []string
	// Timeout bounds each Redis round trip (default 2s) within the caller's
	// context.
	Timeout time.Duration
	// WrapUpMax caps the wrap-up a desk may ask for at Login, per skill
	// group (acd.groups[].wrap_up_max); an agent of several groups gets the
	// smallest cap among them. A request above it is refused.
	WrapUpMax map[string]time.Duration
}

// Pool is one instance's handle on the shared routing state. It holds no
// routing state of its own: any number of Pools (one per gateway instance)
// may work on the same Redis at once. Safe for concurrent use.
type Pool struct {
	rdb     redis.UniversalClient
	keys    store.Keys
	prefix  string // "{tag}:acd:"
	log     *slog.Logger
	m       *metrics.ACD
	skills  []string
	timeout time.Duration
	wrapMax map[string]time.Duration
}

// New returns a Pool.
func New(o Options) *Pool {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	return &Pool{
		rdb: o.Redis, keys: o.Keys, prefix: o.Keys.Key("acd") + ":",
		log: o.Logger, m: o.Metrics, skills: slices.Clone(o.Skills), timeout: o.Timeout,
		wrapMax: o.WrapUpMax,
	}
}

func (p *Pool) agentKey(ext string) string   { return p.keys.Key("acd", "agent", ext) }
func (p *Pool) readyKey(skill string) string { return p.keys.Key("acd", "ready", skill) }
func (p *Pool) waitKey(skill string) string  { return p.keys.Key("acd", "wait", skill) }
func (p *Pool) agentsKey() string            { return p.keys.Key("acd", "agents") }
func (p *Pool) busyKey() string              { return p.keys.Key("acd", "busy") }
func (p *Pool) wrapKey() string              { return p.keys.Key("acd", "wrapup") }
func (p *Pool) claimsKey() string            { return p.keys.Key("acd", "claims") }

func (p *Pool) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.timeout)
}

// scriptResult is the common reply of every script.
type scriptResult struct {
	code      string
	detail    string
	agents    []Agent
	skills    []string
	receivers int64 // streams the POST event reached
}

// run runs a script (EVALSHA, its text on NOSCRIPT); the script publishes
// what it changed itself (see prelude).
func (p *Pool) run(ctx context.Context, s *redis.Script, keys []string, args ...any) (scriptResult, error) {
	return p.runEvents(ctx, nil, nil, s, keys, args...)
}

// runEvents is run with the events pre and post (encoded AgentEvents, nil
// for none) for the agent the script is about: published by the script
// before and after that agent's new state.
func (p *Pool) runEvents(ctx context.Context, pre, post []byte, s *redis.Script, keys []string, args ...any) (scriptResult, error) {
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	raw, err := s.Run(ctx, p.rdb, keys, p.argv(pre, post, args)...).Slice()
	if err != nil {
		return scriptResult{}, err
	}
	return parseResult(raw)
}

// argv is a script's ARGV: the key prefix, args, then the PRE and POST
// events.
func (p *Pool) argv(pre, post []byte, args []any) []any {
	out := make([]any, 0, len(args)+3)
	out = append(out, p.prefix)
	out = append(out, args...)
	return append(out, string(pre), string(post))
}

func parseResult(raw []any) (scriptResult, error) {
	if len(raw) != 4 && len(raw) != 5 {
		return scriptResult{}, fmt.Errorf("unexpected script reply of %d elements", len(raw))
	}
	var r scriptResult
	r.code, _ = raw[0].(string)
	r.detail, _ = raw[1].(string)
	snaps, _ := raw[2].([]any)
	for _, s := range snaps {
		flat, _ := s.([]any)
		r.agents = append(r.agents, parseAgent(flat))
	}
	sk, _ := raw[3].([]any)
	for _, s := range sk {
		if v, ok := s.(string); ok && !slices.Contains(r.skills, v) {
			r.skills = append(r.skills, v)
		}
	}
	if len(raw) == 5 {
		r.receivers, _ = raw[4].(int64)
	}
	return r, nil
}

// Redis is the pool's client: a caller's pipeline on it may carry the
// pool's steps (EnqueueClaimIn, AnsweredIn, ReleaseIn) beside its own
// commands, in one round trip.
func (p *Pool) Redis() redis.UniversalClient { return p.rdb }

// step is a pool script queued in a caller's pipeline.
type step struct {
	p    *Pool
	s    *redis.Script
	keys []string
	args []any
	cmd  *redis.Cmd
}

func (p *Pool) queue(ctx context.Context, pipe redis.Pipeliner, pre, post []byte, s *redis.Script, keys []string, args ...any) *step {
	st := &step{p: p, s: s, keys: keys, args: p.argv(pre, post, args)}
	st.cmd = s.EvalSha(ctx, pipe, keys, st.args...)
	return st
}

// result reads the step's reply once its pipeline ran. A Redis that did
// not know the script (NOSCRIPT: restarted, flushed) runs it with its text,
// in a round trip of its own; every other error is returned (the outcome
// is then unknown: the caller repeats the step or takes the safe way out,
// every script being safe to run again).
func (st *step) result(ctx context.Context) (scriptResult, error) {
	raw, err := st.cmd.Slice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		ctx, cancel := st.p.opCtx(ctx)
		defer cancel()
		raw, err = st.s.Eval(ctx, st.p.rdb, st.keys, st.args...).Slice()
	}
	if err != nil {
		return scriptResult{}, err
	}
	return parseResult(raw)
}

func parseAgent(flat []any) Agent {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return agentFromMap(m)
}

func agentFromMap(m map[string]string) Agent {
	a := Agent{
		Extension: m["ext"],
		State:     State(m["state"]),
		Reason:    m["reason"],
		CallID:    m["call"],
		Since:     micros(m["since"]),
		IdleSince: micros(m["idle"]),
		SessionID: m["session"],
	}
	if m["skills"] != "" {
		a.Skills = strings.Split(m["skills"], ",")
	}
	if ms, err := strconv.ParseInt(m["wrap"], 10, 64); err == nil {
		a.WrapUp = time.Duration(ms) * time.Millisecond
	}
	if a.State == WrapUp {
		a.WrapUpEnds = micros(m["wrapend"])
	}
	return a
}

func micros(s string) time.Time {
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil || us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

func newSessionID() string { return randid.Hex(16) }

// Login starts a session for ext with the given skills and wrap-up time.
// The agent starts paused (reason "login") and is offered calls only after
// SetReady, so that its desktop can open its event stream first. A second
// login while a session is live fails with ErrAlreadyLoggedIn and changes
// nothing; the agent logs out first (the session is live until Logout).
func (p *Pool) Login(ctx context.Context, ext string, skills []string, wrapUp time.Duration) (Agent, error) {
	if err := checkExt(ext); err != nil {
		return Agent{}, err
	}
	if len(skills) == 0 {
		return Agent{}, &FieldError{"skills", "at least one skill is required"}
	}
	if len(skills) > 32 {
		return Agent{}, &FieldError{"skills", "at most 32 skills"}
	}
	var uniq []string
	for i, s := range skills {
		if err := checkSkill(fmt.Sprintf("skills[%d]", i), s); err != nil {
			return Agent{}, err
		}
		if !slices.Contains(uniq, s) {
			uniq = append(uniq, s)
		}
	}
	if wrapUp < 0 || wrapUp > MaxWrapUp {
		return Agent{}, &FieldError{"wrap_up_seconds", fmt.Sprintf("must be between 0 and %d", int(MaxWrapUp/time.Second))}
	}
	for _, s := range uniq {
		if max, ok := p.wrapMax[s]; ok && wrapUp > max {
			return Agent{}, &FieldError{"wrap_up_seconds", fmt.Sprintf("%d s is above the administrator's cap of %d s for skill group %s; ask for %d s or less",
				int(wrapUp/time.Second), int(max/time.Second), s, int(max/time.Second))}
		}
	}
	session := newSessionID()
	r, err := p.run(ctx, loginScript, []string{p.agentKey(ext)},
		ext, strings.Join(uniq, ","), wrapUp.Milliseconds(), session)
	if err != nil {
		return Agent{}, fmt.Errorf("acd login %s: %w", ext, err)
	}
	if r.code == "already" {
		return Agent{}, fmt.Errorf("acd login %s: %w (state %s)", ext, ErrAlreadyLoggedIn, r.detail)
	}
	if len(r.agents) != 1 {
		return Agent{}, fmt.Errorf("acd login %s: unexpected reply %q", ext, r.code)
	}
	p.log.Info("agent logged in", "ext", ext, "skills", uniq, "wrap_up", wrapUp)
	return r.agents[0], nil
}

// Logout ends the session. Refused (ErrNotAllowed) while the agent is
// ringing or on a call. Logging out a logged-out agent is a no-op.
func (p *Pool) Logout(ctx context.Context, ext string) (Agent, error) {
	return p.setState(ctx, ext, LoggedOut, "")
}

// SetReady makes the agent available for calls: from paused or wrap_up
// (ending wrap-up early). A no-op when already ready; refused when ringing,
// on a call or logged out.
func (p *Pool) SetReady(ctx context.Context, ext string) (Agent, error) {
	return p.setState(ctx, ext, Ready, "")
}

// Pause takes the agent out of call distribution with a reason: from ready,
// paused (changing the reason) or wrap_up. Refused when ringing, on a call
// or logged out.
func (p *Pool) Pause(ctx context.Context, ext, reason string) (Agent, error) {
	if reason == "" || len(reason) > 64 || strings.ContainsFunc(reason, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return Agent{}, &FieldError{"reason", "must be 1-64 bytes without control characters"}
	}
	return p.setState(ctx, ext, Paused, reason)
}

func (p *Pool) setState(ctx context.Context, ext string, target State, reason string) (Agent, error) {
	if err := checkExt(ext); err != nil {
		return Agent{}, err
	}
	r, err := p.run(ctx, setStateScript, []string{p.agentKey(ext)}, ext, string(target), reason)
	if err != nil {
		return Agent{}, fmt.Errorf("acd set %s %s: %w", ext, target, err)
	}
	switch r.code {
	case "unknown":
		return Agent{}, fmt.Errorf("acd set %s %s: %w", ext, target, ErrUnknownAgent)
	case "not_allowed":
		return Agent{}, fmt.Errorf("acd set %s %s: %w: agent is %s", ext, target, ErrNotAllowed, r.detail)
	}
	if len(r.agents) == 1 {
		return r.agents[0], nil
	}
	return p.Get(ctx, ext) // no change: report the current state
}

// Get returns the agent's current state, or ErrUnknownAgent.
func (p *Pool) Get(ctx context.Context, ext string) (Agent, error) {
	if err := checkExt(ext); err != nil {
		return Agent{}, err
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	m, err := p.rdb.HGetAll(ctx, p.agentKey(ext)).Result()
	if err != nil {
		return Agent{}, fmt.Errorf("acd get %s: %w", ext, err)
	}
	if len(m) == 0 {
		return Agent{}, fmt.Errorf("acd get %s: %w", ext, ErrUnknownAgent)
	}
	return agentFromMap(m), nil
}

// Claim atomically takes the longest-idle ready agent with skill for
// callID, which must be waiting in skill's queue (Enqueue) among the first
// K calls, K = the number of ready agents with the skill. On success the
// call leaves the queue, the agent is ringing for it and in no skill set,
// and its extension is returned. Errors: ErrNoAgent, ErrNotHead (retry when
// an agent becomes ready), ErrNotWaiting; nothing changes on these.
//
// Claim is idempotent per call: while the agent it chose is still ringing
// for callID, claiming again returns that agent (counted as "again") and
// changes nothing. Any other error (Redis unreachable, a timeout, a reset)
// leaves it unknown whether an agent was assigned: the caller keeps the call
// and claims again, or leaves with Dequeue; ClaimedBy tells which agent, if
// any, holds the call.
//
// The caller then publishes the CallOffer (Publish), originates the agent's
// phone, and calls Answered or Release.
func (p *Pool) Claim(ctx context.Context, skill, callID string) (string, error) {
	if err := checkSkill("skill", skill); err != nil {
		return "", err
	}
	if err := checkCall(callID); err != nil {
		return "", err
	}
	r, err := p.run(ctx, claimScript, []string{p.readyKey(skill), p.waitKey(skill)}, callID, skill)
	if err != nil {
		p.m.Claims.WithLabelValues("error").Inc()
		return "", fmt.Errorf("acd claim %s for %s: %w", skill, callID, err)
	}
	return p.claimed(skill, callID, r)
}

// claimed reads a claim's reply (Claim, EnqueueClaimIn).
func (p *Pool) claimed(skill, callID string, r scriptResult) (string, error) {
	switch r.code {
	case "ok":
		p.m.Claims.WithLabelValues("claimed").Inc()
		return r.detail, nil
	case "again":
		p.m.Claims.WithLabelValues("again").Inc()
		p.log.Info("acd claim repeated: the agent chosen before is returned", "call_id", callID, "skill", skill, "ext", r.detail)
		return r.detail, nil
	case "no_agent":
		p.m.Claims.WithLabelValues("no_agent").Inc()
		return "", fmt.Errorf("acd claim %s for %s: %w", skill, callID, ErrNoAgent)
	case "not_head":
		p.m.Claims.WithLabelValues("not_head").Inc()
		return "", fmt.Errorf("acd claim %s for %s: %w (%s calls ahead)", skill, callID, ErrNotHead, r.detail)
	case "not_waiting":
		p.m.Claims.WithLabelValues("not_waiting").Inc()
		return "", fmt.Errorf("acd claim %s for %s: %w", skill, callID, ErrNotWaiting)
	}
	p.m.Claims.WithLabelValues("error").Inc()
	return "", fmt.Errorf("acd claim %s for %s: unexpected reply %q", skill, callID, r.code)
}

// ClaimedBy returns the extension of the agent a claim chose for callID and
// that is still ringing for it, or "" when there is none.
func (p *Pool) ClaimedBy(ctx context.Context, callID string) (string, error) {
	if err := checkCall(callID); err != nil {
		return "", err
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	rec, err := p.rdb.HGet(ctx, p.claimsKey(), callID).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("acd claimed-by %s: %w", callID, err)
	}
	ext, _, _ := strings.Cut(rec, ":")
	v, err := p.rdb.HMGet(ctx, p.agentKey(ext), "state", "call").Result()
	if err != nil {
		return "", fmt.Errorf("acd claimed-by %s: agent %s: %w", callID, ext, err)
	}
	if st, _ := v[0].(string); st != string(Ringing) {
		return "", nil
	}
	if c, _ := v[1].(string); c != callID {
		return "", nil
	}
	return ext, nil
}

// Answered records that the agent answered callID: ringing → on_call.
// Idempotent; ErrWrongCall if the agent is not ringing for (or on) callID.
func (p *Pool) Answered(ctx context.Context, ext, callID string) error {
	return p.answered(ctx, ext, callID, nil)
}

// AnsweredThenEvent is Answered that sends ev to the agent's event streams
// (best effort) right after the agent's new state, in the same script. On
// an error ev is not sent.
func (p *Pool) AnsweredThenEvent(ctx context.Context, ext, callID string, ev *hotlinev1.AgentEvent) error {
	b, err := p.encodeEvent(ext, ev)
	if err != nil {
		return fmt.Errorf("acd answered %s %s: %w", ext, callID, err)
	}
	return p.answered(ctx, ext, callID, b)
}

// encodeEvent is ev, stamped now unless it has a time, encoded for ext's
// event channel.
func (p *Pool) encodeEvent(ext string, ev *hotlinev1.AgentEvent) ([]byte, error) {
	if err := checkExt(ext); err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, nil
	}
	if ev.At == nil {
		ev.At = timestamppb.Now()
	}
	b, err := marshalEvent(ev)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	return b, nil
}

func (p *Pool) answered(ctx context.Context, ext, callID string, then []byte) error {
	if err := checkExt(ext); err != nil {
		return err
	}
	if err := checkCall(callID); err != nil {
		return err
	}
	r, err := p.runEvents(ctx, nil, then, answeredScript, []string{p.agentKey(ext)}, ext, callID)
	if err != nil {
		return fmt.Errorf("acd answered %s %s: %w", ext, callID, err)
	}
	return answeredErr(ext, callID, r)
}

func answeredErr(ext, callID string, r scriptResult) error {
	switch r.code {
	case "unknown":
		return fmt.Errorf("acd answered %s %s: %w", ext, callID, ErrUnknownAgent)
	case "wrong_call":
		return fmt.Errorf("acd answered %s %s: %w (agent is %s)", ext, callID, ErrWrongCall, r.detail)
	}
	return nil
}

// AnsweredStep is Answered queued in a caller's pipeline (AnsweredIn).
type AnsweredStep struct {
	st          *step
	ext, callID string
}

// AnsweredIn queues AnsweredThenEvent(ext, callID, ev) in pipe, a pipeline
// on the pool's client (Redis); call Err once the pipeline ran.
func (p *Pool) AnsweredIn(ctx context.Context, pipe redis.Pipeliner, ext, callID string, ev *hotlinev1.AgentEvent) (*AnsweredStep, error) {
	if err := checkCall(callID); err != nil {
		return nil, err
	}
	b, err := p.encodeEvent(ext, ev)
	if err != nil {
		return nil, fmt.Errorf("acd answered %s %s: %w", ext, callID, err)
	}
	return &AnsweredStep{st: p.queue(ctx, pipe, nil, b, answeredScript, []string{p.agentKey(ext)}, ext, callID), ext: ext, callID: callID}, nil
}

// Err is the step's outcome, as AnsweredThenEvent's.
func (s *AnsweredStep) Err(ctx context.Context) error {
	r, err := s.st.result(ctx)
	if err != nil {
		return fmt.Errorf("acd answered %s %s: %w", s.ext, s.callID, err)
	}
	return answeredErr(s.ext, s.callID, r)
}

// Release ends the agent's part in callID with outcome (see Outcome). An
// agent that is on the call (answered) always goes to wrap-up, whatever the
// outcome. A release for a call the agent is no longer ringing for or on is
// a no-op, so releases may be repeated.
func (p *Pool) Release(ctx context.Context, ext, callID string, outcome Outcome) error {
	return p.releaseAfter(ctx, ext, callID, outcome, nil)
}

// ReleaseAfterEvent is Release that first sends ev to the agent's event
// streams (best effort) in the same script: the desktop hears ev (e.g. the
// call ended) before the agent's new state and before it can be offered
// the next call.
func (p *Pool) ReleaseAfterEvent(ctx context.Context, ext, callID string, outcome Outcome, ev *hotlinev1.AgentEvent) error {
	b, err := p.encodeEvent(ext, ev)
	if err != nil {
		return fmt.Errorf("acd release %s %s: %w", ext, callID, err)
	}
	return p.releaseAfter(ctx, ext, callID, outcome, b)
}

func checkRelease(ext, callID string, outcome Outcome) error {
	if err := checkExt(ext); err != nil {
		return err
	}
	if err := checkCall(callID); err != nil {
		return err
	}
	switch outcome {
	case Completed, Missed, Cancelled:
	default:
		return &FieldError{"outcome", fmt.Sprintf("%q is not completed, missed or cancelled", outcome)}
	}
	return nil
}

func (p *Pool) releaseAfter(ctx context.Context, ext, callID string, outcome Outcome, pre []byte) error {
	if err := checkRelease(ext, callID, outcome); err != nil {
		return err
	}
	r, err := p.runEvents(ctx, pre, nil, releaseScript, []string{p.agentKey(ext)}, ext, callID, string(outcome), 0)
	if err != nil {
		return fmt.Errorf("acd release %s %s: %w", ext, callID, err)
	}
	return releaseErr(ext, callID, r)
}

func releaseErr(ext, callID string, r scriptResult) error {
	if r.code == "unknown" {
		return fmt.Errorf("acd release %s %s: %w", ext, callID, ErrUnknownAgent)
	}
	return nil
}

// ReleaseStep is ReleaseAfterEvent queued in a caller's pipeline.
type ReleaseStep struct {
	st          *step
	ext, callID string
}

// ReleaseIn queues ReleaseAfterEvent(ext, callID, outcome, ev) in pipe, a
// pipeline on the pool's client; ev may be nil. Call Err once the pipeline
// ran.
func (p *Pool) ReleaseIn(ctx context.Context, pipe redis.Pipeliner, ext, callID string, outcome Outcome, ev *hotlinev1.AgentEvent) (*ReleaseStep, error) {
	if err := checkRelease(ext, callID, outcome); err != nil {
		return nil, err
	}
	b, err := p.encodeEvent(ext, ev)
	if err != nil {
		return nil, fmt.Errorf("acd release %s %s: %w", ext, callID, err)
	}
	st := p.queue(ctx, pipe, b, nil, releaseScript, []string{p.agentKey(ext)}, ext, callID, string(outcome), 0)
	return &ReleaseStep{st: st, ext: ext, callID: callID}, nil
}

// Err is the step's outcome, as ReleaseAfterEvent's.
func (s *ReleaseStep) Err(ctx context.Context) error {
	r, err := s.st.result(ctx)
	if err != nil {
		return fmt.Errorf("acd release %s %s: %w", s.ext, s.callID, err)
	}
	return releaseErr(s.ext, s.callID, r)
}

// ClaimStep is Enqueue then Claim queued in a caller's pipeline
// (EnqueueClaimIn).
type ClaimStep struct {
	p             *Pool
	st            *step
	skill, callID string
}

// EnqueueClaimIn queues in pipe (a pipeline on the pool's client) what
// Enqueue(skill, callID, priority, at) then Claim(skill, callID) do, as one
// script, with the offer published to the claimed agent's streams right
// after its ringing state. Call Result once the pipeline ran.
func (p *Pool) EnqueueClaimIn(ctx context.Context, pipe redis.Pipeliner, skill, callID string, priority bool, at time.Time, offer *hotlinev1.CallOffer) (*ClaimStep, error) {
	if err := checkSkill("skill", skill); err != nil {
		return nil, err
	}
	if err := checkCall(callID); err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = time.Now()
	}
	var post []byte
	if offer != nil {
		b, err := marshalEvent(&hotlinev1.AgentEvent{At: timestamppb.Now(), Event: &hotlinev1.AgentEvent_Offer{Offer: offer}})
		if err != nil {
			return nil, fmt.Errorf("acd enqueue-claim %s: offer: %w", callID, err)
		}
		post = b
	}
	score := strconv.FormatFloat(queueScore(priority, at), 'f', -1, 64)
	st := p.queue(ctx, pipe, nil, post, enqueueClaimScript, []string{p.readyKey(skill), p.waitKey(skill)}, callID, skill, score)
	return &ClaimStep{p: p, st: st, skill: skill, callID: callID}, nil
}

// Result is the claimed agent and how many of its event streams received
// the offer. Errors as Claim's: ErrNoAgent or ErrNotHead leave the call
// waiting in the queue; any other error leaves it unknown whether the call
// is queued or an agent claimed for it (repeat the step, or Dequeue).
func (s *ClaimStep) Result(ctx context.Context) (ext string, receivers int64, err error) {
	r, err := s.st.result(ctx)
	if err != nil {
		s.p.m.Claims.WithLabelValues("error").Inc()
		return "", 0, fmt.Errorf("acd enqueue-claim %s for %s: %w", s.skill, s.callID, err)
	}
	ext, err = s.p.claimed(s.skill, s.callID, r)
	return ext, r.receivers, err
}
