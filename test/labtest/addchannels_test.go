package labtest

import (
	"context"
	"slices"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"

	"github.com/hotline12345/hotline-gw/ari"
)

// Two channels go into a bridge with one addChannel request of the real
// Asterisk 22 (ari.Client.AddChannels: a JSON array; the library's JSON
// string "a,b" was refused with "Channel not found"), and both are in the
// bridge afterwards. The lab's phones 1007 and 1008 answer the two legs.
func TestAddChannelsPutsBothLegsInTheBridgeInOneRequest(t *testing.T) {
	RequireLab(t)
	StartPhone(t, "1007", Answer)
	StartPhone(t, "1008", Answer)
	const app = "hotline-addchannels-test"
	c, err := ari.New(ari.Config{URL: ARIURL, Username: ARIUser, Password: ARIPass, Application: app}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(runCtx) }()
	defer func() { stop(); <-ran; c.CloseIdleConnections() }()
	for !c.Ready() {
		if ctx.Err() != nil {
			t.Fatal("ARI client not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}

	stamp := time.Now().Format("150405.000")
	legs := []string{"addch-" + stamp + "-a", "addch-" + stamp + "-b"}
	bridge := "addch-" + stamp + "-br"
	mb := c.Dispatcher().NewMailbox("addchannels-test", 0)
	for _, id := range legs {
		c.Dispatcher().Attach(ari.KindChannel, id, mb)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		for _, id := range legs {
			_ = c.Hangup(cctx, id, "normal")
		}
		_ = c.DestroyBridge(cctx, bridge)
		WaitNoChannels(t, 10*time.Second)
	}()
	for i, id := range legs {
		ext := []string{"1007", "1008"}[i]
		if err := c.Originate(ctx, ari.OriginateParams{ChannelID: id, Endpoint: "PJSIP/agent" + ext, Timeout: 10 * time.Second, AppArgs: "test"}); err != nil {
			t.Fatalf("originate %s: %v", ext, err)
		}
	}
	up := map[string]bool{}
	for len(up) < 2 {
		d, err := mb.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for both legs to answer (up: %v): %v", up, err)
		}
		if ev, ok := d.Event.(*ariv5.StasisStart); ok {
			up[ev.Channel.ID] = true
		}
	}
	if err := c.CreateBridge(ctx, bridge, "mixing"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddChannels(ctx, bridge, legs...); err != nil {
		t.Fatalf("AddChannels with both legs in one request: %v", err)
	}
	var in []string
	for {
		in, err = c.BridgeChannels(ctx, bridge)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) == 2 || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // the bridge takes the channels asynchronously
	}
	slices.Sort(in)
	if !slices.Equal(in, legs) {
		t.Fatalf("bridge %s holds %v, want both legs %v", bridge, in, legs)
	}
	// The single channel path still works (resync, transfers).
	if err := c.RemoveChannel(ctx, bridge, legs[1]); err != nil {
		t.Fatal(err)
	}
	if err := c.AddChannels(ctx, bridge, legs[1]); err != nil {
		t.Fatalf("AddChannels with one leg: %v", err)
	}
}
