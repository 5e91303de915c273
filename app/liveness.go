package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hotline12345/hotline-gw/sdnotify"
)

// stalled reports whether the ARI event loop has been stuck in one step
// (OnConnect, or handing an event to its owner) for longer than
// health.stall_after, and since when.
func (a *App) stalled() (bool, time.Time) {
	return a.ari.Stalled(a.live.Load().Health.StallAfter.D()), a.ari.LastProgress()
}

// healthz is the liveness probe: 503 naming why once the event loop has
// made no progress for health.stall_after, so that systemd or Kubernetes
// restarts a gateway that no longer dispatches events.
func (a *App) healthz(w http.ResponseWriter, _ *http.Request) {
	if stuck, since := a.stalled(); stuck {
		http.Error(w, fmt.Sprintf("unhealthy: the ARI event loop has made no progress for %s (health.stall_after %s)",
			time.Since(since).Round(time.Second), a.live.Load().Health.StallAfter.D()), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// watchLoop is the event loop's heartbeat: while the loop is not stalled it
// sets hotline_event_loop_heartbeat_timestamp_seconds and sends systemd
// WATCHDOG=1 (when $WATCHDOG_USEC asks for it); it sends READY=1 each time
// the app becomes ready. A stalled loop stops both, so the alert fires and
// systemd restarts the process.
func (a *App) watchLoop(ctx context.Context) {
	every := time.Second
	wd, watchdog := sdnotify.WatchdogInterval()
	if watchdog {
		every = min(every, wd)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	ready := false
	for {
		now := time.Now()
		if stuck, since := a.stalled(); !stuck {
			a.m.EventLoop.Beat(now)
			if watchdog {
				a.notify(sdnotify.Watchdog)
			}
		} else {
			a.log.Error("event loop stalled: no heartbeat, no watchdog", "stuck_for", now.Sub(since).Round(time.Millisecond))
		}
		if r := a.Ready(); r != ready {
			ready = r
			if r {
				a.notify(sdnotify.Ready, "STATUS=connected to ARI, taking calls")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// notify tells systemd the states; outside systemd it does nothing.
func (a *App) notify(states ...string) {
	if err := sdnotify.Notify(states...); err != nil && !errors.Is(err, sdnotify.ErrNoSocket) {
		a.log.Warn("sd_notify failed", "states", states, "err", err)
	}
}
