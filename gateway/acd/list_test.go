package acd_test

import (
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// List and Queue read the shared state: a second pool on the same Redis
// (another instance) sees the same agents and the queue in offer order.
func TestListAndQueueAreSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	p, _ := newPool(t, client(t, srv))
	other, _ := newPool(t, client(t, srv))
	login(t, p, "1002", 0)
	login(t, p, "1001", 0, general, "labour")
	ready(t, p, "1001")
	t0 := time.UnixMilli(time.Now().UnixMilli())
	ctx := testCtx(t)
	if err := p.Enqueue(ctx, general, "c-late", false, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := p.Enqueue(ctx, general, "c-early", false, t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Enqueue(ctx, general, "c-110", true, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	agents, err := other.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(agents) != 2 || agents[0].Extension != "1001" || agents[0].State != acd.Ready || len(agents[0].Skills) != 2 ||
		agents[1].Extension != "1002" || agents[1].State != acd.Paused {
		t.Fatalf("List = %+v", agents)
	}
	q, err := other.Queue(ctx, general)
	if err != nil {
		t.Fatal(err)
	}
	want := []acd.Waiter{
		{CallID: "c-110", Skill: general, Position: 1, Priority: true, Entered: t0.Add(2 * time.Second)},
		{CallID: "c-early", Skill: general, Position: 2, Entered: t0},
		{CallID: "c-late", Skill: general, Position: 3, Entered: t0.Add(time.Second)},
	}
	if len(q) != len(want) {
		t.Fatalf("Queue = %+v", q)
	}
	for i := range want {
		if q[i].CallID != want[i].CallID || q[i].Position != want[i].Position || q[i].Priority != want[i].Priority || !q[i].Entered.Equal(want[i].Entered) {
			t.Errorf("queue[%d] = %+v, want %+v", i, q[i], want[i])
		}
	}
	if q, err := other.Queue(ctx, "labour"); err != nil || len(q) != 0 {
		t.Errorf("empty queue: %+v, %v", q, err)
	}
	if _, err := other.Queue(ctx, "bad skill!"); err == nil {
		t.Error("a malformed skill accepted")
	}
}
