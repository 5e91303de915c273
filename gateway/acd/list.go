package acd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// List returns every agent the pool knows (logged in now or before), by
// extension, read from Redis: every instance answers the same.
func (p *Pool) List(ctx context.Context) ([]Agent, error) {
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	exts, err := p.rdb.SMembers(ctx, p.agentsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("acd list agents: %w", err)
	}
	sort.Strings(exts)
	if len(exts) == 0 {
		return nil, nil
	}
	pipe := p.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(exts))
	for i, e := range exts {
		cmds[i] = pipe.HGetAll(ctx, p.agentKey(e))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("acd list agents: %w", err)
	}
	out := make([]Agent, 0, len(exts))
	for _, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			out = append(out, agentFromMap(m))
		}
	}
	return out, nil
}

// Waiter is one call waiting in a skill's queue.
type Waiter struct {
	CallID   string
	Skill    string
	Position int       // 1-based, in the order agents are offered calls
	Priority bool      // from 110 or re-queued ahead of the rest
	Entered  time.Time // its entry time (the queue's order within a band)
}

// Queue returns the calls waiting in skill's queue, first first.
func (p *Pool) Queue(ctx context.Context, skill string) ([]Waiter, error) {
	if err := checkSkill("skill", skill); err != nil {
		return nil, err
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	zs, err := p.rdb.ZRangeWithScores(ctx, p.waitKey(skill), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("acd queue %s: %w", skill, err)
	}
	out := make([]Waiter, 0, len(zs))
	for i, z := range zs {
		id, _ := z.Member.(string)
		out = append(out, waiterFromScore(skill, i+1, id, z.Score))
	}
	return out, nil
}

// Skills returns the skills whose queues the pool keeps (the lines').
func (p *Pool) Skills() []string { return append([]string(nil), p.skills...) }
