package ticket_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// sinkDownFor is how long the sink stays down in TestSinkOutage. The lab
// requirement is 60s: HOTLINE_TICKET_SINK_DOWN=60s go test -run SinkOutage.
func sinkDownFor(t *testing.T) time.Duration {
	if v := os.Getenv("HOTLINE_TICKET_SINK_DOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("HOTLINE_TICKET_SINK_DOWN: %v", err)
		}
		return d
	}
	return 3 * time.Second
}

func newRedis(t *testing.T) redis.UniversalClient {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestSinkOutage(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)

	// The sink's address, with nothing listening on it yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	runDeliverer(t, ticket.Options{
		Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, addr), time.Second, ""),
		Metrics: m, Workers: 8, BackoffMax: 500 * time.Millisecond,
	})
	want := ids("outage", 200)
	enqueue(t, ob, want...)
	time.Sleep(sinkDownFor(t)) // the sink is down

	if n, err := ob.Backlog(ctxT(t, 5*time.Second)); err != nil || n != int64(len(want)) {
		t.Fatalf("backlog while the sink is down = %d, %v; want %d", n, err, len(want))
	}
	s := startSink(t, addr, tmpFile(t), "")
	flush(t, ob)

	wantExactlyOnce(t, s.Path, want)
	if got := count(m, metrics.TicketEnqueued); got != len(want) {
		t.Errorf("enqueued = %d, want %d", got, len(want))
	}
	if got := count(m, metrics.TicketDelivered) + count(m, metrics.TicketDuplicate); got != len(want) {
		t.Errorf("delivered+duplicate = %d, want %d", got, len(want))
	}
	if count(m, metrics.TicketRetried) == 0 {
		t.Error("no retries counted during the outage")
	}
}

// killingSink passes tickets to the real sink and, after the n-th stored
// one, "kills" its deliverer: it cancels the deliverer's context and
// reports failure, so the ticket is in the sink but never acknowledged.
type killingSink struct {
	inner ticket.Sink
	after int32
	n     atomic.Int32
	kill  func()
}

func (k *killingSink) Submit(ctx context.Context, t *hotlinev1.Ticket) (bool, error) {
	dup, err := k.inner.Submit(ctx, t)
	if err != nil {
		return dup, err
	}
	if k.n.Add(1) >= k.after {
		k.kill()
		return false, errors.New("killed before acknowledging")
	}
	return dup, nil
}

func TestKilledDelivererIsTakenOver(t *testing.T) {
	for _, tc := range []struct {
		name, next string
		claimIdle  time.Duration
	}{
		{"by another instance", "gw-b", time.Millisecond},
		{"by itself after restart", "gw-a", 0 /* default: its own pending entries need no claim */},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := newRedis(t)
			s := startSink(t, "127.0.0.1:0", tmpFile(t), "")
			sink := ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, "")
			ob := newOutbox(rdb, newMetrics())
			want := ids("kill", 200)
			enqueue(t, ob, want...)

			ks := &killingSink{inner: sink, after: 50}
			mA := newMetrics()
			var stopA func()
			killed := make(chan struct{})
			ks.kill = func() {
				select {
				case <-killed:
				default:
					close(killed)
				}
			}
			stopA = runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-a", Sink: ks, Metrics: mA, Workers: 4})
			<-killed
			stopA()

			pending, err := rdb.XPending(ctxT(t, 5*time.Second), keys.Key("tickets", "outbox"), ticket.Group).Result()
			if err != nil {
				t.Fatal(err)
			}
			if pending.Consumers["gw-a"] == 0 {
				t.Fatalf("killed deliverer left nothing pending: %+v", pending)
			}
			if s.Sink.Len() < 50 {
				t.Fatalf("sink has %d tickets before the takeover, want ≥ 50", s.Sink.Len())
			}

			mB := newMetrics()
			runDeliverer(t, ticket.Options{
				Redis: rdb, Consumer: tc.next, Sink: sink, Metrics: mB,
				ClaimIdle: tc.claimIdle, ClaimEvery: 20 * time.Millisecond,
			})
			flush(t, ob)

			wantExactlyOnce(t, s.Path, want)
			if count(mB, metrics.TicketDuplicate) == 0 {
				t.Error("the ticket stored but not acknowledged was not redelivered as a duplicate")
			}
			pending, err = rdb.XPending(ctxT(t, 5*time.Second), keys.Key("tickets", "outbox"), ticket.Group).Result()
			if err != nil {
				t.Fatal(err)
			}
			if pending.Count != 0 {
				t.Errorf("entries still pending after takeover: %+v", pending)
			}
		})
	}
}

func TestSameTicketEnqueuedTwiceIsDeliveredOnce(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	gw1, gw2 := newOutbox(rdb, m), newOutbox(rdb, m) // two instances finishing the same call
	added, err := gw1.Add(ctxT(t, 5*time.Second), mkTicket("twice-1"))
	if err != nil || !added {
		t.Fatalf("first Add = %v, %v; want true, nil", added, err)
	}
	added, err = gw2.Add(ctxT(t, 5*time.Second), mkTicket("twice-1"))
	if err != nil || added {
		t.Fatalf("second Add = %v, %v; want false, nil", added, err)
	}
	enqueue(t, gw2, "twice-1", "twice-2") // a replay, and another ticket
	s := startSink(t, "127.0.0.1:0", tmpFile(t), "")
	runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, ""), Metrics: m})
	flush(t, gw1)

	wantExactlyOnce(t, s.Path, []string{"twice-1", "twice-2"})
	if got := count(m, metrics.TicketEnqueued); got != 2 {
		t.Errorf("enqueued = %d, want 2", got)
	}
	if got := count(m, metrics.TicketDelivered); got != 2 {
		t.Errorf("delivered = %d, want 2", got)
	}
	if got := count(m, metrics.TicketDuplicate); got != 0 {
		t.Errorf("duplicate = %d, want 0", got)
	}
}

func TestEnqueueRejectsBadTicketIDs(t *testing.T) {
	rdb := newRedis(t)
	ob := newOutbox(rdb, newMetrics())
	for name, id := range map[string]string{
		"empty":     "",
		"oversized": strings.Repeat("a", ticket.MaxIDLen+1),
		"space":     "call 1",
		"newline":   "call-1\n",
		"control":   "call\x00",
		"non-ascii": "工单-1",
	} {
		err := ob.Enqueue(ctxT(t, 5*time.Second), mkTicket(id))
		if !errors.Is(err, ticket.ErrInvalidID) {
			t.Errorf("%s: Enqueue(%q) = %v, want ErrInvalidID", name, id, err)
		}
	}
	if err := ob.Enqueue(ctxT(t, 5*time.Second), nil); err == nil {
		t.Error("Enqueue(nil) succeeded")
	}
	if err := ob.Enqueue(ctxT(t, 5*time.Second), mkTicket(strings.Repeat("a", ticket.MaxIDLen))); err != nil {
		t.Errorf("Enqueue of a %d-byte ID: %v", ticket.MaxIDLen, err)
	}
	if n, _ := ob.Backlog(ctxT(t, 5*time.Second)); n != 1 {
		t.Errorf("backlog = %d, want 1 (only the valid ticket)", n)
	}
}

func TestMalformedEntriesGoToDeadLetters(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	stream, dead := keys.Key("tickets", "outbox"), keys.Key("tickets", "dead")
	ctx := ctxT(t, 10*time.Second)
	enqueue(t, ob, "ok-1")
	for _, v := range []map[string]any{
		{"id": "bad-1", "t": "\xff\xff\xff not protobuf"},
		{"id": "bad-2"}, // no ticket
	} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, ob, "ok-2")
	s := startSink(t, "127.0.0.1:0", tmpFile(t), "")
	runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, ""), Metrics: m})
	flush(t, ob)

	wantExactlyOnce(t, s.Path, []string{"ok-1", "ok-2"})
	if got := count(m, metrics.TicketDeadLetter); got != 2 {
		t.Errorf("dead_letter = %d, want 2", got)
	}
	msgs, err := rdb.XRange(ctx, dead, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("dead letters = %d, want 2", len(msgs))
	}
	for _, msg := range msgs {
		if r, _ := msg.Values["reason"].(string); r == "" || msg.Values["id"] == nil || msg.Values["entry"] == nil {
			t.Errorf("dead letter lacks reason, id or entry: %v", msg.Values)
		}
	}
}

func TestDelivererOnRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	m := newMetrics()
	ob := newOutbox(rdb, m)
	want := ids("cluster", 50)
	enqueue(t, ob, want...)
	enqueue(t, ob, want[0]) // replay
	s := startSink(t, "127.0.0.1:0", tmpFile(t), "")
	runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, ""), Metrics: m})
	flush(t, ob)
	wantExactlyOnce(t, s.Path, want)
}

func TestGRPCSinkSendsTokenAndMarksRejections(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", tmpFile(t), "s3cret")
	ctx := ctxT(t, 10*time.Second)
	good := ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, "s3cret")
	if dup, err := good.Submit(ctx, mkTicket("tok-1")); err != nil || dup {
		t.Fatalf("Submit with the token = %v, %v", dup, err)
	}
	bad := ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, "wrong")
	_, err := bad.Submit(ctx, mkTicket("tok-2"))
	if status.Code(err) != codes.Unauthenticated || errors.Is(err, ticket.ErrRejected) {
		t.Errorf("Submit with a wrong token = %v, want Unauthenticated (retried, not rejected)", err)
	}
	_, err = good.Submit(ctx, &hotlinev1.Ticket{})
	if status.Code(err) != codes.InvalidArgument || !errors.Is(err, ticket.ErrRejected) {
		t.Errorf("Submit without ticket_id = %v, want InvalidArgument wrapping ErrRejected", err)
	}
}

// A deliverer that stops cleanly hands back what it still holds: another
// instance, with the default claim_idle of a minute, takes the entries over
// on its next claim pass instead of a minute later (the second gateway of a
// pair leaving while tickets are on their way).
func TestStoppedDelivererHandsBackItsTickets(t *testing.T) {
	rdb := newRedis(t)
	s := startSink(t, "127.0.0.1:0", tmpFile(t), "")
	sink := ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, "")
	ob := newOutbox(rdb, newMetrics())
	want := ids("handback", 300)
	enqueue(t, ob, want...)

	stopping := make(chan struct{})
	ks := &killingSink{inner: sink, after: 20}
	var once sync.Once // 4 workers may reach the 20th ticket at once
	ks.kill = func() { once.Do(func() { close(stopping) }) }
	stopA := runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-a", Sink: ks, Metrics: newMetrics(), Workers: 4})
	<-stopping
	stopA()
	pending, err := rdb.XPending(ctxT(t, 5*time.Second), keys.Key("tickets", "outbox"), ticket.Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pending.Consumers["gw-a"] == 0 {
		t.Fatalf("the stopped deliverer holds nothing: the test did not stop it mid-delivery (%+v)", pending)
	}

	// The default claim_idle (60 s): without the hand-back nothing moves for a minute.
	mB := newMetrics()
	runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-b", Sink: sink, Metrics: mB, ClaimEvery: 50 * time.Millisecond})
	deadline := time.Now().Add(15 * time.Second)
	for s.Sink.Len() < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.Sink.Len(); n < len(want) {
		t.Fatalf("%d of %d tickets delivered 15 s after the first deliverer stopped: its entries were not handed back", n, len(want))
	}
	flush(t, ob)
	wantExactlyOnce(t, s.Path, want)
}

// stopAtAck cancels the deliverer's context just before its first
// acknowledgement (XACK) goes to Redis: the stop comes while a delivered
// ticket's ack is on its way.
type stopAtAck struct {
	stop func()
	once atomic.Bool
}

func (h *stopAtAck) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *stopAtAck) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *stopAtAck) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "xack" && h.once.CompareAndSwap(false, true) {
				h.stop()
			}
		}
		return next(ctx, cmds)
	}
}

// A deliverer stopped while the acknowledgement of a ticket it delivered
// is on its way still acknowledges it: the ticket leaves the outbox and is
// not handed back to be delivered again (a gateway leaving right after its
// last call ended, TestSecondGatewayJoinsAndLeaves).
func TestStopDuringAckDeliversOnce(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	s := startSink(t, "127.0.0.1:0", tmpFile(t), "")
	ob := newOutbox(rdb, newMetrics())
	want := []string{"ack-at-stop"}
	enqueue(t, ob, want...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	drdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { drdb.Close() })
	hook := &stopAtAck{stop: cancel}
	drdb.AddHook(hook)
	d, err := ticket.NewDeliverer(ticket.Options{Redis: drdb, Keys: keys, Consumer: "gw-a", Logger: quiet(),
		Sink: ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, ""), Metrics: newMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the deliverer did not stop")
	}
	if !hook.once.Load() {
		t.Fatal("no acknowledgement was sent: the test did not stop the deliverer during one")
	}
	stream := keys.Key("tickets", "outbox")
	rctx := ctxT(t, 5*time.Second)
	if n, err := rdb.XLen(rctx, stream).Result(); err != nil || n != 0 {
		t.Errorf("outbox holds %d entries (%v) after the deliverer stopped, want 0: the delivered ticket was not acknowledged", n, err)
	}
	if p, err := rdb.XPending(rctx, stream, ticket.Group).Result(); err != nil || p.Count != 0 {
		t.Errorf("pending %+v (%v), want none", p, err)
	}
	wantExactlyOnce(t, s.Path, want)
}
