package gateway

import (
	"context"
	"errors"
	"slices"

	"github.com/hotline12345/hotline-gw/ari"
)

// resyncBridge re-reads the bridge of a talking call after lost events:
// the caller and the agent must both be in it. A leg that left it (the
// event that said so may be among the lost ones) is put back, retried as
// any AddChannel; one that cannot be ends the call with its ticket rather
// than leaving the caller alone in silence.
func (c *Call) resyncBridge(ctx, octx context.Context) {
	if c.bridge == "" || c.transferBusy() || c.phase != phaseTalking || c.end.Result != EndUnset {
		return // a transfer owns the legs: its machine re-reads them
	}
	members, err := c.s.o.PBX.BridgeChannels(octx, c.bridge)
	if err != nil {
		if !errors.Is(err, ari.ErrNotFound) {
			c.s.log.Warn("resync: bridge not read", "call_id", c.id, "err", err)
			return
		}
		members = nil
	}
	for _, leg := range []string{c.id, c.agentLeg} {
		if leg == "" || slices.Contains(members, leg) {
			continue
		}
		c.s.log.Warn("resync: a leg of a talking call is out of its bridge; putting it back", "call_id", c.id, "channel", leg)
		if errors.Is(err, ari.ErrNotFound) {
			// The bridge itself is gone: make it again.
			if cerr := c.s.o.PBX.CreateBridge(octx, c.bridge, "mixing,dtmf_events"); cerr != nil && !errors.Is(cerr, ari.ErrConflict) {
				c.bridgeLost(ctx, cerr)
				return
			}
			err = nil
		}
		if aerr := c.addToBridge(ctx, leg); aerr != nil {
			c.bridgeLost(ctx, aerr)
			return
		}
	}
}

// bridgeLost ends a talking call whose bridge cannot be mended.
func (c *Call) bridgeLost(ctx context.Context, err error) {
	c.s.log.Error("resync: bridge not mended; ending the call", "call_id", c.id, "err", err)
	c.end = End{Result: EndOther, Reason: "bridge_failed"}
	c.hangupAgentLeg(ctx)
	c.hangupCaller(ctx, "congestion")
}

// resyncOverflow ends the overflow message whose PlaybackFinished may be
// among the lost events: the caller is hung up as after the message,
// never left on a silent line.
func (c *Call) resyncOverflow(ctx, octx context.Context) {
	if c.overflowPB == "" {
		return
	}
	_ = c.s.o.PBX.StopPlayback(octx, c.overflowPB)
	c.hangupCaller(ctx, "normal")
}
