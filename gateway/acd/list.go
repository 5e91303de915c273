package acd

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// List returns every agent that ever logged in, by extension, with its
// current state (the supervisor's view of the agents).
func (p *Pool) List(ctx context.Context) ([]Agent, error) {
	ctx, cancel := p.opCtx(ctx)
	defer cancel()
	exts, err := p.rdb.SMembers(ctx, p.agentsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("acd list agents: %w", err)
	}
	sort.Strings(exts)
	out := make([]Agent, 0, len(exts))
	for _, ext := range exts {
		a, err := p.Get(ctx, ext)
		if errors.Is(err, ErrUnknownAgent) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
