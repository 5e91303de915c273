package gateway

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/redis/go-redis/v9"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/count"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

const (
	fuSatisfied = hotlinev1.FollowUpVerdict_FOLLOW_UP_VERDICT_SATISFIED
	fuBasically = hotlinev1.FollowUpVerdict_FOLLOW_UP_VERDICT_BASICALLY_SATISFIED
)

// followUpRig is a rig with an agent pool (real redis-server) and agent
// 1001 ready, for outbound calls.
func followUpRig(t *testing.T, window time.Duration) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	var pool *acd.Pool
	r := newRig(t, rigOptions{tweak: func(o *Options) {
		pool = acd.New(acd.Options{Redis: rdb, Keys: store.NewKeys("futest"), Logger: slog.New(slog.DiscardHandler), Metrics: o.Metrics.ACD})
		o.Pool, o.Limiter, o.DispositionWindow = pool, &countingLimiter{}, window
		o.OutboundDialTemplate = "PJSIP/{number}@trunk"
	}})
	if _, err := pool.Login(ctx, "1001", []string{"main"}, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.SetReady(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	return r
}

// followUpCall makes agent 1001's follow-up call of ticket linked and
// connects it (both legs answer); it returns the call ID.
func (r *rig) followUpCall(linked string) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		id, result string
		err        error
	}
	done := make(chan res, 1)
	go func() {
		id, result, err := r.svc.Originate(ctx, OriginateRequest{AgentExt: "1001", Number: mustNumber(r.t, "13800138000"), Purpose: "follow_up", TicketID: linked})
		done <- res{id, result, err}
	}()
	var agentLeg string
	waitFor(r.t, "the agent leg originated", func() bool {
		for _, a := range r.pbx.Actions() {
			if f := strings.Fields(a); len(f) > 1 && f[0] == "originate" && strings.HasSuffix(f[1], "-agent") {
				agentLeg = f[1]
				return true
			}
		}
		return false
	})
	id := strings.TrimSuffix(agentLeg, "-agent")
	r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Channel: ariv5.ChannelData{ID: agentLeg}})
	waitFor(r.t, "the citizen leg originated", func() bool { return len(r.pbx.about(dialplan.CitizenLeg(id))) > 0 })
	r.disp.Dispatch(&ariv5.StasisStart{EventData: eventData("StasisStart"), Channel: ariv5.ChannelData{ID: dialplan.CitizenLeg(id)}})
	got := recv(r.t, "Originate's answer", done)
	if got.err != nil || got.result != ResultConnected || got.id != id {
		r.t.Fatalf("Originate = %q %q, %v; want %s connected", got.id, got.result, got.err, id)
	}
	return id
}

func (r *rig) setFollowUp(req FollowUpRequest) (FollowUpResult, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.svc.SetFollowUpVerdict(ctx, req)
}

// A verdict set during the follow-up call is on its ticket beside the
// linked ticket and counted once; another agent's is refused; set again,
// it replaces the first.
func TestFollowUpVerdictDuringTheCall(t *testing.T) {
	r := followUpRig(t, 0)
	id := r.followUpCall("T-first")
	if _, err := r.setFollowUp(FollowUpRequest{CallID: id, Verdict: fuSatisfied, Agent: "1002", SetBy: "agent 1002"}); !errors.Is(err, ErrNotOnCall) {
		t.Fatalf("another agent's verdict: %v; want ErrNotOnCall", err)
	}
	if _, err := r.setFollowUp(FollowUpRequest{CallID: id, Verdict: fuBasically, Agent: "1001", SetBy: "agent 1001"}); err != nil {
		t.Fatal(err)
	}
	res, err := r.setFollowUp(FollowUpRequest{CallID: id, Verdict: fuSatisfied, Note: "已解决", Agent: "1001", SetBy: "agent 1001"})
	if err != nil || res.AfterCall || res.LinkedTicketID != "T-first" {
		t.Fatalf("verdict during the call: %+v, %v", res, err)
	}
	r.hangup(dialplan.CitizenLeg(id))
	r.waitEnded(id)
	tk := r.ticket(id)
	if v := tk.GetFollowUpResult(); v.GetVerdict() != fuSatisfied || v.GetNote() != "已解决" || v.GetSetBy() != "agent 1001" || tk.GetLinkedTicketId() != "T-first" {
		t.Errorf("ticket %v; want SATISFIED linked to T-first", tk)
	}
	tot := r.counts()
	if tot.Sum(count.FollowUpSatisfied) != 1 || tot.Sum(count.FollowUpBasically) != 0 || tot.Get(count.FollowUpSatisfied, tk.GetLine()) != 1 {
		t.Errorf("counts %v; want followup_satisfied:%s = 1 only", tot, tk.GetLine())
	}
}

// Within the window after the call the verdict completes the held ticket,
// once; an inbound call's verdict is refused.
func TestFollowUpVerdictAfterTheCall(t *testing.T) {
	r := followUpRig(t, 5*time.Second)
	id := r.followUpCall("T-first")
	r.hangup(dialplan.CitizenLeg(id))
	r.waitEnded(id)
	if _, err := r.setFollowUp(FollowUpRequest{CallID: id, Verdict: fuSatisfied, Agent: "1002"}); !errors.Is(err, ErrNotOnCall) {
		t.Fatalf("another agent after the call: %v; want ErrNotOnCall", err)
	}
	res, err := r.setFollowUp(FollowUpRequest{CallID: id, Verdict: fuBasically, Agent: "1001", SetBy: "agent 1001"})
	if err != nil || !res.AfterCall || res.LinkedTicketID != "T-first" {
		t.Fatalf("verdict after the call: %+v, %v", res, err)
	}
	if _, err := r.setFollowUp(FollowUpRequest{CallID: id, Verdict: fuSatisfied, Agent: "1001"}); !errors.Is(err, ErrCallNotFound) {
		t.Errorf("second verdict after the ticket was written: %v; want ErrCallNotFound", err)
	}
	if v := r.ticket(id).GetFollowUpResult().GetVerdict(); v != fuBasically {
		t.Errorf("ticket verdict %v; want BASICALLY_SATISFIED", v)
	}

	r.talking("in1", "1001")
	if _, err := r.setFollowUp(FollowUpRequest{CallID: "in1", Verdict: fuSatisfied, Agent: "1001"}); !errors.Is(err, ErrNotFollowUp) {
		t.Errorf("verdict on an inbound call: %v; want ErrNotFollowUp", err)
	}
	r.hangup("in1")
	r.waitEnded("in1")
	if _, err := r.setFollowUp(FollowUpRequest{CallID: "in1", Verdict: fuSatisfied, Agent: "1001"}); !errors.Is(err, ErrNotFollowUp) {
		t.Errorf("verdict on an inbound call's held ticket: %v; want ErrNotFollowUp", err)
	}
	if _, err := r.setDisposition(DispositionRequest{CallID: "in1", Code: onSpot, Agent: "1001"}); err != nil {
		t.Errorf("the inbound ticket stays held for its disposition: %v", err)
	}
	tot := r.counts()
	if tot.Sum(count.FollowUpBasically) != 1 || tot.Sum(count.FollowUpSatisfied) != 0 {
		t.Errorf("counts %v; want followup_basically = 1 only", tot)
	}
}

// Bad verdicts are refused naming what is wrong.
func TestFollowUpVerdictRefused(t *testing.T) {
	for _, tc := range []struct {
		v    hotlinev1.FollowUpVerdict
		note string
		want string
	}{
		{0, "", "verdict 0"},
		{7, "", "verdict 7"},
		{fuSatisfied, strings.Repeat("答", MaxDispositionNote+1), "note has 501 characters"},
		{fuSatisfied, "\xff", "note is not UTF-8"},
	} {
		if err := CheckFollowUp(tc.v, tc.note); !errors.Is(err, ErrBadDisposition) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckFollowUp(%d, %.10q) = %v; want ErrBadDisposition saying %q", tc.v, tc.note, err, tc.want)
		}
	}
}
