package recording

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/metrics"
)

// Store is Asterisk's stored recordings (*ari.Client).
type Store interface {
	ListStored(ctx context.Context) ([]ari.StoredRecording, error)
	DeleteStored(ctx context.Context, name string) error
}

// Sweeper deletes the gateway's recordings (named by
// dialplan.RecordingName) older than Retention from Asterisk. Every other
// stored recording is left alone. A recording's age is its time in the
// index (MadeAt of its ticket); one the index does not know (its ticket not
// yet made: a call in progress, or made before the index existed) is aged
// by the channel ID in its name, or kept when the name tells nothing.
type Sweeper struct {
	Store     Store
	Index     *Index
	Retention time.Duration
	Log       *slog.Logger
	Metrics   *metrics.Recordings
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OpTimeout bounds each ARI request (default 5s).
	OpTimeout time.Duration
}

// Run sweeps every interval until ctx ends; with no retention it returns
// at once.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	if s.Retention <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("recording retention sweep failed; retried at the next one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep runs one pass and returns how many recordings it deleted.
func (s *Sweeper) Sweep(ctx context.Context) (removed int, err error) {
	defer func() {
		if s.Metrics == nil {
			return
		}
		res := "ok"
		if err != nil {
			res = "error"
		}
		s.Metrics.Sweeps.WithLabelValues(res).Inc()
	}()
	if s.Retention <= 0 {
		return 0, nil
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	opTimeout := s.OpTimeout
	if opTimeout <= 0 {
		opTimeout = 5 * time.Second
	}
	lctx, cancel := context.WithTimeout(ctx, opTimeout)
	list, err := s.Store.ListStored(lctx)
	cancel()
	if err != nil {
		return 0, err
	}
	var ours []string
	for _, r := range list {
		if _, ok := dialplan.CallOfRecording(r.Name); ok {
			ours = append(ours, r.Name)
		}
	}
	if len(ours) == 0 {
		return 0, nil
	}
	made, err := s.Index.MadeTimes(ctx, ours)
	if err != nil {
		return 0, err
	}
	cutoff := now().Add(-s.Retention)
	var errs []error
	for _, name := range ours {
		callID, _ := dialplan.CallOfRecording(name)
		at, ok := made[name]
		source := "index"
		if !ok {
			if at, ok = madeFromName(callID); !ok {
				s.Log.Debug("recording of unknown age kept", "recording", name)
				continue
			}
			source = "name"
		}
		if !at.Before(cutoff) {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, opTimeout)
		err := s.Store.DeleteStored(dctx, name)
		cancel()
		if err != nil && !errors.Is(err, ari.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		gone := err != nil
		if err := s.Index.Removed(ctx, name, callID); err != nil {
			errs = append(errs, err)
		}
		if gone {
			continue // deleted by another gateway meanwhile
		}
		removed++
		if s.Metrics != nil {
			s.Metrics.Removed.Inc()
		}
		s.Log.Info("recording removed by retention", "recording", name, "ticket_id", callID,
			"made_at", at.UTC().Format(time.RFC3339), "age_from", source, "retention", s.Retention.String())
	}
	return removed, errors.Join(errs...)
}
