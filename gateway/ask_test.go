package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/ari"
)

// holdOwner runs a command on the call's owner that blocks until release
// is closed, then ends the call: whatever was queued behind it is dropped.
func (r *rig) holdOwnerThenEnd(id string) (release chan struct{}) {
	r.t.Helper()
	c, ok := r.svc.call(id)
	if !ok {
		r.t.Fatalf("call %s is not live", id)
	}
	held := make(chan struct{})
	release = make(chan struct{})
	c.send(func(c *Call) {
		close(held)
		<-release
		c.channelGone("hangup")
	})
	recv(r.t, "the owner to run the command", held)
	return release
}

// A call that ends before OnConnect's check runs drops the check: OnConnect
// (on the ARI loop) still returns, at once, instead of waiting forever.
func TestOnConnectReturnsWhenACallEndsBeforeItsCheck(t *testing.T) {
	r := newRig(t, rigOptions{pbx: func(f *fakePBX) {
		f.appChannels = func(context.Context) ([]string, error) { return []string{"c1"}, nil }
	}})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	release := r.holdOwnerThenEnd("c1")

	done := make(chan struct{})
	go func() { r.svc.OnConnect(context.Background(), ari.ConnectInfo{}); close(done) }()
	r.waitAction("app_channels")
	time.Sleep(50 * time.Millisecond) // the check is queued behind the held command
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("OnConnect did not return after the call it was checking ended")
	}
	r.waitEnded("c1")
	if n := len(r.tickets()); n != 1 {
		t.Errorf("%d tickets, want 1", n)
	}
}

// 110 pushes a reference for a call whose owner ends before taking it: the
// push returns (no call) instead of hanging the RPC.
func TestAttachPoliceRefReturnsWhenTheCallEnds(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryFrom110, "12345")
	r.waitAction("moh c1 hold")
	release := r.holdOwnerThenEnd("c1")

	got := make(chan string, 1)
	go func() { id, _ := r.svc.AttachPoliceRef(context.Background(), testCaller, "110-late"); got <- id }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	select {
	case id := <-got:
		if id != "" {
			t.Errorf("reference attached to %q, a call that ended before taking it", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AttachPoliceRef did not return after the call ended")
	}
}

// An owner stuck in a request does not hold the asker past the deadline.
func TestAskGivesUpOnAStuckOwner(t *testing.T) {
	r := newRig(t, rigOptions{tweak: func(o *Options) { o.OpTimeout = 100 * time.Millisecond }})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	release := r.holdOwnerThenEnd("c1")
	defer close(release)
	c, _ := r.svc.call("c1")
	start := time.Now()
	_, err := ask(context.Background(), c, func(*Call) bool { return true })
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("ask = %v after %v, want ErrOwnerBusy within the ask timeout", err, time.Since(start))
	}
}
