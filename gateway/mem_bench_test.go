package gateway

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkCallMemory: what b.N live calls (each an owner goroutine with
// its mailbox, waiting in the queue with hold music) keep in this process
// — heap in use and goroutine stacks after a GC, per call — and what one
// call allocates from StasisStart to the queue.
func BenchmarkCallMemory(b *testing.B) {
	r := newRig(b, rigOptions{quiet: true})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		r.start(fmt.Sprint("m", i), EntryInbound, "12345")
	}
	waitFor(b, "every call queued", func() bool {
		n := 0
		for _, a := range r.pbx.Actions() {
			if strings.HasPrefix(a, "moh ") {
				n++
			}
		}
		return n == b.N
	})
	b.StopTimer()
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-B/call")
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stack-B/call")
	b.ReportMetric(float64(alloc)/n, "alloc-B/call") // the rig's fake PBX and polling included
	for i := range b.N {
		r.hangup(fmt.Sprint("m", i))
	}
	waitFor(b, "every call ended", func() bool { return r.svc.Active() == 0 })
}
