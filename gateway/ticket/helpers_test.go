package ticket_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/gateway/ticket/sinkserver"
	"github.com/hotline12345/hotline-gw/metrics"
)

var keys = store.NewKeys("hltest")

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newMetrics() *metrics.Tickets { return metrics.New(prometheus.NewRegistry()).Tickets }

func count(m *metrics.Tickets, result string) int {
	return int(testutil.ToFloat64(m.Total.WithLabelValues(result)))
}

func mkTicket(id string) *hotlinev1.Ticket {
	now := time.Now()
	return &hotlinev1.Ticket{
		TicketId: id, CallId: id, Direction: hotlinev1.Direction_DIRECTION_INBOUND,
		CallerNumber: "13800000000", CalledNumber: "12345", Line: "12345", MainLine: "12345",
		EnteredAt: timestamppb.New(now.Add(-3 * time.Minute)), EndedAt: timestamppb.New(now),
		EndReason: "completed", WaitSeconds: 12, TalkSeconds: 150, GatewayInstance: "gw-test",
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sinkSrv is a FileSink served over gRPC on loopback.
type sinkSrv struct {
	Addr string
	Path string
	Sink *sinkserver.FileSink
	srv  *grpc.Server
	done chan struct{}
}

// startSink serves a FileSink on addr ("127.0.0.1:0" for any port).
func startSink(t testing.TB, addr, path, token string) *sinkSrv {
	t.Helper()
	fs, err := sinkserver.Open(path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sinkSrv{Addr: lis.Addr().String(), Path: path, Sink: fs, srv: sinkserver.NewGRPCServer(fs, token), done: make(chan struct{})}
	go func() { _ = s.srv.Serve(lis); close(s.done) }()
	t.Cleanup(s.Stop)
	return s
}

func (s *sinkSrv) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Stop()
	<-s.done
	_ = s.Sink.Close()
	s.srv = nil
}

func dial(t testing.TB, addr string) hotlinev1.TicketSinkClient {
	t.Helper()
	opts := append(ticket.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return hotlinev1.NewTicketSinkClient(cc)
}

// runDeliverer runs a Deliverer until the returned stop is called (or the
// test ends); stop waits for Run to return.
func runDeliverer(t testing.TB, o ticket.Options) (stop func()) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet()
	}
	o.Keys = keys
	d, err := ticket.NewDeliverer(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func newOutbox(rdb redis.UniversalClient, m *metrics.Tickets) *ticket.Outbox {
	return ticket.NewOutbox(ticket.OutboxOptions{Redis: rdb, Keys: keys, Logger: quiet(), Metrics: m, Timeout: 5 * time.Second})
}

func enqueue(t testing.TB, ob *ticket.Outbox, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := ob.Enqueue(ctxT(t, 5*time.Second), mkTicket(id)); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

func flush(t testing.TB, ob *ticket.Outbox) {
	t.Helper()
	if err := ob.Flush(ctxT(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// fileTickets reads the sink file: how many lines each ticket ID has.
func fileTickets(t testing.TB, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		tk := &hotlinev1.Ticket{}
		if err := protojson.Unmarshal(sc.Bytes(), tk); err != nil {
			t.Fatalf("sink file line %q: %v", sc.Text(), err)
		}
		got[tk.GetTicketId()]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// wantExactlyOnce checks that the sink file holds each of want once and nothing else.
func wantExactlyOnce(t testing.TB, path string, want []string) {
	t.Helper()
	got := fileTickets(t, path)
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("ticket %s is in the sink file %d times, want once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("sink file has %d distinct tickets, want %d", len(got), len(want))
	}
}

func tmpFile(t testing.TB) string { return filepath.Join(t.TempDir(), "tickets.jsonl") }
