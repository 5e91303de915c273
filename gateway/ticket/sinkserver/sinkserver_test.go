package sinkserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/ticket/sinkserver"
)

type server struct {
	conn *grpc.ClientConn
	srv  *grpc.Server
	fs   *sinkserver.FileSink
	done chan struct{}
}

func serve(t *testing.T, path, token string) *server {
	t.Helper()
	fs, err := sinkserver.Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{srv: sinkserver.NewGRPCServer(fs, token), fs: fs, done: make(chan struct{})}
	go func() { _ = s.srv.Serve(lis); close(s.done) }()
	s.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	if s.srv == nil {
		return
	}
	s.conn.Close()
	s.srv.GracefulStop()
	<-s.done
	_ = s.fs.Close()
	s.srv = nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func submit(t *testing.T, c hotlinev1.TicketSinkClient, ctx context.Context, id string) bool {
	t.Helper()
	resp, err := c.SubmitTicket(ctx, &hotlinev1.SubmitTicketRequest{Ticket: &hotlinev1.Ticket{TicketId: id, CallId: id, Line: "12345"}})
	if err != nil {
		t.Fatalf("SubmitTicket(%s): %v", id, err)
	}
	return resp.GetDuplicate()
}

func TestValidationAndAuth(t *testing.T) {
	s := serve(t, filepath.Join(t.TempDir(), "t.jsonl"), "s3cret")
	c := hotlinev1.NewTicketSinkClient(s.conn)
	authed := metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Bearer s3cret")
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		req   *hotlinev1.SubmitTicketRequest
		code  codes.Code
		field string
	}{
		{"missing ticket", authed, &hotlinev1.SubmitTicketRequest{}, codes.InvalidArgument, "ticket"},
		{"missing ticket_id", authed, &hotlinev1.SubmitTicketRequest{Ticket: &hotlinev1.Ticket{CallId: "c"}}, codes.InvalidArgument, "ticket.ticket_id"},
		{"oversized ticket_id", authed, &hotlinev1.SubmitTicketRequest{Ticket: &hotlinev1.Ticket{TicketId: strings.Repeat("x", 129)}}, codes.InvalidArgument, "ticket.ticket_id"},
		{"no token", ctxT(t), &hotlinev1.SubmitTicketRequest{Ticket: &hotlinev1.Ticket{TicketId: "a"}}, codes.Unauthenticated, "authorization"},
		{"wrong token", metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Bearer nope"), &hotlinev1.SubmitTicketRequest{Ticket: &hotlinev1.Ticket{TicketId: "a"}}, codes.Unauthenticated, "authorization"},
	} {
		_, err := c.SubmitTicket(tc.ctx, tc.req)
		st := status.Convert(err)
		if st.Code() != tc.code || !strings.Contains(st.Message(), tc.field) {
			t.Errorf("%s: got %v, want %v naming %q", tc.name, err, tc.code, tc.field)
		}
	}
	if submit(t, c, authed, "ok-1") {
		t.Error("first submit reported duplicate")
	}
	if s.fs.Len() != 1 {
		t.Errorf("Len = %d, want 1 (rejected requests must not be stored)", s.fs.Len())
	}
	if got := s.fs.Submits(); len(got) != 1 || got["ok-1"] != 1 {
		t.Errorf("Submits = %v, want only ok-1:1 (invalid or unauthenticated requests are not submissions)", got)
	}
	// Health answers without a token.
	h, err := healthpb.NewHealthClient(s.conn).Check(ctxT(t), &healthpb.HealthCheckRequest{Service: hotlinev1.TicketSink_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v; want SERVING", h, err)
	}
}

func TestRestartedSinkStillDeduplicates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	s := serve(t, path, "")
	c := hotlinev1.NewTicketSinkClient(s.conn)
	for _, id := range []string{"r-1", "r-2", "r-3"} {
		if submit(t, c, ctxT(t), id) {
			t.Fatalf("%s: duplicate on first submit", id)
		}
	}
	if !submit(t, c, ctxT(t), "r-2") {
		t.Fatal("repeat not reported duplicate")
	}
	// Every submission is counted, the duplicate too; the file keeps one line.
	if got := s.fs.Submits(); len(got) != 3 || got["r-1"] != 1 || got["r-2"] != 2 || got["r-3"] != 1 {
		t.Errorf("Submits = %v, want r-1:1 r-2:2 r-3:1", got)
	}
	s.stop()

	// A crash in the middle of an unconfirmed write leaves a partial line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"ticketId":"r-4","ca`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s = serve(t, path, "")
	c = hotlinev1.NewTicketSinkClient(s.conn)
	if s.fs.Len() != 3 {
		t.Fatalf("restarted sink loaded %d tickets, want 3", s.fs.Len())
	}
	for _, id := range []string{"r-1", "r-2", "r-3"} {
		if !submit(t, c, ctxT(t), id) {
			t.Errorf("%s: restarted sink did not report duplicate", id)
		}
	}
	if submit(t, c, ctxT(t), "r-4") {
		t.Error("r-4 (only partially written before) reported duplicate")
	}
	s.stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("file has %d lines, want 4:\n%s", len(lines), b)
	}
}

// A full ticket replaces a stored stub (the reaper's "ended_unobserved")
// with the same ID, also after a restart; a stub never replaces anything,
// and the full ticket is deduplicated like any other.
func TestFullTicketReplacesStoredStub(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	s := serve(t, path, "")
	c := hotlinev1.NewTicketSinkClient(s.conn)
	put := func(c hotlinev1.TicketSinkClient, reason string) bool {
		t.Helper()
		resp, err := c.SubmitTicket(ctxT(t), &hotlinev1.SubmitTicketRequest{Ticket: &hotlinev1.Ticket{
			TicketId: "s-1", CallId: "s-1", Line: "12345", EndReason: reason}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetDuplicate()
	}
	if put(c, "ended_unobserved") {
		t.Fatal("stub: duplicate on first submit")
	}
	s.stop()
	s = serve(t, path, "")
	c = hotlinev1.NewTicketSinkClient(s.conn)
	if !put(c, "ended_unobserved") {
		t.Fatal("a repeated stub was stored again")
	}
	if put(c, "completed") {
		t.Fatal("the full ticket was refused as a duplicate of the stored stub")
	}
	if !put(c, "completed") || !put(c, "ended_unobserved") {
		t.Fatal("the full ticket, or a stub after it, was stored again")
	}
	if s.fs.Len() != 1 {
		t.Errorf("sink holds %d distinct tickets, want 1", s.fs.Len())
	}
	s.stop()
	s = serve(t, path, "")
	c = hotlinev1.NewTicketSinkClient(s.conn)
	if !put(c, "ended_unobserved") || !put(c, "completed") {
		t.Fatal("after a restart the full ticket was not kept over the stub")
	}
}

// SubmitTickets answers per ticket (stored, duplicate of a stored ticket or
// of one earlier in the batch, refused as malformed), writes the batch with
// one fsync, and the IDs stay deduplicated after a restart.
func TestSubmitTicketsOneFsyncPerBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	s := serve(t, path, "")
	c := hotlinev1.NewTicketSinkClient(s.conn)
	submit(t, c, ctxT(t), "old-1")
	before := s.fs.Commits()
	tk := func(id string) *hotlinev1.Ticket { return &hotlinev1.Ticket{TicketId: id, CallId: id, Line: "12345"} }
	var ts []*hotlinev1.Ticket
	for i := range 100 {
		ts = append(ts, tk(fmt.Sprintf("b-%03d", i)))
	}
	ts = append(ts, tk("old-1"), tk("b-007"), tk("bad id"), tk(""))
	resp, err := c.SubmitTickets(ctxT(t), &hotlinev1.SubmitTicketsRequest{Tickets: ts})
	if err != nil {
		t.Fatal(err)
	}
	rs := resp.GetResults()
	if len(rs) != len(ts) {
		t.Fatalf("%d results for %d tickets", len(rs), len(ts))
	}
	for i, r := range rs[:100] {
		if r.GetTicketId() != ts[i].GetTicketId() || r.GetDuplicate() || r.GetCode() != 0 {
			t.Errorf("result %d = %v, want %s stored", i, r, ts[i].GetTicketId())
		}
	}
	if r := rs[100]; !r.GetDuplicate() || r.GetCode() != 0 {
		t.Errorf("already stored old-1: %v, want duplicate", r)
	}
	if r := rs[101]; !r.GetDuplicate() || r.GetCode() != 0 {
		t.Errorf("b-007 twice in the batch: %v, want duplicate the second time", r)
	}
	for _, r := range rs[102:] {
		if codes.Code(r.GetCode()) != codes.InvalidArgument || !strings.Contains(r.GetMessage(), "ticket_id") {
			t.Errorf("malformed ticket: %v, want InvalidArgument naming ticket_id", r)
		}
	}
	if got := s.fs.Commits() - before; got != 1 {
		t.Errorf("the batch took %d write+fsync, want 1", got)
	}
	if s.fs.Len() != 101 {
		t.Errorf("Len = %d, want 101", s.fs.Len())
	}
	for _, req := range []*hotlinev1.SubmitTicketsRequest{{}, {Tickets: make([]*hotlinev1.Ticket, sinkserver.MaxBatch+1)}} {
		if _, err := c.SubmitTickets(ctxT(t), req); status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "tickets") {
			t.Errorf("SubmitTickets with %d tickets: %v, want InvalidArgument naming tickets", len(req.GetTickets()), err)
		}
	}
	s.stop()
	s = serve(t, path, "")
	resp, err = hotlinev1.NewTicketSinkClient(s.conn).SubmitTickets(ctxT(t), &hotlinev1.SubmitTicketsRequest{Tickets: []*hotlinev1.Ticket{tk("b-050"), tk("new-1")}})
	if err != nil {
		t.Fatal(err)
	}
	if rs := resp.GetResults(); !rs[0].GetDuplicate() || rs[1].GetDuplicate() {
		t.Errorf("after a restart: %v, want b-050 duplicate and new-1 stored", rs)
	}
}
