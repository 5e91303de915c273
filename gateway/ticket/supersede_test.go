package ticket_test

import (
	"bufio"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
)

func stubTicket(id string) *hotlinev1.Ticket {
	t := mkTicket(id)
	t.EndReason, t.AgentExtension, t.TalkSeconds = ticket.EndReasonUnobserved, "", 0
	return t
}

func fullTicket(id string) *hotlinev1.Ticket {
	t := mkTicket(id)
	t.AgentExtension, t.PoliceReference = "1001", "110-2026-9"
	t.Transfers = []*hotlinev1.TransferRecord{{TransferId: "xfer-" + id}}
	return t
}

// lastLines reads the sink file: the last ticket stored for each ID.
func lastLines(t *testing.T, path string) map[string]*hotlinev1.Ticket {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*hotlinev1.Ticket{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		tk := &hotlinev1.Ticket{}
		if err := protojson.Unmarshal(sc.Bytes(), tk); err != nil {
			t.Fatal(err)
		}
		out[tk.GetTicketId()] = tk
	}
	return out
}

// The reaper of a healthy gateway writes a stub ("ended_unobserved") for a
// call whose owner lost Redis; the owner's full ticket, enqueued when Redis
// is back, supersedes the stub instead of being dropped as a duplicate.
// Before delivery the stub is not delivered at all (the sink sees the full
// ticket once); after delivery the sink gets the full ticket after the stub
// and keeps it. A stub never supersedes a full ticket.
func TestFullTicketSupersedesStub(t *testing.T) {
	rdb := newRedis(t)
	m := newMetrics()
	ob := newOutbox(rdb, m)
	add := func(tk *hotlinev1.Ticket) bool {
		t.Helper()
		added, err := ob.Add(ctxT(t, 5*time.Second), tk)
		if err != nil {
			t.Fatal(err)
		}
		return added
	}
	// Stub and full ticket both in the outbox before any delivery.
	if !add(stubTicket("early")) || !add(fullTicket("early")) {
		t.Fatal("the full ticket did not supersede the undelivered stub")
	}
	if add(stubTicket("early")) {
		t.Fatal("a stub was queued after the full ticket")
	}
	if add(fullTicket("early")) {
		t.Fatal("the full ticket was queued twice")
	}
	s := startSink(t, "127.0.0.1:0", tmpFile(t), "")
	runDeliverer(t, ticket.Options{Redis: rdb, Consumer: "gw-a", Sink: ticket.NewGRPCSink(dial(t, s.Addr), 5*time.Second, ""), Metrics: m})
	flush(t, ob)
	if n := s.Sink.Submits()["early"]; n != 1 {
		t.Errorf("sink got %d submits of the ticket whose stub was superseded before delivery, want 1 (the full one)", n)
	}

	// The stub delivered first, the full ticket enqueued afterwards.
	if !add(stubTicket("late")) {
		t.Fatal("stub not queued")
	}
	flush(t, ob)
	if !add(fullTicket("late")) {
		t.Fatal("the full ticket did not supersede the delivered stub")
	}
	flush(t, ob)
	if n := s.Sink.Submits()["late"]; n != 2 {
		t.Errorf("sink got %d submits of the ticket whose stub was delivered, want 2 (stub, then full)", n)
	}
	got := lastLines(t, s.Path)
	for _, id := range []string{"early", "late"} {
		tk := got[id]
		if tk.GetEndReason() != "completed" || tk.GetAgentExtension() != "1001" || len(tk.GetTransfers()) != 1 || tk.GetPoliceReference() == "" {
			t.Errorf("sink keeps %s as %v, want the full ticket", id, tk)
		}
	}
	if s.Sink.Len() != 2 {
		t.Errorf("sink stores %d distinct tickets, want 2", s.Sink.Len())
	}
}
