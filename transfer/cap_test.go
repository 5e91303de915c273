package transfer

import (
	"errors"
	"strings"
	"testing"
)

// A call may have transfer.max_per_call transfers; the next request is
// refused as wrong state naming the limit, and nothing is dialled.
func TestTransfersPerCallAreCapped(t *testing.T) {
	fx := newFixture(t, func(c *Config, _ *Call) { c.MaxPerCall = 3 })
	for range 3 {
		fx.handle(Request{Mode: ModeThreeParty, By: ByGRPC})
		fx.handle(PeerAnswered{})
		fx.handle(Cancel{By: ByGRPC})
	}
	_, err := fx.handleErr(Request{Mode: ModeBlind, By: ByDTMF})
	if !errors.Is(err, ErrTooMany) || !errors.Is(err, ErrWrongState) || !strings.Contains(err.Error(), "transfer.max_per_call = 3") {
		t.Fatalf("4th transfer: %v, want ErrTooMany (wrong state) naming transfer.max_per_call = 3", err)
	}
	if n := len(fx.pbx.originates); n != 3 {
		t.Fatalf("%d originates, want 3", n)
	}
	fx.wantState(Cancelled)
}

func TestMaxPerCallDefaultAndRange(t *testing.T) {
	if c := DefaultConfig(); c.MaxPerCall != 8 {
		t.Errorf("default max_per_call %d, want 8", c.MaxPerCall)
	}
	for _, n := range []int{-1, 101} {
		c := DefaultConfig()
		c.MaxPerCall = n
		if err := ValidateConfig(&c); err == nil || !strings.Contains(err.Error(), "transfer.max_per_call") {
			t.Errorf("max_per_call %d: %v, want an error naming transfer.max_per_call", n, err)
		}
	}
}
