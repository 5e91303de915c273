package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// hangupFirst is the gateway's call-back store as seen by a test: it
// records, for each task added, whether the caller's hangup had already
// been requested (a refusal is never delayed by its task), and the errors.
type hangupFirst struct {
	*callback.Store
	pbx *fakePBX

	mu     sync.Mutex
	before map[string]bool // call ID → its hangup was requested before Add
	errs   int
}

func (h *hangupFirst) Add(ctx context.Context, t callback.Task) (callback.Task, bool, error) {
	hungUp := h.pbx.has("hangup "+t.CallID+" congestion") || h.pbx.has("hangup "+t.CallID+" normal")
	task, created, err := h.Store.Add(ctx, t)
	h.mu.Lock()
	if h.before == nil {
		h.before = map[string]bool{}
	}
	h.before[t.CallID] = hungUp
	if err != nil {
		h.errs++
	}
	h.mu.Unlock()
	return task, created, err
}

func (h *hangupFirst) addedAfterHangup(id string) (added, after bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	after, added = h.before[id]
	return added, after
}

// startFrom sends the StasisStart of a citizen's call from caller ("" for
// a withheld number) to dnis.
func (r *rig) startFrom(id, caller, dnis string) {
	r.disp.Dispatch(&ariv5.StasisStart{
		EventData: eventData("StasisStart"),
		Args:      []string{EntryInbound, dnis},
		Channel: ariv5.ChannelData{ID: id, Name: "PJSIP/trunk-" + id, State: "Ring",
			Caller:   &ariv5.CallerID{Number: caller},
			Dialplan: &ariv5.DialplanCEP{Context: "from-trunk", Exten: "dialplan-exten", Priority: 2}},
	})
}

// A caller refused with congestion (shed) becomes a call-back task once
// hung up, like one abandoned in the queue, with reason "shed": one task
// per caller per day (two refusals of the same caller: one task, two
// attempts), none for a withheld, anonymous or service number, counts
// exactly once. With the call-back Redis down, a refusal is still refused
// and counted once, an answered-then-refused caller still gets its ticket;
// only the task is missing, and that is logged.
func TestShedCallersBecomeCallbackTasks(t *testing.T) {
	cbRedis := redistest.Start(t)
	cbRDB := redis.NewClient(&redis.Options{Addr: cbRedis.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = cbRDB.Close() })
	st, err := callback.New(callback.Options{Redis: cbRDB, Keys: store.NewKeys("gwtest"), Logger: slog.New(slog.DiscardHandler),
		Metrics: metrics.New(prometheus.NewRegistry()).Outbound, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := number.NewPolicy(number.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var tasks *hangupFirst
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		withAdmission(AdmissionConfig{MaxCalls: 1, MaxARIInflight: 10, AnswerAttempts: 1})(o)
		tasks = &hangupFirst{Store: st}
		o.Numbers, o.Callbacks = numbers, tasks
	}})
	tasks.pbx = r.pbx

	r.startFrom("c1", "13900000001", "12345") // taken: the one call allowed
	r.waitAction("moh c1 hold")
	refused := []struct{ id, caller string }{
		{"s1", "13900000002"},
		{"s2", "13900000003"},
		{"s3", "13900000002"}, // the same citizen again, the same day
		{"w1", ""},            // withheld
		{"w2", "anonymous"},
		{"w3", "95588"}, // a service number: never called back
	}
	for _, c := range refused {
		r.startFrom(c.id, c.caller, "12345")
		r.waitAction("hangup " + c.id + " congestion")
		r.waitEnded(c.id)
	}
	for _, c := range refused {
		added, after := tasks.addedAfterHangup(c.id)
		want := strings.HasPrefix(c.id, "s")
		if added != want || (added && !after) {
			t.Errorf("call %s from %q: task added %v (after its hangup: %v), want added %v and only after the hangup", c.id, c.caller, added, after, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byCaller := func() map[string]callback.Task {
		t.Helper()
		list, err := st.List(ctx, "", false)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]callback.Task{}
		for _, task := range list {
			if _, dup := m[task.CallerNumber]; dup {
				t.Errorf("two tasks for %s today", task.CallerNumber)
			}
			m[task.CallerNumber] = task
		}
		return m
	}
	got := byCaller()
	if len(got) != 2 {
		t.Fatalf("tasks %+v, want 2 (13900000002, 13900000003)", got)
	}
	if a := got["13900000002"]; a.Attempts != 2 || a.CallID != "s1" || a.LastCallID != "s3" || a.Reason != callback.ReasonShed || a.LastReason != callback.ReasonShed || a.Line != "12345" || a.State != callback.Open {
		t.Errorf("task of 13900000002 %+v, want open, reason shed, 2 attempts (s1 first, s3 last)", a)
	}
	if b := got["13900000003"]; b.Attempts != 1 || b.CallID != "s2" || b.Reason != callback.ReasonShed {
		t.Errorf("task of 13900000003 %+v, want reason shed, 1 attempt (s2)", b)
	}

	// The taken caller hangs up in the queue: abandoned, told apart.
	r.hangup("c1")
	r.waitEnded("c1")
	if c := byCaller()["13900000001"]; c.Attempts != 1 || c.Reason != callback.ReasonAbandoned {
		t.Errorf("task of the caller abandoned in the queue %+v, want reason abandoned, 1 attempt", c)
	}
	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 7 || tot.Get(count.Shed, "12345") != 6 || tot.Get(count.AbandonQueue, "12345") != 1 || tot.Sum(count.Rejected) != 0 {
		t.Errorf("counts %v, want 12345: 7 inbound, 6 shed, 1 abandoned in queue", tot)
	}

	// The call-back Redis fails: refusals go on, counted once; the
	// answer-failed refusal keeps its ticket; only the tasks are missing.
	cbRedis.Stop()
	r.pbx.set(func(f *fakePBX) { f.load = ari.Load{InFlight: 10} })
	r.startFrom("s4", "13900000004", "12345")
	r.waitAction("hangup s4 congestion")
	r.waitEnded("s4")
	r.pbx.set(func(f *fakePBX) {
		f.load = ari.Load{}
		f.answer = func(ctx context.Context, id string) error {
			return fmt.Errorf("ari answer %q: %w: timeout", id, ari.ErrUnavailable)
		}
	})
	r.startFrom("a1", "13900000005", "12345")
	r.waitAction("hangup a1 congestion")
	r.hangup("a1")
	r.waitEnded("a1")
	if got := r.ticket("a1").GetEndReason(); got != "shed" {
		t.Errorf("ticket of the answer-failed refusal: end reason %q, want shed", got)
	}
	for _, id := range []string{"s4", "a1"} {
		if added, after := tasks.addedAfterHangup(id); !added || !after {
			t.Errorf("call %s: task tried %v, after its hangup %v; want tried after the hangup", id, added, after)
		}
	}
	tasks.mu.Lock()
	errs := tasks.errs
	tasks.mu.Unlock()
	if errs != 2 {
		t.Errorf("%d failed task additions, want 2 (s4, a1)", errs)
	}
	tot = r.counts()
	if tot.Get(count.Inbound, "12345") != 9 || tot.Get(count.Shed, "12345") != 8 || tot.Get(count.AbandonQueue, "12345") != 1 || tot.Sum(count.AbandonGreeting) != 0 {
		t.Errorf("counts %v with the call-back Redis down, want 12345: 9 inbound, 8 shed, 1 abandoned in queue", tot)
	}
	if r.shedMetric("12345", ShedCalls) != 6 || r.shedMetric("12345", ShedARIInflight) != 1 || r.shedMetric("12345", ShedAnswerFailed) != 1 {
		t.Errorf("shed metric calls %v, ari_inflight %v, answer_failed %v; want 6, 1, 1",
			r.shedMetric("12345", ShedCalls), r.shedMetric("12345", ShedARIInflight), r.shedMetric("12345", ShedAnswerFailed))
	}
}
