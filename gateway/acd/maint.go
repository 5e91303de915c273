package acd

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// LiveFunc reports whether a call is still in progress. It must answer for
// calls handled by any instance, e.g. by asking Asterisk whether the call's
// channel still exists; on doubt it returns an error and the agent is left
// alone.
type LiveFunc func(ctx context.Context, callID string) (bool, error)

// SweepResult tells what a Sweep did.
type SweepResult struct {
	Promoted int // wrap-ups that had ended and are now ready
	Freed    int // agents freed from calls that were no longer live
}

// Sweep ends expired wrap-ups and, if live is set, frees agents ringing for
// or on a call for which live reports false, provided they have been in
// that state for at least minAge (so a call that is being set up is never
// swept). A freed ringing agent becomes ready (keeping its idle-since); a
// freed agent on a call goes to wrap-up as after a completed call. Any
// instance may sweep at any time: each change is checked again atomically
// (the agent must still be on that very call), so a sweep racing a normal
// release is harmless.
func (p *Pool) Sweep(ctx context.Context, live LiveFunc, minAge time.Duration) (SweepResult, error) {
	var res SweepResult
	for range 100 { // at most 100 wrap-ups per script run
		r, err := p.run(ctx, promoteScript, []string{p.wrapKey()})
		if err != nil {
			return res, fmt.Errorf("acd sweep wrap-ups: %w", err)
		}
		res.Promoted += len(r.agents)
		if n, _ := strconv.Atoi(r.detail); n < 100 {
			break
		}
	}
	if live == nil {
		return res, nil
	}
	rctx, cancel := p.opCtx(ctx)
	busy, err := p.rdb.HGetAll(rctx, p.busyKey()).Result()
	cancel()
	if err != nil {
		return res, fmt.Errorf("acd sweep busy agents: %w", err)
	}
	for ext, call := range busy {
		ok, err := live(ctx, call)
		if err != nil {
			p.log.Warn("acd sweep: cannot tell whether call is live; agent left alone", "ext", ext, "call_id", call, "err", err)
			continue
		}
		if ok {
			continue
		}
		r, err := p.run(ctx, releaseScript, []string{p.agentKey(ext)}, ext, call, "stale", minAge.Microseconds())
		if err != nil {
			return res, fmt.Errorf("acd sweep %s: %w", ext, err)
		}
		if r.code != "ok" {
			continue // released meanwhile, or too young
		}
		res.Freed++
		p.m.Freed.WithLabelValues(r.detail).Inc()
		p.log.Warn("acd sweep: agent freed from a call that is no longer live", "ext", ext, "call_id", call, "was", r.detail)
	}
	return res, nil
}

// RefreshMetrics sets the agents-by-state and waiting-calls gauges from Redis.
func (p *Pool) RefreshMetrics(ctx context.Context) error {
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	exts, err := p.rdb.SMembers(ctx, p.agentsKey()).Result()
	if err != nil {
		return fmt.Errorf("acd metrics: %w", err)
	}
	pipe := p.rdb.Pipeline()
	states := make([]*redis.StringCmd, len(exts))
	for i, e := range exts {
		states[i] = pipe.HGet(ctx, p.agentKey(e), "state")
	}
	waiting := make([]*redis.IntCmd, len(p.skills))
	for i, s := range p.skills {
		waiting[i] = pipe.ZCard(ctx, p.waitKey(s))
	}
	if len(exts)+len(p.skills) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return fmt.Errorf("acd metrics: %w", err)
		}
	}
	count := map[State]int{}
	for _, c := range states {
		if s, err := c.Result(); err == nil {
			count[State(s)]++
		}
	}
	for _, s := range []State{LoggedOut, Ready, Paused, Ringing, OnCall, WrapUp} {
		p.m.Agents.WithLabelValues(string(s)).Set(float64(count[s]))
	}
	for i, s := range p.skills {
		p.m.Waiting.WithLabelValues(s).Set(float64(waiting[i].Val()))
	}
	return nil
}

// RunOptions configure Run.
type RunOptions struct {
	Interval time.Duration // default 2s
	Live     LiveFunc      // nil: only wrap-ups are ended
	MinAge   time.Duration // see Sweep; default 1 minute
}

// Run sweeps and refreshes the gauges every interval until ctx ends. Every
// instance may run it.
func (p *Pool) Run(ctx context.Context, o RunOptions) {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.MinAge <= 0 {
		o.MinAge = time.Minute
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		if _, err := p.Sweep(ctx, o.Live, o.MinAge); err != nil && ctx.Err() == nil {
			p.log.Warn("acd sweep failed", "err", err)
		}
		if err := p.RefreshMetrics(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("acd metrics refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Staffed reports whether any agent with skill is logged in (ready, paused,
// busy or in wrap-up). Routing asks it only when no agent of the skill is
// ready, to overflow at once a call that no one could ever take.
func (p *Pool) Staffed(ctx context.Context, skill string) (bool, error) {
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	exts, err := p.rdb.SMembers(ctx, p.agentsKey()).Result()
	if err != nil {
		return false, fmt.Errorf("acd staffed %s: %w", skill, err)
	}
	if len(exts) == 0 {
		return false, nil
	}
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(exts))
	for i, e := range exts {
		cmds[i] = pipe.HMGet(ctx, p.agentKey(e), "state", "skills")
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return false, fmt.Errorf("acd staffed %s: %w", skill, err)
	}
	for _, c := range cmds {
		v := c.Val()
		if len(v) != 2 {
			continue
		}
		state, _ := v[0].(string)
		skills, _ := v[1].(string)
		if state != "" && State(state) != LoggedOut && slices.Contains(strings.Split(skills, ","), skill) {
			return true, nil
		}
	}
	return false, nil
}
