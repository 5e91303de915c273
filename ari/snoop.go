package ari

import (
	"context"
	"fmt"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

// Audio directions of a snoop channel (ARI's spy and whisper parameters),
// as seen from the snooped channel: "in" is the audio the channel sends
// into Asterisk (its party's voice), "out" the audio Asterisk sends to it
// (what its party hears).
const (
	DirNone = "none"
	DirIn   = "in"
	DirOut  = "out"
	DirBoth = "both"
)

func validDir(d string) bool {
	switch d {
	case DirNone, DirIn, DirOut, DirBoth:
		return true
	}
	return false
}

// SnoopParams describes a snoop channel on an existing channel.
type SnoopParams struct {
	// SnoopID is the new channel's ID, chosen by the caller so that it can
	// Attach it before the channel's StasisStart. Required.
	SnoopID string
	// Spy is the direction heard on the snoop channel, Whisper the
	// direction the snoop channel's own audio is injected into.
	Spy, Whisper string
	// App defaults to the client's application; AppArgs are its StasisStart
	// arguments.
	App, AppArgs string
}

// Snoop creates a snoop channel on channelID (POST /channels/{id}/snoop);
// it enters the application as a channel of its own.
func (c *Client) Snoop(ctx context.Context, channelID string, p SnoopParams) error {
	if err := checkID("snoop", "channel", channelID); err != nil {
		return err
	}
	if err := checkID("snoop", "snoop channel", p.SnoopID); err != nil {
		return err
	}
	if p.Spy == "" {
		p.Spy = DirNone
	}
	if p.Whisper == "" {
		p.Whisper = DirNone
	}
	if !validDir(p.Spy) || !validDir(p.Whisper) || p.Spy == DirNone && p.Whisper == DirNone {
		return fmt.Errorf("ari snoop %q: spy %q, whisper %q: each one of none, in, out, both, not both none", channelID, p.Spy, p.Whisper)
	}
	if p.App == "" {
		p.App = c.cfg.Application
	}
	opts := &ariv5.SnoopOptions{App: p.App, AppArgs: p.AppArgs, Spy: ariv5.Direction(p.Spy), Whisper: ariv5.Direction(p.Whisper)}
	return call0(ctx, c, "snoop", channelID, func() error {
		_, err := c.native.Channel().Snoop(chanKey(channelID), p.SnoopID, opts)
		return err
	})
}
