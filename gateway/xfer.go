package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/transfer"
)

// TransferRecords persists transfer records (transfer.Store).
type TransferRecords interface {
	Save(ctx context.Context, rec *transfer.Record) error
	// List returns a call's records, oldest first (limit 0: the default).
	List(ctx context.Context, callID string, limit int) ([]*transfer.Record, error)
}

// startTransferMachine gives a connected call its one-key transfer machine.
func (c *Call) startTransferMachine() {
	if c.s.o.Transfers == nil || c.xfer != nil {
		return
	}
	m, err := c.s.o.Transfers.NewMachine(transfer.Call{
		ID: c.id, CallerChannel: c.id, AgentChannel: c.agentLeg, AgentExt: c.agentExt,
		Bridge: c.bridge, CallerNumber: c.caller,
		AttachPeer: func(id string) { c.s.o.Dispatcher.Attach(ari.KindChannel, id, c.mb) },
	})
	if err != nil {
		c.s.log.Error("transfer machine not created; transfers unavailable for this call", "call_id", c.id, "err", err)
		return
	}
	c.xfer = m
}

// transferEvent feeds an ARI event to the transfer machine, before the
// owner's own handling of it.
func (c *Call) transferEvent(ctx context.Context, ev ariv5.Event) {
	if c.xfer == nil {
		return
	}
	if in, ok := c.xfer.InputFor(ev, time.Now()); ok {
		res, err := c.xfer.Handle(ctx, in)
		if err != nil {
			c.s.log.Info("transfer input refused", "call_id", c.id, "input", fmt.Sprintf("%T", in), "err", err)
			return
		}
		c.applyTransfer(ctx, res)
	}
}

// transferBusy reports whether the transfer machine owns the call's legs
// now: a transfer is in progress, or the caller was handed to 110.
func (c *Call) transferBusy() bool {
	if c.xfer == nil {
		return false
	}
	_, withPolice := c.xfer.Peer() // 110 is in the caller's bridge
	return c.xfer.State().Active() || withPolice
}

// requestTransfer runs a transfer input (from the desktop or DTMF) on the
// owner and returns the machine's result.
func (c *Call) requestTransfer(ctx context.Context, in transfer.Input) (transfer.Result, error) {
	if c.xfer == nil {
		return transfer.Result{}, fmt.Errorf("call %s is not connected to an agent: %w", c.id, transfer.ErrNoTransfer)
	}
	res, err := c.xfer.Handle(ctx, in)
	if err != nil {
		return res, err
	}
	c.applyTransfer(ctx, res)
	return res, nil
}

// applyTransfer carries out what the machine asks of the owner.
func (c *Call) applyTransfer(ctx context.Context, res transfer.Result) {
	for _, err := range res.Errs {
		c.s.log.Warn("transfer: PBX action failed", "call_id", c.id, "err", err)
	}
	if rec := res.Record; rec != nil && !res.Existing {
		c.saveTransfer(ctx, rec)
	}
	if res.Deadline.IsZero() {
		c.unschedule("xfer")
	} else {
		c.schedule("xfer", time.Until(res.Deadline), func(c *Call) {
			if c.xfer == nil {
				return
			}
			r, err := c.xfer.Handle(c.ctx, transfer.Timeout{})
			if err == nil {
				c.applyTransfer(c.ctx, r)
			}
		})
	}
	if res.AgentFreed {
		c.freeAgent(ctx, "transferred")
	}
	if res.Requeue {
		c.s.log.Info("transfer failed after the agent left; caller re-queued at the front", "call_id", c.id)
		c.priority = true
		c.enter(phaseQueue)
		c.agentExt, c.agentLeg, c.agentUp = "", "", false
		c.enterQueue(ctx)
	}
	if res.EndCall {
		c.end = End{Result: EndTransferred}
		c.hangupCaller(ctx, "normal")
	}
}

// saveTransfer persists a record and keeps it for the ticket.
func (c *Call) saveTransfer(ctx context.Context, rec *transfer.Record) {
	if rec.PoliceReference == "" {
		rec.PoliceReference = c.policeRef
	}
	found := false
	for i, r := range c.transfers {
		if r.TransferID == rec.TransferID {
			c.transfers[i] = rec
			found = true
		}
	}
	if !found {
		c.transfers = append(c.transfers, rec)
	}
	if c.s.o.Police != nil {
		c.s.o.Police.Notify(rec.Proto())
	}
	if !rec.AnsweredAt.IsZero() && !c.counted110 {
		c.counted110 = true
		c.s.o.Counter.Add(count.Op{CallID: c.id, Kind: count.TransferTo110, Line: c.line.Number, At: c.entered})
	}
	if c.s.o.TransferRecords == nil {
		return
	}
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if err := c.s.o.TransferRecords.Save(octx, rec); err != nil {
		c.s.log.Error("transfer record not saved (kept on the ticket)", "call_id", c.id, "transfer_id", rec.TransferID, "err", err)
	}
}

// freeAgent releases the agent whose part in the call is over (the caller
// went to 110): hang up its leg, wrap-up, tell its desktop.
func (c *Call) freeAgent(ctx context.Context, why string) {
	if c.agentExt == "" {
		return
	}
	ext, leg := c.agentExt, c.agentLeg
	c.ticketAgent = ext
	c.agentExt, c.agentLeg, c.agentUp = "", "", false
	octx, cancel := c.s.opCtx(ctx)
	defer cancel()
	if leg != "" {
		c.s.o.Dispatcher.Detach(ari.KindChannel, leg)
		if err := c.s.o.PBX.Hangup(octx, leg, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Warn("hang up freed agent leg failed", "call_id", c.id, "err", err)
		}
	}
	c.publishProgress(octx, ext, hotlinev1.CallProgress_KIND_TRANSFERRED, why)
	if c.s.o.Pool != nil {
		if err := c.s.o.Pool.Release(octx, ext, c.id, acd.Completed); err != nil {
			c.s.log.Warn("release transferred agent failed", "call_id", c.id, "agent", ext, "err", err)
		}
	}
}

// transferProtos returns the call's transfer records for its ticket.
func (c *Call) transferProtos() []*hotlinev1.TransferRecord {
	out := make([]*hotlinev1.TransferRecord, 0, len(c.transfers))
	for _, r := range c.transfers {
		out = append(out, r.Proto())
	}
	return out
}

// closeTransfer gives a transfer still open when the call ends its final
// record, saved and told to 110: a call ended by a resync or an Asterisk
// restart never got the caller's StasisEnd that would have closed it.
func (c *Call) closeTransfer(ctx context.Context) {
	if c.xfer == nil {
		return
	}
	c.unschedule("xfer")
	res, err := c.xfer.Handle(ctx, transfer.CallerHangup{})
	if err != nil {
		c.s.log.Warn("transfer not closed at the call's end", "call_id", c.id, "err", err)
		return
	}
	for _, err := range res.Errs {
		c.s.log.Debug("transfer: PBX action failed at the call's end", "call_id", c.id, "err", err)
	}
	if rec := res.Record; rec != nil && !res.Existing {
		c.saveTransfer(ctx, rec)
	}
}
