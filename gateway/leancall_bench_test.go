package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkRoutedCall runs routed calls (agent ready at once, answering,
// hanging up) through the fake PBX and a real redis-server, one after the
// other, and reports the Redis round trips per call (counts included) and
// the Redis server's CPU per call from INFO cpu: user (commands, scripts)
// and sys (mostly the test server's appendfsync always: one fsync per
// write step).
func BenchmarkRoutedCall(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l := newLeanRig(b, ctx, nil)
	l.routed(ctx, "warm", nil) // scripts loaded
	l.waitReady(ctx)
	l.hook.take()
	user0, sys0 := redisCPU(b, l.rdb)
	trips := 0
	b.ResetTimer()
	for i := range b.N {
		trips += len(l.routed(ctx, "b"+strconv.Itoa(i), nil))
		l.waitReady(ctx)
		l.hook.take() // the readiness polls are the benchmark's
		l.pbx.set(func(f *fakePBX) { f.actions = nil })
	}
	b.StopTimer()
	user1, sys1 := redisCPU(b, l.rdb)
	b.ReportMetric(float64(trips)/float64(b.N), "trips/call")
	b.ReportMetric((user1-user0)/float64(b.N), "redis-user-µs/call")
	b.ReportMetric((sys1-sys0)/float64(b.N), "redis-sys-µs/call")
}

// redisCPU returns the server's user and sys CPU time so far, in µs.
func redisCPU(b *testing.B, rdb *redis.Client) (user, sys float64) {
	b.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		var s float64
		if _, err := fmt.Sscanf(rest, "%g", &s); err != nil {
			continue
		}
		switch name {
		case "used_cpu_user":
			user = s * 1e6
		case "used_cpu_sys":
			sys = s * 1e6
		}
	}
	return user, sys
}
