package edge_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/edge"
	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/transfer"
)

// Fuzz tests of each gRPC request's validation at the edge: a random
// request never panics, reaches the gateway (the fakes below) only when
// every field the edge checks is valid, is refused with InvalidArgument,
// PermissionDenied or NotFound otherwise, and a valid one is accepted.

// fakeCalls records what reached the gateway.
type fakeCalls struct {
	mu        sync.Mutex
	originate []gateway.OriginateRequest
	transfers []string
	refs      []string
}

func (f *fakeCalls) Originate(_ context.Context, req gateway.OriginateRequest) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.originate = append(f.originate, req)
	return "ob-call-1", "connected", nil
}

func (f *fakeCalls) HasLine(n string) bool { return n == "12345" || n == "12333" }

func (f *fakeCalls) HandleTransfer(_ context.Context, callID, ext string, input func() (transfer.Input, error)) (transfer.Result, error) {
	in, err := input()
	if err != nil {
		return transfer.Result{}, err
	}
	if in == nil {
		return transfer.Result{}, context.Canceled
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transfers = append(f.transfers, callID)
	return transfer.Result{Record: &transfer.Record{CallID: callID, AgentExt: ext}}, nil
}

func (f *fakeCalls) AttachPoliceRef(_ context.Context, num, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs = append(f.refs, num+"|"+ref)
	return "call-from-110", nil
}

func (f *fakeCalls) reached() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.originate) + len(f.transfers) + len(f.refs)
}

// fakeCallbacks holds one open task, cb-1, for 13912345678.
type fakeCallbacks struct{ claims int }

func (f *fakeCallbacks) List(context.Context, string, bool) ([]callback.Task, error) {
	return []callback.Task{{ID: "cb-1", CallerNumber: "13912345678", Line: "12333", State: "open"}}, nil
}

func (f *fakeCallbacks) Claim(_ context.Context, id, ext string) (callback.Task, error) {
	f.claims++
	if id != "cb-1" {
		return callback.Task{}, callback.ErrNotFound
	}
	return callback.Task{ID: id, CallerNumber: "13912345678", Line: "12333", State: "claimed", ClaimedBy: ext}, nil
}

// refused reports whether err is one of the codes of a refused request.
func refused(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.NotFound:
		return true
	}
	return false
}

func asAgent(ext string) context.Context {
	return auth.NewContext(context.Background(), auth.Principal{Role: auth.RoleAgent, Name: ext, Extension: ext})
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func FuzzOriginate(f *testing.F) {
	pol, err := number.NewPolicy(number.Config{HomeAreaCode: "0739"})
	if err != nil {
		f.Fatal(err)
	}
	valid := []struct {
		ext, num       string
		purpose        int32
		line, tid, cid string
	}{
		{"1001", "13800138000", 1, "", "", ""},
		{"1001", "+86 138-0013-8000", 2, "12333", "", ""},
		{"1001", "5551234", 1, "12345", "", ""},
		{"1001", "", 2, "", "", "cb-1"},
	}
	for _, v := range valid {
		f.Add(v.ext, v.num, v.purpose, v.line, v.tid, v.cid)
	}
	for _, v := range []struct {
		ext, num       string
		purpose        int32
		line, tid, cid string
	}{
		{"1002", "13800138000", 1, "", "", ""}, // another agent
		{"1001", "110", 1, "", "", ""},         // emergency
		{"1001", "13800138000", 0, "", "", ""}, // no purpose
		{"1001", "13800138000", 1, "99999", "", ""},
		{"1001", "13800138000", 1, "", "bad id with spaces", ""},
		{"1001", "13800138000", 1, "", "", "cb-1"}, // call-back ID on a follow-up
		{"1001", "13800000000", 2, "", "", "cb-1"}, // not the task's number
		{"1001", "", 2, "", "", "cb-404"},
		{"1001", "\x00\xff", 7, "\n", "\xff", "\x00"},
	} {
		f.Add(v.ext, v.num, v.purpose, v.line, v.tid, v.cid)
	}
	// The valid requests are accepted, each reaching the gateway once.
	for _, v := range valid {
		calls := &fakeCalls{}
		cs := &edge.CallServer{Service: calls, Auth: auth.Agents{}, Numbers: pol, Callbacks: &fakeCallbacks{}, Log: quiet()}
		resp, err := cs.Originate(asAgent("1001"), &hotlinev1.OriginateRequest{AgentExtension: v.ext, Number: v.num,
			Purpose: hotlinev1.CallPurpose(v.purpose), Line: v.line, TicketId: v.tid, CallbackId: v.cid})
		if err != nil || resp.GetResult() != "connected" || calls.reached() != 1 {
			f.Fatalf("valid %+v: %v %v, reached %d; want accepted", v, resp, err, calls.reached())
		}
	}
	f.Fuzz(func(t *testing.T, ext, num string, purpose int32, ln, tid, cid string) {
		calls := &fakeCalls{}
		cs := &edge.CallServer{Service: calls, Auth: auth.Agents{}, Numbers: pol, Callbacks: &fakeCallbacks{}, Log: quiet()}
		req := &hotlinev1.OriginateRequest{AgentExtension: ext, Number: num, Purpose: hotlinev1.CallPurpose(purpose),
			Line: ln, TicketId: tid, CallbackId: cid}
		_, err := cs.Originate(asAgent("1001"), req)
		n := calls.reached()
		if err != nil {
			if n != 0 {
				t.Fatalf("%v: refused (%v) after reaching the gateway", req, err)
			}
			if !refused(err) {
				t.Fatalf("%v: %v; want InvalidArgument, PermissionDenied or NotFound", req, err)
			}
			return
		}
		if n != 1 {
			t.Fatalf("%v: accepted, but reached the gateway %d times", req, n)
		}
		got := calls.originate[0]
		// What reached the gateway is what the edge promises.
		if got.AgentExt != "1001" || ext != "1001" {
			t.Fatalf("%v: reached the gateway for agent %q", req, got.AgentExt)
		}
		if got.Purpose != "follow_up" && got.Purpose != "callback" {
			t.Fatalf("%v: reached the gateway with purpose %q", req, got.Purpose)
		}
		if ln != "" && !calls.HasLine(ln) {
			t.Fatalf("%v: reached the gateway with unknown line %q", req, ln)
		}
		if tid != "" && ticket.ValidateID(tid) != nil {
			t.Fatalf("%v: reached the gateway with ticket_id %q", req, tid)
		}
		if cid != "" && got.Purpose != "callback" {
			t.Fatalf("%v: a call-back ID reached the gateway on a follow-up", req)
		}
		if _, err := pol.Outbound(got.Number.Digits()); err != nil {
			t.Fatalf("%v: reached the gateway with number %q the policy refuses: %v", req, got.Number.Digits(), err)
		}
	})
}

func FuzzTransferRequests(f *testing.F) {
	f.Add(0, "1747300000.42", int32(1), int32(1), "note")
	f.Add(0, "1747300000.42", int32(1), int32(2), "")
	f.Add(0, "", int32(1), int32(1), "")
	f.Add(0, "x", int32(0), int32(1), "")
	f.Add(0, "x", int32(1), int32(0), "")
	f.Add(1, "1747300000.42", int32(0), int32(0), "")
	f.Add(2, "1747300000.42", int32(9), int32(9), "")
	f.Add(1, "", int32(0), int32(0), "")
	f.Add(0, strings.Repeat("9", 200), int32(1), int32(1), "")
	f.Fuzz(func(t *testing.T, op int, callID string, target, mode int32, note string) {
		calls := &fakeCalls{}
		ts := &edge.TransferServer{Service: calls, Auth: auth.Agents{}, Log: quiet()}
		ctx := asAgent("1001")
		var err error
		switch ((op % 3) + 3) % 3 {
		case 0:
			_, err = ts.Transfer(ctx, &hotlinev1.TransferRequest{CallId: callID, Target: hotlinev1.TransferTarget(target),
				Mode: hotlinev1.TransferMode(mode), Note: note})
			if err == nil && (target != int32(hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110) ||
				(mode != int32(hotlinev1.TransferMode_TRANSFER_MODE_BLIND) && mode != int32(hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY))) {
				t.Fatalf("Transfer(target %d, mode %d) accepted", target, mode)
			}
		case 1:
			_, err = ts.Complete(ctx, &hotlinev1.CompleteTransferRequest{CallId: callID})
		case 2:
			_, err = ts.Cancel(ctx, &hotlinev1.CancelTransferRequest{CallId: callID})
		}
		n := calls.reached()
		switch {
		case err != nil && n != 0:
			t.Fatalf("op %d %q: refused (%v) after reaching the call", op, callID, err)
		case err != nil && !refused(err):
			t.Fatalf("op %d %q: %v; want InvalidArgument", op, callID, err)
		case err == nil && (callID == "" || len(callID) > 128 || n != 1):
			t.Fatalf("op %d %q: accepted (reached %d times)", op, callID, n)
		}
	})
}

func FuzzPushPoliceReference(f *testing.F) {
	f.Add("13800138000", "110-2026-0001")
	f.Add("+8613800138000", "REF,adopted")
	f.Add("", "x")
	f.Add("138x", "ref")
	f.Add("13800138000", "")
	f.Add("13800138000", strings.Repeat("r", 65))
	f.Add("13800138000", "bad\nref")
	f.Add("++1", "\xff")
	f.Fuzz(func(t *testing.T, num, ref string) {
		calls := &fakeCalls{}
		ts := &edge.TransferServer{Service: calls, Auth: auth.Agents{}, Log: quiet()}
		ctx := auth.NewContext(context.Background(), auth.Principal{Role: auth.RolePolice110, Name: "110"})
		_, err := ts.PushPoliceReference(ctx, &hotlinev1.PushPoliceReferenceRequest{CallerNumber: num, PoliceReference: ref})
		n := calls.reached()
		if err != nil {
			if n != 0 || !refused(err) {
				t.Fatalf("(%q, %q): %v after reaching the gateway %d times", num, ref, err, n)
			}
			return
		}
		if n != 1 || num == "" || len(num) > 32 || strings.Trim(num[1:], "0123456789") != "" || ref == "" ||
			utf8.RuneCountInString(ref) > 64 || strings.ContainsAny(ref, "\x00\n\r") {
			t.Fatalf("(%q, %q) accepted", num, ref)
		}
		// An agent may never push one, whatever the request.
		if _, err := ts.PushPoliceReference(asAgent("1001"), &hotlinev1.PushPoliceReferenceRequest{CallerNumber: num, PoliceReference: ref}); status.Code(err) != codes.PermissionDenied || calls.reached() != 1 {
			t.Fatalf("an agent's push: %v", err)
		}
	})
}

// fakeRecords holds one record of agent 1001's call and one of 1002's.
type fakeRecords struct{ reads int }

func (f *fakeRecords) List(_ context.Context, callID string, limit int) ([]*transfer.Record, error) {
	f.reads++
	return []*transfer.Record{{CallID: callID, AgentExt: "1001"}, {CallID: callID, AgentExt: "1002"}}, nil
}

func (f *fakeRecords) Recent(ctx context.Context, limit int) ([]*transfer.Record, error) {
	return f.List(ctx, "c", limit)
}

func FuzzListTransfers(f *testing.F) {
	f.Add("", uint32(0), 0)
	f.Add("call-1", uint32(10), 1)
	f.Add("", uint32(1001), 2)
	f.Add("x", uint32(1<<31), 0)
	f.Add("x", uint32(1000), -7)
	f.Fuzz(func(t *testing.T, callID string, limit uint32, who int) {
		recs := &fakeRecords{}
		ts := &edge.TransferServer{Service: &fakeCalls{}, Auth: auth.Agents{}, Records: recs, Log: quiet()}
		p := []auth.Principal{{Role: auth.RoleAgent, Name: "1001", Extension: "1001"},
			{Role: auth.RoleSupervisor, Name: "sup"}, {Role: auth.RolePolice110, Name: "110"}}[((who%3)+3)%3]
		resp, err := ts.ListTransfers(auth.NewContext(context.Background(), p), &hotlinev1.ListTransfersRequest{CallId: callID, Limit: limit})
		if err != nil {
			if recs.reads != 0 || status.Code(err) != codes.InvalidArgument {
				t.Fatalf("limit %d: %v after %d reads", limit, err, recs.reads)
			}
			return
		}
		if limit > 1000 || recs.reads != 1 {
			t.Fatalf("limit %d accepted", limit)
		}
		want := 2
		if p.Role == auth.RoleAgent {
			want = 1 // its own call's record only
		}
		if len(resp.Transfers) != want {
			t.Fatalf("%s sees %d records, want %d", p, len(resp.Transfers), want)
		}
		for _, r := range resp.Transfers {
			if p.Role == auth.RoleAgent && r.GetAgentExtension() != "1001" {
				t.Fatalf("agent 1001 sees agent %s's record", r.GetAgentExtension())
			}
		}
	})
}

func FuzzCallbacks(f *testing.F) {
	f.Add("1001", "cb-1", "")
	f.Add("1002", "cb-1", "2026-11-26")
	f.Add("1001", "cb-404", "x")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, ext, id, day string) {
		cbs := &fakeCallbacks{}
		cs := &edge.CallServer{Service: &fakeCalls{}, Auth: auth.Agents{}, Callbacks: cbs, Log: quiet()}
		task, err := cs.ClaimCallback(asAgent("1001"), &hotlinev1.ClaimCallbackRequest{AgentExtension: ext, CallbackId: id})
		switch {
		case ext != "1001":
			if status.Code(err) != codes.PermissionDenied || cbs.claims != 0 {
				t.Fatalf("claim for %q by 1001: %v after %d claims", ext, err, cbs.claims)
			}
		case id == "cb-1":
			if err != nil || task.GetClaimedBy() != "1001" || task.GetCallerNumber() != "13912345678" {
				t.Fatalf("claim of cb-1: %v %v", task, err)
			}
		default:
			if !refused(err) {
				t.Fatalf("claim of %q: %v", id, err)
			}
		}
		list, err := cs.ListCallbacks(asAgent("1001"), &hotlinev1.ListCallbacksRequest{Day: day})
		if err != nil || len(list.Callbacks) != 1 || list.Callbacks[0].CallerNumber != "139****5678" {
			t.Fatalf("agent's list: %v %v; want the open task masked", list, err)
		}
		sup := auth.NewContext(context.Background(), auth.Principal{Role: auth.RoleSupervisor, Name: "sup"})
		if list, err := cs.ListCallbacks(sup, &hotlinev1.ListCallbacksRequest{Day: day}); err != nil || list.Callbacks[0].CallerNumber != "13912345678" {
			t.Fatalf("supervisor's list: %v %v; want the number whole", list, err)
		}
	})
}

// countsFake counts the queries that reached the counts.
type countsFake struct{ queries int }

func (c *countsFake) Query(context.Context, count.Range) (count.Totals, error) {
	c.queries++
	return count.Totals{}, nil
}

func (c *countsFake) QueryDays(context.Context, count.Range) ([]count.Day, error) {
	c.queries++
	return nil, nil
}

func (c *countsFake) QueryHours(context.Context, count.Range) ([24]count.Totals, error) {
	c.queries++
	return [24]count.Totals{}, nil
}

func FuzzGetStats(f *testing.F) {
	f.Add("2026-11-01", "2026-11-30")
	f.Add("2026-11-01", "")
	f.Add("", "")
	f.Add("2026-13-01", "2026-11-30")
	f.Add("2026-11-30", "2026-11-01")
	f.Add("yesterday", "\xff")
	loc, _ := time.LoadLocation("Asia/Shanghai")
	plan := line.New([]line.Config{{Number: "12345", Name: "main", Skill: "general"}}, line.Numbering{})
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, loc)
	f.Fuzz(func(t *testing.T, from, to string) {
		c := &countsFake{}
		s := &edge.StatsServer{Counter: c, Plan: plan, Location: loc, AnswerTarget: 15 * time.Second, Now: func() time.Time { return now }, Log: quiet()}
		sup := auth.NewContext(context.Background(), auth.Principal{Role: auth.RoleSupervisor, Name: "sup"})
		_, err := s.GetStats(sup, &hotlinev1.GetStatsRequest{From: from, To: to})
		_, perr := count.ParseRange(from, to, loc, now)
		switch {
		case (err == nil) != (perr == nil):
			t.Fatalf("GetStats(%q, %q) = %v, but the range parses with %v", from, to, err, perr)
		case err != nil && (c.queries != 0 || status.Code(err) != codes.InvalidArgument):
			t.Fatalf("GetStats(%q, %q): %v after %d queries", from, to, err, c.queries)
		case err == nil && c.queries != 1:
			t.Fatalf("GetStats(%q, %q) accepted with %d queries", from, to, c.queries)
		}
		if _, err := s.GetStats(asAgent("1001"), &hotlinev1.GetStatsRequest{From: from, To: to}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("an agent's GetStats: %v; want PermissionDenied", err)
		}
	})
}
