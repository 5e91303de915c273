package acd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Queue order: a waiting call's score is band*bandWidth + entry unix ms, with
// band 0 for priority calls and 1 for the rest, so every priority call goes
// before every other and each band is FIFO by entry time. Unix ms stay far
// below bandWidth (until the year 2286) and the scores are exact in a float64.
const bandWidth = 1e13

func queueScore(priority bool, at time.Time) float64 {
	s := float64(at.UnixMilli())
	if !priority {
		s += bandWidth
	}
	return s
}

// Enqueue puts callID in skill's queue, ordered by priority then by at (the
// call's entry time; zero means now). Enqueueing a call that is already
// waiting moves it to its new place, e.g. a caller re-queued with priority
// after a failed transfer.
func (p *Pool) Enqueue(ctx context.Context, skill, callID string, priority bool, at time.Time) error {
	if err := checkSkill("skill", skill); err != nil {
		return err
	}
	if err := checkCall(callID); err != nil {
		return err
	}
	if at.IsZero() {
		at = time.Now()
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	if err := p.rdb.ZAdd(ctx, p.waitKey(skill), redis.Z{Score: queueScore(priority, at), Member: callID}).Err(); err != nil {
		return fmt.Errorf("acd enqueue %s in %s: %w", callID, skill, err)
	}
	return nil
}

// Dequeue removes callID from skill's queue (the caller hung up, or the call
// leaves the queue another way). Removing a call that is not waiting is a
// no-op. If a claim chose an agent for the call and that agent is still
// ringing for it (the claim's reply was lost, so no one offered it the
// call), the agent is made ready again, keeping its place. Safe to repeat.
func (p *Pool) Dequeue(ctx context.Context, skill, callID string) error {
	if err := checkSkill("skill", skill); err != nil {
		return err
	}
	if err := checkCall(callID); err != nil {
		return err
	}
	r, err := p.run(ctx, dequeueScript, []string{p.waitKey(skill)}, callID, skill)
	if err != nil {
		return fmt.Errorf("acd dequeue %s from %s: %w", callID, skill, err)
	}
	if r.code == "released" {
		p.m.Claims.WithLabelValues("given_back").Inc()
		p.log.Warn("acd dequeue: agent claimed for the call but never offered it is ready again", "call_id", callID, "skill", skill, "ext", r.detail)
	}
	return nil
}

// Position returns callID's 1-based place in skill's queue, or ErrNotWaiting.
func (p *Pool) Position(ctx context.Context, skill, callID string) (int, error) {
	if err := checkSkill("skill", skill); err != nil {
		return 0, err
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	n, err := p.rdb.ZRank(ctx, p.waitKey(skill), callID).Result()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("acd position of %s in %s: %w", callID, skill, ErrNotWaiting)
	}
	if err != nil {
		return 0, fmt.Errorf("acd position of %s in %s: %w", callID, skill, err)
	}
	return int(n) + 1, nil
}

// Waiting returns the number of calls waiting in skill's queue.
func (p *Pool) Waiting(ctx context.Context, skill string) (int64, error) {
	if err := checkSkill("skill", skill); err != nil {
		return 0, err
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	n, err := p.rdb.ZCard(ctx, p.waitKey(skill)).Result()
	if err != nil {
		return 0, fmt.Errorf("acd waiting in %s: %w", skill, err)
	}
	return n, nil
}

// ReadyAgents returns the number of ready agents with skill.
func (p *Pool) ReadyAgents(ctx context.Context, skill string) (int64, error) {
	if err := checkSkill("skill", skill); err != nil {
		return 0, err
	}
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	n, err := p.rdb.ZCard(ctx, p.readyKey(skill)).Result()
	if err != nil {
		return 0, fmt.Errorf("acd ready agents in %s: %w", skill, err)
	}
	return n, nil
}
