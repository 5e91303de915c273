package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelaysDoubleWithJitterUpToTheCeilingAndReset(t *testing.T) {
	b := New(100*time.Millisecond, 400*time.Millisecond)
	for i, ceil := range []time.Duration{100, 200, 400, 400, 400} {
		ceil *= time.Millisecond
		if d := b.Next(); d < ceil/2 || d > ceil {
			t.Fatalf("delay %d = %s, want within [%s, %s]", i, d, ceil/2, ceil)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %s, want at most 100ms", d)
	}
}

func TestSleepStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if New(time.Hour, time.Hour).Sleep(ctx) {
		t.Fatal("Sleep reported a full wait on a cancelled context")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not return at once")
	}
	if !New(time.Millisecond, time.Millisecond).Sleep(context.Background()) {
		t.Fatal("Sleep of 1ms did not complete")
	}
}
