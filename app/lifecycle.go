package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"
)

// lifecycle is the app's stack of named cleanups and the set of goroutines
// it started. stop runs the cleanups last-in-first-out, then waits for every
// goroutine; it runs once, later calls return the first result.
type lifecycle struct {
	log *slog.Logger

	mu       sync.Mutex
	cleanups []cleanup
	running  map[string]int // goroutine name → how many are still running
	stopped  bool
	stopErr  error
	done     chan struct{} // closed when the first stop has finished

	wg sync.WaitGroup
}

type cleanup struct {
	name string
	fn   func(ctx context.Context) error
}

func newLifecycle(log *slog.Logger) *lifecycle {
	return &lifecycle{log: log, running: map[string]int{}, done: make(chan struct{})}
}

// onStop pushes a named cleanup; the last one pushed runs first.
func (l *lifecycle) onStop(name string, fn func(ctx context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, cleanup{name, fn})
}

// goGroup starts fn as a named goroutine that stop waits for; wg, when not
// nil, is a narrower group a cleanup waits for as well.
func (l *lifecycle) goGroup(name string, wg *sync.WaitGroup, fn func()) {
	l.mu.Lock()
	l.running[name]++
	l.mu.Unlock()
	l.wg.Add(1)
	if wg != nil {
		wg.Add(1)
	}
	go func() {
		defer func() {
			l.mu.Lock()
			if l.running[name]--; l.running[name] == 0 {
				delete(l.running, name)
			}
			l.mu.Unlock()
			if wg != nil {
				wg.Done()
			}
			l.wg.Done()
		}()
		fn()
	}()
}

// stop runs every cleanup last-in-first-out, each under ctx, then waits for
// the goroutines until ctx ends. Calling it again waits for the first call
// and returns its result.
func (l *lifecycle) stop(ctx context.Context) error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		select {
		case <-l.done:
		case <-ctx.Done():
			return fmt.Errorf("stop: waiting for the first stop: %w", ctx.Err())
		}
		return l.stopErr
	}
	l.stopped = true
	cleanups := slices.Clone(l.cleanups)
	l.mu.Unlock()

	var errs []error
	for i := len(cleanups) - 1; i >= 0; i-- {
		c := cleanups[i]
		start := time.Now()
		if err := c.fn(ctx); err != nil {
			l.log.Error("stop: cleanup failed", "cleanup", c.name, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		l.log.Debug("stop: cleanup done", "cleanup", c.name, "took", time.Since(start))
	}
	if err := waitCtx(ctx, &l.wg); err != nil {
		errs = append(errs, fmt.Errorf("goroutines still running %v: %w", l.stillRunning(), err))
	}
	l.stopErr = errors.Join(errs...)
	close(l.done)
	return l.stopErr
}

// stillRunning names the goroutines that have not returned.
func (l *lifecycle) stillRunning() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.running))
	for n := range l.running {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// waitCtx waits for wg until ctx ends.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
