package edge

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway/live"
)

// Live is what the LiveServer and the /live/ HTTP handlers read (*live.Hub).
type Live interface {
	Snapshot(ctx context.Context) (*hotlinev1.LiveSnapshot, error)
	Subscribe() (<-chan live.Update, func())
}

// LiveServer implements hotlinev1.LiveService for supervisors and wall
// screens (auth.LiveRule).
type LiveServer struct {
	hotlinev1.UnimplementedLiveServiceServer
	Live Live
	Log  *slog.Logger
}

// GetSnapshot computes the figures now.
func (s *LiveServer) GetSnapshot(ctx context.Context, _ *hotlinev1.GetSnapshotRequest) (*hotlinev1.LiveSnapshot, error) {
	if _, err := auth.Require(ctx, auth.LiveRule.Roles...); err != nil {
		return nil, err
	}
	snap, err := s.Live.Snapshot(ctx)
	if err != nil {
		return nil, toStatus(s.Log, "live snapshot", err)
	}
	return snap, nil
}

// StreamSnapshots sends the figures now, then every change, until the
// client leaves or the gateway stops. While Redis is unreachable the
// stream stays open and sends nothing; it resumes when Redis is back.
func (s *LiveServer) StreamSnapshots(_ *hotlinev1.StreamSnapshotsRequest, ss hotlinev1.LiveService_StreamSnapshotsServer) error {
	ctx := ss.Context()
	if _, err := auth.Require(ctx, auth.LiveRule.Roles...); err != nil {
		return err
	}
	updates, cancel := s.Live.Subscribe()
	defer cancel()
	first, err := s.Live.Snapshot(ctx)
	if err != nil {
		return toStatus(s.Log, "live snapshot", err)
	}
	if err := ss.Send(first); err != nil {
		return err
	}
	last := first
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return status.Error(codes.Unavailable, "the gateway is shutting down; reconnect to another instance")
			}
			if u.Err != nil || u.Snapshot == nil || live.Same(last, u.Snapshot) {
				continue
			}
			if err := ss.Send(u.Snapshot); err != nil {
				return err
			}
			last = u.Snapshot
		}
	}
}
