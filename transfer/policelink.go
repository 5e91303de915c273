package transfer

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc/metadata"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/internal/backoff"
)

// PoliceNotifier pushes transfer records to the 110 platform's PoliceLink
// service from one goroutine, so that a slow or absent 110 side never holds
// up a call. Each record is retried a few times; the record stays durable
// in Redis and on the ticket whatever happens here.
type PoliceNotifier struct {
	Client hotlinev1.PoliceLinkClient
	Token  string
	Log    *slog.Logger
	q      chan *hotlinev1.TransferRecord
}

// NewPoliceNotifier returns a notifier; run it with Run.
func NewPoliceNotifier(c hotlinev1.PoliceLinkClient, token string, log *slog.Logger) *PoliceNotifier {
	return &PoliceNotifier{Client: c, Token: token, Log: log, q: make(chan *hotlinev1.TransferRecord, 1024)}
}

// Notify queues a record without blocking; a full queue drops it with a log.
func (n *PoliceNotifier) Notify(rec *hotlinev1.TransferRecord) {
	select {
	case n.q <- rec:
	default:
		n.Log.Warn("110 notification queue full; record not pushed (it is on the ticket)", "transfer_id", rec.GetTransferId())
	}
}

// Run sends queued records until ctx ends.
func (n *PoliceNotifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-n.q:
			n.send(ctx, rec)
		}
	}
}

func (n *PoliceNotifier) send(ctx context.Context, rec *hotlinev1.TransferRecord) {
	retry := backoff.New(200*time.Millisecond, 800*time.Millisecond)
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if n.Token != "" {
			cctx = metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer "+n.Token)
		}
		_, err := n.Client.NotifyTransfer(cctx, rec)
		cancel()
		if err == nil {
			return
		}
		if attempt == 4 || ctx.Err() != nil {
			n.Log.Warn("transfer record not pushed to 110 (it is on the ticket)", "transfer_id", rec.GetTransferId(), "err", err)
			return
		}
		if !retry.Sleep(ctx) {
			return
		}
	}
}
