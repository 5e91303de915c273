package acd

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Board is what the wall screen shows of the routing state: every known
// agent and every waiting call of the configured skill groups, read in one
// round trip.
type Board struct {
	Agents  []Agent             // sorted by extension
	Waiting map[string][]Waiter // by skill, in queue order
}

// Board reads the agents and queues. Agents never logged in are absent;
// logged-out agents are listed with State LoggedOut.
func (p *Pool) Board(ctx context.Context) (Board, error) {
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	exts, err := p.rdb.SMembers(ctx, p.agentsKey()).Result()
	if err != nil {
		return Board{}, fmt.Errorf("acd board: agents: %w", err)
	}
	slices.Sort(exts)
	pipe := p.rdb.Pipeline()
	agents := make([]*redis.MapStringStringCmd, len(exts))
	for i, e := range exts {
		agents[i] = pipe.HGetAll(ctx, p.agentKey(e))
	}
	waits := make([]*redis.ZSliceCmd, len(p.skills))
	for i, s := range p.skills {
		waits[i] = pipe.ZRangeWithScores(ctx, p.waitKey(s), 0, -1)
	}
	b := Board{Waiting: make(map[string][]Waiter, len(p.skills))}
	if len(agents)+len(waits) == 0 {
		return b, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return Board{}, fmt.Errorf("acd board: %w", err)
	}
	for _, c := range agents {
		if m := c.Val(); len(m) > 0 {
			b.Agents = append(b.Agents, agentFromMap(m))
		}
	}
	for i, s := range p.skills {
		zs := waits[i].Val()
		ws := make([]Waiter, 0, len(zs))
		for j, z := range zs {
			id, _ := z.Member.(string)
			ws = append(ws, waiterFromScore(s, j+1, id, z.Score))
		}
		b.Waiting[s] = ws
	}
	return b, nil
}

// waiterFromScore inverts queueScore for the call at 1-based position in
// skill's queue.
func waiterFromScore(skill string, position int, id string, score float64) Waiter {
	w := Waiter{CallID: id, Skill: skill, Position: position, Priority: score < bandWidth}
	ms := math.Mod(score, bandWidth)
	w.Entered = time.UnixMilli(int64(ms))
	return w
}
