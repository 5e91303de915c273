package ticket_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
)

// Tickets go to the sink in batches (SubmitTickets over real gRPC on
// loopback, outbox in a real Redis). In a batch with a ticket the sink
// refuses for now (Internal: retried) and one it refuses for good
// (InvalidArgument: dead-lettered), the good tickets are stored and
// submitted exactly once; the retried one is submitted again on its own
// until the sink takes it, and is stored once.
func TestBatchWithRefusedTicketsIsSettledPerTicket(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	rs, addr, path := startRefusingSink(t)

	good := ids("good", 60)
	all := append([]string{"refuse-internal-1", "refuse-invalid-1"}, good...)
	enqueue(t, ob, all...) // before the deliverer starts: full batches
	runDeliverer(t, ticket.Options{
		Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, addr), 2*time.Second, ""),
		Metrics: m, Workers: 2, SendBatch: 32, SendLinger: 20 * time.Millisecond,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	})
	waitUntil(t, 20*time.Second, "the good tickets stored and the retried one refused twice", func() bool {
		return len(fileTickets(t, path)) == len(good) && rs.refused.Load() >= 3
	})
	rs.accept.Store(true) // the sink takes the retried ticket now
	waitUntil(t, 20*time.Second, "the outbox empty", func() bool {
		n, err := ob.Backlog(ctxT(t, time.Second))
		return err == nil && n == 0
	})
	wantExactlyOnce(t, path, append([]string{"refuse-internal-1"}, good...))
	subs := rs.fs.Submits()
	for _, id := range good {
		if subs[id] != 1 {
			t.Errorf("good ticket %s submitted %d times, want once (a refused ticket of its batch is retried alone)", id, subs[id])
		}
	}
	if subs["refuse-internal-1"] != 1 { // the FileSink sees only the accepted submission
		t.Errorf("retried ticket reached the file sink %d times, want once", subs["refuse-internal-1"])
	}
	if subs["refuse-invalid-1"] != 0 {
		t.Errorf("dead-lettered ticket reached the file sink %d times", subs["refuse-invalid-1"])
	}
	dead, err := rdb.XRange(ctxT(t, time.Second), keys.Key("tickets", "dead"), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Values["id"] != "refuse-invalid-1" || dead[0].Values["reason"] != "invalid_argument" {
		t.Errorf("dead letters = %v, want refuse-invalid-1 with reason invalid_argument", dead)
	}
	if got := count(m, metrics.TicketDelivered); got != len(good)+1 {
		t.Errorf("tickets{delivered} = %d, want %d", got, len(good)+1)
	}
	if rs.singles.Load() != 0 || rs.biggest.Load() < 2 {
		t.Errorf("%d SubmitTicket calls and at most %d tickets per SubmitTickets; want batches only", rs.singles.Load(), rs.biggest.Load())
	}
	if rs.biggest.Load() > 32 {
		t.Errorf("a SubmitTickets call carried %d tickets, more than SendBatch 32", rs.biggest.Load())
	}
}

// A sink without SubmitTickets (Unimplemented) gets one SubmitTicket per
// ticket, each stored exactly once, and no ticket is dead-lettered for it.
func TestSinkWithoutBatchCallGetsSingleTickets(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	rs, addr, path := startRefusingSink(t)
	rs.noBatch.Store(true)
	want := ids("old", 40)
	enqueue(t, ob, want...)
	runDeliverer(t, ticket.Options{
		Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, addr), 2*time.Second, ""), Metrics: m, Workers: 4,
	})
	flush(t, ob)
	wantExactlyOnce(t, path, want)
	if got := rs.singles.Load(); got != int64(len(want)) {
		t.Errorf("%d SubmitTicket calls, want %d", got, len(want))
	}
	if got := count(m, metrics.TicketDeadLetter); got != 0 {
		t.Errorf("tickets{dead_letter} = %d, want 0", got)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Entries the batch path cannot hand on as they are — bytes that are no
// ticket, a ticket whose nested field the sink's decoder refuses (the top
// level reads fine), an ID field that is not the ticket's — are
// dead-lettered as undecodable, and the good tickets of the same batches
// reach the sink exactly once.
func TestBatchPathDeadLettersUndecodableEntries(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	ctx := ctxT(t, 30*time.Second)
	good := ids("good", 6)
	enqueue(t, ob, good[:3]...)
	nested := protowire.AppendBytes(protowire.AppendTag(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("bad-nested")), 9, protowire.BytesType), []byte{0xff, 0xff})
	valid, err := proto.Marshal(mkTicket("other-id"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []map[string]any{
		{"id": "bad-garbage", "t": "\xff\xff\xff"},
		{"id": "bad-nested", "t": string(nested)},
		{"id": "bad-id", "t": string(valid)},
	} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.Key("tickets", "outbox"), Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, ob, good[3:]...)
	path := tmpFile(t)
	s := startSink(t, "127.0.0.1:0", path, "")
	runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, ""),
		Metrics: m, Workers: 1, SendLinger: 50 * time.Millisecond})
	flush(t, ob)
	wantExactlyOnce(t, path, good)
	dead, _, err := ob.DeadLetters(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range dead {
		got[d.TicketID] = d.Reason
	}
	for _, id := range []string{"bad-garbage", "bad-nested", "bad-id"} {
		if got[id] != ticket.DeadUndecodable {
			t.Errorf("dead letter of %s: reason %q, want %q (all: %v)", id, got[id], ticket.DeadUndecodable, got)
		}
	}
	if len(dead) != 3 {
		t.Errorf("%d dead letters, want 3: %v", len(dead), got)
	}
}
