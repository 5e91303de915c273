package ticket_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/gateway/ticket/sinkserver"
	"github.com/hotline12345/hotline-gw/metrics"
)

// refusingSink is a real TicketSink (a FileSink) behind a gRPC server on
// loopback that refuses every ticket whose ID starts with "refuse-<code>-"
// with that gRPC code, until accept is set.
type refusingSink struct {
	hotlinev1.UnimplementedTicketSinkServer
	fs      *sinkserver.FileSink
	accept  atomic.Bool
	refused atomic.Int64
	// noBatch answers SubmitTickets Unimplemented (a sink without it).
	noBatch atomic.Bool
	// singles and batches count SubmitTicket and SubmitTickets calls;
	// biggest is the most tickets one SubmitTickets carried.
	singles, batches, biggest atomic.Int64
}

var refuseCodes = map[string]codes.Code{
	"invalid":   codes.InvalidArgument,
	"precond":   codes.FailedPrecondition,
	"denied":    codes.PermissionDenied,
	"unimpl":    codes.Unimplemented,
	"notfound":  codes.NotFound,
	"internal":  codes.Internal,
	"unknown":   codes.Unknown,
	"exhausted": codes.ResourceExhausted,
	"exists":    codes.AlreadyExists,
}

func (s *refusingSink) SubmitTicket(ctx context.Context, req *hotlinev1.SubmitTicketRequest) (*hotlinev1.SubmitTicketResponse, error) {
	id := req.GetTicket().GetTicketId()
	if rest, ok := strings.CutPrefix(id, "refuse-"); ok && !s.accept.Load() {
		name, _, _ := strings.Cut(rest, "-")
		s.refused.Add(1)
		return nil, status.Errorf(refuseCodes[name], "the ticket system refuses %s", id)
	}
	s.singles.Add(1)
	return s.fs.SubmitTicket(ctx, req)
}

// SubmitTickets refuses the "refuse-" tickets of the batch one by one (as
// SubmitTicket would) and stores the others in the FileSink with one
// SubmitTickets.
func (s *refusingSink) SubmitTickets(ctx context.Context, req *hotlinev1.SubmitTicketsRequest) (*hotlinev1.SubmitTicketsResponse, error) {
	if s.noBatch.Load() {
		return s.UnimplementedTicketSinkServer.SubmitTickets(ctx, req)
	}
	s.batches.Add(1)
	for n := int64(len(req.GetTickets())); ; {
		b := s.biggest.Load()
		if n <= b || s.biggest.CompareAndSwap(b, n) {
			break
		}
	}
	res := make([]*hotlinev1.SubmitTicketResult, len(req.GetTickets()))
	var pass []*hotlinev1.Ticket
	var at []int
	for i, t := range req.GetTickets() {
		id := t.GetTicketId()
		if rest, ok := strings.CutPrefix(id, "refuse-"); ok && !s.accept.Load() {
			name, _, _ := strings.Cut(rest, "-")
			s.refused.Add(1)
			res[i] = &hotlinev1.SubmitTicketResult{TicketId: id, Code: int32(refuseCodes[name]), Message: "the ticket system refuses " + id}
			continue
		}
		pass, at = append(pass, t), append(at, i)
	}
	if len(pass) > 0 {
		out, err := s.fs.SubmitTickets(ctx, &hotlinev1.SubmitTicketsRequest{Tickets: pass})
		if err != nil {
			return nil, err
		}
		for j, r := range out.GetResults() {
			res[at[j]] = r
		}
	}
	return &hotlinev1.SubmitTicketsResponse{Results: res}, nil
}

func startRefusingSink(t *testing.T) (*refusingSink, string, string) {
	t.Helper()
	path := tmpFile(t)
	fs, err := sinkserver.Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	rs := &refusingSink{fs: fs}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := sinkserver.NewGRPCServer(rs, "")
	done := make(chan struct{})
	go func() { _ = srv.Serve(lis); close(done) }()
	t.Cleanup(func() { srv.Stop(); <-done; _ = fs.Close() })
	return rs, lis.Addr().String(), path
}

// Sixteen and more tickets that the sink refuses, with codes it will never
// change its mind about and with codes it might, never stop the delivery of
// the good ones, even with fewer workers than refused tickets.
func TestRefusedTicketsNeverBlockDelivery(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	rs, addr, path := startRefusingSink(t)

	var refused, permanent, retried []string
	for i := range 24 {
		name := []string{"invalid", "precond", "denied", "unimpl", "notfound", "internal", "unknown", "exhausted"}[i%8]
		id := fmt.Sprintf("refuse-%s-%02d", name, i)
		refused = append(refused, id)
		if c := refuseCodes[name]; c == codes.Internal || c == codes.Unknown || c == codes.ResourceExhausted {
			retried = append(retried, id)
		} else {
			permanent = append(permanent, id)
		}
	}
	enqueue(t, ob, refused...)
	runDeliverer(t, ticket.Options{
		Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, addr), 2*time.Second, ""),
		Metrics: m, Workers: 4, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	good := ids("good", 40)
	enqueue(t, ob, good...)
	enqueue(t, ob, "refuse-exists-1") // AlreadyExists: the sink has it; delivered as a duplicate

	// Every good ticket reaches the sink while the refused ones are still
	// being refused.
	ctx := ctxT(t, 20*time.Second)
	for {
		got := fileTickets(t, path)
		n := 0
		for _, id := range good {
			n += got[id]
		}
		if n == len(good) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d good tickets delivered with %d refused tickets in the outbox (sink refused %d times)",
				n, len(good), len(refused), rs.refused.Load())
		case <-time.After(50 * time.Millisecond):
		}
	}
	wantExactlyOnce(t, path, good)
	ctxD := ctxT(t, 10*time.Second)
	for count(m, metrics.TicketDuplicate) != 1 {
		select {
		case <-ctxD.Done():
			t.Fatalf("tickets{duplicate} = %d, want 1 (AlreadyExists)", count(m, metrics.TicketDuplicate))
		case <-time.After(20 * time.Millisecond):
		}
	}

	// Refused for good: in the dead letters at once, with the code as reason.
	dead := keys.Key("tickets", "dead")
	for {
		n, err := rdb.XLen(ctx, dead).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == int64(len(permanent)) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dead letters = %d, want %d", n, len(permanent))
		case <-time.After(20 * time.Millisecond):
		}
	}
	msgs, err := rdb.XRange(ctx, dead, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range msgs {
		id, _ := msg.Values["id"].(string)
		name := strings.Split(id, "-")[1]
		want := map[codes.Code]string{
			codes.InvalidArgument: "invalid_argument", codes.FailedPrecondition: "failed_precondition",
			codes.PermissionDenied: "permission_denied", codes.Unimplemented: "unimplemented", codes.NotFound: "not_found",
		}[refuseCodes[name]]
		if r, _ := msg.Values["reason"].(string); r != want {
			t.Errorf("dead letter %s: reason %q, want %q", id, r, want)
		}
	}
	if got := count(m, metrics.TicketDeadLetter); got != len(permanent) {
		t.Errorf("tickets{dead_letter} = %d, want %d", got, len(permanent))
	}
	// The others wait in the outbox for their next attempt.
	if n, err := ob.Backlog(ctx); err != nil || n != int64(len(retried)) {
		t.Errorf("backlog = %d, %v; want the %d retried tickets", n, err, len(retried))
	}
}

// A ticket refused too often, or for too long, is a dead letter with the
// reason and the count; dead letters are listed, requeued (and then
// delivered) and trimmed by age; an unreachable sink never dead-letters the
// backlog.
func TestDeadLettersByAttemptsAgeListRequeueTrim(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	rs, addr, path := startRefusingSink(t)

	enqueue(t, ob, "refuse-internal-1", "refuse-unknown-2", "refuse-denied-3", "refuse-exhausted-4")
	stop := runDeliverer(t, ticket.Options{
		Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, addr), 2*time.Second, ""),
		Metrics: m, Workers: 2, BackoffMin: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond,
		MaxAttempts: 3, MaxAge: time.Hour, BacklogEvery: 50 * time.Millisecond,
	})
	ctx := ctxT(t, 30*time.Second)
	waitDead := func(n int) []ticket.DeadLetter {
		t.Helper()
		for {
			list, _, err := ob.DeadLetters(ctx, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == n {
				return list
			}
			select {
			case <-ctx.Done():
				t.Fatalf("dead letters = %d, want %d: %+v", len(list), n, list)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	list := waitDead(3)
	byID := map[string]ticket.DeadLetter{}
	for _, dl := range list {
		byID[dl.TicketID] = dl
	}
	for id, want := range map[string]struct {
		reason   string
		attempts int
	}{
		"refuse-internal-1": {ticket.DeadMaxAttempts, 3},
		"refuse-unknown-2":  {ticket.DeadMaxAttempts, 3},
		"refuse-denied-3":   {"permission_denied", 0},
	} {
		dl, ok := byID[id]
		if !ok {
			t.Errorf("%s is not a dead letter", id)
			continue
		}
		if dl.Reason != want.reason || dl.Attempts != want.attempts || dl.Error == "" || dl.Entry == "" ||
			dl.Consumer != "gw-a" || dl.Ticket.GetTicketId() != id || dl.At.IsZero() {
			t.Errorf("dead letter %s = %+v, want reason %s after %d attempts, with error, entry, consumer and ticket", id, dl, want.reason, want.attempts)
		}
	}
	// The counter follows the dead letter's write: wait for it, then hold.
	for _, want := range []struct {
		reason string
		n      float64
	}{{ticket.DeadMaxAttempts, 2}, {"permission_denied", 1}} {
		deadline := time.Now().Add(5 * time.Second)
		for testutil.ToFloat64(m.DeadLetters.WithLabelValues(want.reason)) < want.n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := testutil.ToFloat64(m.DeadLetters.WithLabelValues(want.reason)); got != want.n {
			t.Errorf("dead_letters{%s} = %v, want %v", want.reason, got, want.n)
		}
	}
	// ResourceExhausted means "later": it counts towards MaxAge only.
	if n, err := ob.Backlog(ctx); err != nil || n != 1 {
		t.Errorf("backlog = %d, %v; want 1 (refuse-exhausted-4, still retried)", n, err)
	}

	// Paging.
	page1, next, err := ob.DeadLetters(ctx, "", 2)
	if err != nil || len(page1) != 2 || next == "" {
		t.Fatalf("first page = %d, next %q, %v", len(page1), next, err)
	}
	page2, next, err := ob.DeadLetters(ctx, next, 2)
	if err != nil || len(page2) != 1 || next != "" || page2[0].ID == page1[1].ID {
		t.Fatalf("second page = %+v, next %q, %v", page2, next, err)
	}

	// The ticket system is fixed: requeued dead letters are delivered.
	rs.accept.Store(true)
	for _, dl := range list {
		if _, err := ob.Requeue(ctx, dl.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ob.Requeue(ctx, list[0].ID); !errors.Is(err, ticket.ErrNoDeadLetter) {
		t.Errorf("requeue twice: %v, want ErrNoDeadLetter", err)
	}
	flush(t, ob)
	wantExactlyOnce(t, path, []string{"refuse-internal-1", "refuse-unknown-2", "refuse-denied-3", "refuse-exhausted-4"})
	waitDead(0)
	if n, err := rdb.HLen(ctx, keys.Key("tickets", "attempts")).Result(); err != nil || n != 0 {
		t.Errorf("attempt counters left = %d, %v; want 0", n, err)
	}
	stop()

	// Trimming by age: explicitly, and by the deliverer (on a fresh Redis:
	// a stream never takes an ID below its last one).
	rdb = newRedis(t)
	ob = newOutbox(rdb, m)
	dead := keys.Key("tickets", "dead")
	old := fmt.Sprintf("%d-0", time.Now().Add(-48*time.Hour).UnixMilli())
	for i, id := range []string{old, "*"} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: dead, ID: id, Values: map[string]any{"id": fmt.Sprintf("x-%d", i), "reason": "test"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := ob.TrimDeadLetters(ctx, 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("trim older than 24h = %d, %v; want 1", n, err)
	}
	runDeliverer(t, ticket.Options{
		Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, addr), 2*time.Second, ""),
		Metrics: m, BacklogEvery: 20 * time.Millisecond, DeadLetterMaxAge: time.Millisecond,
	})
	waitDead(0)
}

// A sink that is down for longer than MaxAttempts retries take dead-letters
// nothing; a ticket older than MaxAge does go to the dead letters.
func TestUnreachableSinkCountsOnlyTowardsMaxAge(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: Unavailable

	enqueue(t, ob, ids("down", 5)...)
	runDeliverer(t, ticket.Options{
		Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, addr), 200*time.Millisecond, ""),
		Metrics: m, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, RetryMax: 10 * time.Millisecond,
		MaxAttempts: 2, MaxAge: 2 * time.Second,
	})
	ctx := ctxT(t, 20*time.Second)
	time.Sleep(time.Second)
	if count(m, metrics.TicketRetried) < 10 {
		t.Fatalf("retried = %d, want many retries while the sink is down", count(m, metrics.TicketRetried))
	}
	if got := count(m, metrics.TicketDeadLetter); got != 0 {
		t.Fatalf("dead letters while the sink was down 1s = %d, want 0 (MaxAttempts counts refusals only)", got)
	}
	for {
		list, _, err := ob.DeadLetters(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 5 {
			if list[0].Reason != ticket.DeadMaxAge {
				t.Errorf("reason = %q, want %q", list[0].Reason, ticket.DeadMaxAge)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dead letters after MaxAge = %d, want 5", len(list))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
