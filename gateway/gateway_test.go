package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/dialplan"
	"github.com/hotline12345/hotline-gw/gateway/count"
)

func TestUnknownNumberRejected(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "99999")
	r.waitEnded("c1")

	if got, want := r.pbx.Actions(), []string{"hangup c1 unallocated"}; !slices.Equal(got, want) {
		t.Errorf("PBX requests %q, want %q (never answered)", got, want)
	}
	tot := r.counts()
	if got := tot.Get(count.Rejected, count.UnknownLine); got != 1 {
		t.Errorf("rejected:unknown = %d, want 1", got)
	}
	if got := tot.Sum(count.Inbound); got != 0 {
		t.Errorf("inbound = %d, want 0 for a rejected call", got)
	}
	if tks := r.tickets(); len(tks) != 0 {
		t.Errorf("tickets %v, want none for a rejected call", tks)
	}
	if r.disp.Routes() != 0 {
		t.Errorf("%d dispatcher routes left after the call", r.disp.Routes())
	}
}

func TestUnknownEntryRejected(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", "outbound-survey", "12345")
	r.waitEnded("c1")
	if got, want := r.pbx.Actions(), []string{"hangup c1 congestion"}; !slices.Equal(got, want) {
		t.Errorf("PBX requests %q, want %q", got, want)
	}
	if tot := r.counts(); len(tot) != 0 {
		t.Errorf("counts %v, want none", tot)
	}
}

func TestMergedLineAnsweredAndHeld(t *testing.T) {
	r := newRig(t, rigOptions{})
	// The trunk delivers the merged line 12333 in E.164 inside a SIP URI.
	r.start("c1", EntryInbound, "sip:+8612333@trunk.example;user=phone")
	r.waitAction("moh c1 hold")

	if got, want := r.pbx.Actions(), []string{"answer c1", "moh c1 hold"}; !slices.Equal(got, want) {
		t.Errorf("PBX requests %q, want %q", got, want)
	}
	var line, mainLine, skill string
	r.inspect("c1", func(c *Call) { line, mainLine, skill = c.line.Number, c.line.Main, c.skill })
	if line != "12333" || mainLine != "12345" || skill != "renshe" {
		t.Errorf("call on line %s (main %s) skill %s, want 12333 (main 12345) renshe", line, mainLine, skill)
	}
	if p := r.phase("c1"); p != phaseQueue {
		t.Errorf("phase %v, want queue (no pool: held until the caller hangs up)", p)
	}
	tot := r.counts()
	if tot.Get(count.Inbound, "12333") != 1 || tot.Get(count.Inbound, "12345") != 0 {
		t.Errorf("counts %v, want inbound:12333 = 1 only", tot)
	}
	if g := r.activeGauge("12333"); g != 1 {
		t.Errorf("active calls on 12333: %v, want 1", g)
	}

	r.hangup("c1")
	r.waitEnded("c1")
	if g := r.activeGauge("12333"); g != 0 {
		t.Errorf("active calls on 12333 after hangup: %v, want 0", g)
	}
	if tk := r.ticket("c1"); tk.GetLine() != "12333" || tk.GetMainLine() != "12345" {
		t.Errorf("ticket line %s main %s, want 12333 main 12345", tk.GetLine(), tk.GetMainLine())
	}
}

func TestFrom110GoesToMainLineWithPriority(t *testing.T) {
	r := newRig(t, rigOptions{})
	// Whatever number 110's trunk sends, the call is the main line's.
	r.start("c1", EntryFrom110, "110", "JJ-2024\x00-0001")
	r.waitAction("moh c1 hold")

	var priority bool
	var line string
	r.inspect("c1", func(c *Call) { priority, line = c.priority, c.line.Number })
	if !priority || line != "12345" {
		t.Errorf("from110 call: line %s priority %v, want 12345 with priority", line, priority)
	}
	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 1 || tot.Get(count.From110, "12345") != 1 || tot.Get(count.Rejected, count.UnknownLine) != 0 {
		t.Errorf("counts %v, want inbound:12345 = 1 and from110:12345 = 1", tot)
	}

	r.hangup("c1")
	r.waitEnded("c1")
	tk := r.ticket("c1")
	if tk.GetDirection() != hotlinev1.Direction_DIRECTION_FROM110 {
		t.Errorf("ticket direction %v, want FROM110", tk.GetDirection())
	}
	if tk.GetPoliceReference() != "JJ-2024-0001" {
		t.Errorf("police reference %q, want the control character dropped: JJ-2024-0001", tk.GetPoliceReference())
	}
	if tk.GetCalledNumber() != "110" || tk.GetLine() != "12345" {
		t.Errorf("ticket called %q line %q, want 110 on 12345", tk.GetCalledNumber(), tk.GetLine())
	}
}

func TestAbandonInQueueCountedOnce(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")

	// StasisEnd and ChannelDestroyed both arrive, and a late duplicate.
	r.hangup("c1")
	r.disp.Dispatch(&ariv5.StasisEnd{EventData: eventData("StasisEnd"), Channel: ariv5.ChannelData{ID: "c1"}})
	r.waitEnded("c1")

	tot := r.counts()
	if got := tot.Get(count.AbandonQueue, "12345"); got != 1 {
		t.Errorf("abandoned_queue:12345 = %d, want 1", got)
	}
	if got := tot.Sum(count.AbandonGreeting) + tot.Sum(count.AbandonRinging); got != 0 {
		t.Errorf("other abandons counted: %v", tot)
	}
	// Redis would hide a second Add; the wait histogram does not.
	if n := r.waitObservations("12345"); n != 1 {
		t.Errorf("wait observed %d times, want once", n)
	}
	if g := r.activeGauge("12345"); g != 0 {
		t.Errorf("active calls %v, want 0", g)
	}
	if tks := r.tickets(); len(tks) != 1 {
		t.Fatalf("%d tickets, want 1", len(tks))
	}
	for _, a := range r.pbx.Actions() {
		if a == "hangup c1 normal" {
			t.Errorf("the gateway hung up a caller that had already left: %q", r.pbx.Actions())
		}
	}
}

func TestAbandonedTicketContent(t *testing.T) {
	r := newRig(t, rigOptions{})
	before := time.Now()
	r.start("c1", EntryInbound, "073912333")
	r.waitAction("moh c1 hold")
	r.hangup("c1")
	r.waitEnded("c1")
	after := time.Now()

	tk := r.ticket("c1")
	check := func(field string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("ticket %s = %v, want %v", field, got, want)
		}
	}
	check("ticket_id", tk.GetTicketId(), "c1")
	check("call_id", tk.GetCallId(), "c1")
	check("direction", tk.GetDirection(), hotlinev1.Direction_DIRECTION_INBOUND)
	check("caller_number", tk.GetCallerNumber(), testCaller)
	check("called_number", tk.GetCalledNumber(), "073912333")
	check("line", tk.GetLine(), "12333")
	check("main_line", tk.GetMainLine(), "12345")
	check("skill", tk.GetSkill(), "renshe")
	check("end_reason", tk.GetEndReason(), "abandoned_queue")
	check("agent_extension", tk.GetAgentExtension(), "")
	check("gateway_instance", tk.GetGatewayInstance(), "gw-test")
	check("recording", tk.GetRecording(), "")
	check("talk_seconds", tk.GetTalkSeconds(), uint32(0))
	if tk.GetAnsweredAt() != nil {
		t.Errorf("answered_at %v for an abandoned call", tk.GetAnsweredAt())
	}
	entered, ended := tk.GetEnteredAt().AsTime(), tk.GetEndedAt().AsTime()
	if entered.Before(before.Truncate(time.Millisecond)) || ended.After(after) || ended.Before(entered) {
		t.Errorf("entered %v ended %v, want within [%v, %v] and in order", entered, ended, before, after)
	}
	if tk.GetWaitSeconds() > uint32(after.Sub(before)/time.Second) {
		t.Errorf("wait %d s longer than the test", tk.GetWaitSeconds())
	}
}

func TestGreetingThenQueue(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12315")
	r.waitAction("play c1 greet-c1 sound:welcome-12315")
	if p := r.phase("c1"); p != phaseGreeting {
		t.Fatalf("phase %v, want greeting", p)
	}
	if r.pbx.has("moh c1 hold") {
		t.Fatalf("music on hold during the greeting: %q", r.pbx.Actions())
	}
	// Another playback's end changes nothing.
	r.playbackFinished("c1", "some-other-playback")
	if p := r.phase("c1"); p != phaseGreeting {
		t.Fatalf("phase %v after an unrelated PlaybackFinished, want greeting", p)
	}
	r.playbackFinished("c1", "greet-c1")
	r.waitAction("moh c1 hold")
	if got, want := r.pbx.Actions(), []string{"answer c1", "play c1 greet-c1 sound:welcome-12315", "moh c1 hold"}; !slices.Equal(got, want) {
		t.Errorf("PBX requests %q, want %q", got, want)
	}
	if p := r.phase("c1"); p != phaseQueue {
		t.Errorf("phase %v, want queue", p)
	}
	r.hangup("c1")
	r.waitEnded("c1")
	if got := r.counts().Get(count.AbandonQueue, "12315"); got != 1 {
		t.Errorf("abandoned_queue:12315 = %d, want 1", got)
	}
}

func TestHangupDuringGreeting(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12315")
	r.waitAction("play c1 greet-c1 sound:welcome-12315")
	r.hangup("c1")
	r.waitEnded("c1")
	tot := r.counts()
	if tot.Get(count.AbandonGreeting, "12315") != 1 || tot.Sum(count.AbandonQueue) != 0 {
		t.Errorf("counts %v, want abandoned_greeting:12315 = 1", tot)
	}
	if got := r.ticket("c1").GetEndReason(); got != "abandoned_greeting" {
		t.Errorf("end reason %q, want abandoned_greeting", got)
	}
}

func TestGreetingFailureQueuesAtOnce(t *testing.T) {
	r := newRig(t, rigOptions{pbx: func(f *fakePBX) {
		f.play = func(context.Context, string, string, string) error { return errors.New("no such sound") }
	}})
	r.start("c1", EntryInbound, "12315")
	r.waitAction("moh c1 hold")
	if p := r.phase("c1"); p != phaseQueue {
		t.Errorf("phase %v, want queue", p)
	}
}

// An owner that fell behind gets an overflow notice and re-reads its channel
// from ARI: gone means the call ends (counted once, with its ticket); still
// there means the call goes on.
func TestOverflowNoticeResync(t *testing.T) {
	for _, tc := range []struct {
		name string
		gone bool
	}{{"channel gone", true}, {"channel still there", false}} {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			r := newRig(t, rigOptions{queueSize: 8, pbx: func(f *fakePBX) {
				f.answer = func(ctx context.Context, id string) error {
					once.Do(func() { close(entered) })
					select {
					case <-release:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				f.channel = func(ctx context.Context, id string) (*ariv5.ChannelData, error) {
					if tc.gone {
						return nil, notFound("channel", id)
					}
					return &ariv5.ChannelData{ID: id, State: "Up"}, nil
				}
			}})
			r.start("c1", EntryInbound, "12345")
			recv(t, "the owner to block in Answer", entered)

			// The owner is stuck in Answer: 8 events fit, 12 are dropped.
			for i := range 20 {
				r.disp.Dispatch(&ariv5.ChannelVarset{EventData: eventData("ChannelVarset"),
					Channel: ariv5.ChannelData{ID: "c1"}, Variable: "N", Value: fmt.Sprint(i)})
			}
			if got := testutil.ToFloat64(r.m.ARI.Overflow); got != 12 {
				t.Fatalf("overflowed %v events, want 12", got)
			}
			close(release)
			r.waitAction("channel c1")

			if tc.gone {
				r.waitEnded("c1")
				tot := r.counts()
				if tot.Get(count.Inbound, "12345") != 1 || tot.Get(count.AbandonQueue, "12345") != 1 {
					t.Errorf("counts %v, want inbound and abandoned_queue on 12345", tot)
				}
				if got := r.ticket("c1").GetEndReason(); got != "abandoned_queue" {
					t.Errorf("end reason %q, want abandoned_queue", got)
				}
				return
			}
			if p := r.phase("c1"); p != phaseQueue {
				t.Fatalf("phase %v after resync, want queue", p)
			}
			if n := len(r.pbx.about("c1")); !r.live("c1") || n != 3 {
				t.Errorf("call live %v, requests %q; want live after answer, moh, channel", r.live("c1"), r.pbx.Actions())
			}
			r.hangup("c1")
			r.waitEnded("c1")
			if g := r.activeGauge("12345"); g != 0 {
				t.Errorf("active calls %v, want 0", g)
			}
		})
	}
}

// A call whose Answer failed (ARI unavailable) is still in phase new; a
// resync then runs onStart again, which must not count the call twice.
func TestResyncAfterFailedAnswerCountsOnce(t *testing.T) {
	var answers int
	r := newRig(t, rigOptions{queueSize: 8, pbx: func(f *fakePBX) {
		f.answer = func(ctx context.Context, id string) error {
			answers++ // owner goroutine only
			if answers == 1 {
				return fmt.Errorf("ari answer %q: %w", id, ari.ErrUnavailable)
			}
			return nil
		}
		f.channel = func(ctx context.Context, id string) (*ariv5.ChannelData, error) {
			return &ariv5.ChannelData{ID: id}, nil
		}
	}})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("answer c1")
	// Hold the owner in a command while its mailbox overflows.
	c, _ := r.svc.call("c1")
	held, release := make(chan struct{}), make(chan struct{})
	c.send(func(*Call) { close(held); <-release })
	recv(t, "the owner to run the command", held)
	for range 10 {
		r.disp.Dispatch(&ariv5.ChannelVarset{EventData: eventData("ChannelVarset"), Channel: ariv5.ChannelData{ID: "c1"}})
	}
	close(release)
	r.waitAction("moh c1 hold")
	r.hangup("c1")
	r.waitEnded("c1")
	if g := r.activeGauge("12345"); g != 0 {
		t.Errorf("active calls %v after the only call ended, want 0", g)
	}
}

func TestDrainRejectsNewCalls(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if left := r.svc.Drain(ctx); left != 1 {
		t.Errorf("Drain left %d calls, want 1", left)
	}
	if r.svc.Accepting() {
		t.Error("still accepting while draining")
	}
	r.start("c2", EntryInbound, "12345")
	r.waitEnded("c2")
	if got := r.pbx.about("c2"); !slices.Equal(got, []string{"set_var c2 HOTLINE_RETRY 1", "continue c2"}) {
		t.Errorf("PBX requests for c2 %q, want the call returned to the dialplan for another gateway", got)
	}
	if !r.live("c1") {
		t.Error("the live call was ended by the drain")
	}

	r.hangup("c1")
	r.waitEnded("c1")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if left := r.svc.Drain(ctx2); left != 0 {
		t.Errorf("Drain with no live calls left %d", left)
	}
	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 1 || tot.Sum(count.Rejected) != 0 {
		t.Errorf("counts %v: a call refused while draining must not be counted", tot)
	}
	if tks := r.tickets(); len(tks) != 1 || tks[0].GetCallId() != "c1" {
		t.Errorf("tickets %v, want only c1's", tks)
	}
}

func TestOnConnectResync(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12345")
	r.start("c2", EntryInbound, "12333")
	r.waitAction("moh c1 hold")
	r.waitAction("moh c2 hold")

	r.pbx.set(func(f *fakePBX) {
		// c1 left while the gateway was disconnected; c3 was left by a
		// stopped gateway; old-agent is an agent leg a stopped gateway made.
		f.appChannels = func(context.Context) ([]string, error) { return []string{"c2", "c3", "old-agent"}, nil }
		f.getVar = func(ctx context.Context, id, name string) (string, error) {
			if name != dialplan.VarRole {
				return "", notFound("variable", name)
			}
			switch id {
			case "old-agent":
				return "agent", nil
			case "c3":
				return "", nil
			}
			return "", notFound("channel", id)
		}
		f.channel = func(ctx context.Context, id string) (*ariv5.ChannelData, error) {
			if id != "c3" {
				return nil, notFound("channel", id)
			}
			return &ariv5.ChannelData{ID: "c3", State: "Up", Caller: &ariv5.CallerID{Number: "13900139000"},
				Dialplan: &ariv5.DialplanCEP{Context: "from-trunk", Exten: "12345", Priority: 2}}, nil
		}
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})

	r.waitEnded("c1")
	r.waitAction("moh c3 hold")
	if !r.live("c2") || !r.live("c3") {
		t.Errorf("live c2 %v c3 %v, want both", r.live("c2"), r.live("c3"))
	}
	if !r.pbx.has("hangup old-agent normal") {
		t.Errorf("orphaned agent leg not hung up: %q", r.pbx.Actions())
	}
	if r.live("old-agent") {
		t.Error("an agent leg was adopted as a call")
	}
	for _, a := range r.pbx.about("c1") {
		if a == "hangup c1 normal" {
			t.Errorf("hung up a channel that is gone: %q", a)
		}
	}
	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 2 || tot.Get(count.Inbound, "12333") != 1 || tot.Get(count.AbandonQueue, "12345") != 1 {
		t.Errorf("counts %v, want inbound 12345 = 2 (c1, c3), 12333 = 1, abandoned_queue 12345 = 1 (c1)", tot)
	}
	if tk := r.ticket("c1"); tk.GetEndReason() != "abandoned_queue" {
		t.Errorf("c1 end reason %q", tk.GetEndReason())
	}
	var caller, line string
	r.inspect("c3", func(c *Call) { caller, line = c.caller, c.line.Number })
	if caller != "13900139000" || line != "12345" {
		t.Errorf("adopted call: caller %q line %q", caller, line)
	}
}

func TestOnConnectWhileDrainingAdoptsNothing(t *testing.T) {
	r := newRig(t, rigOptions{pbx: func(f *fakePBX) {
		f.appChannels = func(context.Context) ([]string, error) { return []string{"c9"}, nil }
	}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.svc.Drain(ctx)
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})
	if r.live("c9") || len(r.pbx.about("c9")) != 0 {
		t.Errorf("draining gateway touched c9: %q", r.pbx.Actions())
	}
}

func TestOnConnectAppChannelsFails(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.pbx.set(func(f *fakePBX) {
		f.appChannels = func(context.Context) ([]string, error) { return nil, ari.ErrUnavailable }
	})
	r.svc.OnConnect(context.Background(), ari.ConnectInfo{})
	if p := r.phase("c1"); p != phaseQueue {
		t.Errorf("phase %v: a failed listing must not end calls", p)
	}
}

func TestOnReplacedHandsOverWithoutCounting(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12345")
	r.start("c2", EntryInbound, "12315")
	r.waitAction("moh c1 hold")
	r.waitAction("play c2 greet-c2 sound:welcome-12315")

	r.svc.OnReplaced()
	r.waitEnded("c1")
	r.waitEnded("c2")

	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 1 || tot.Get(count.Inbound, "12315") != 1 {
		t.Errorf("inbound counts %v", tot)
	}
	if n := tot.Sum(count.AbandonQueue) + tot.Sum(count.AbandonGreeting); n != 0 {
		t.Errorf("handed-over calls counted as abandoned: %v", tot)
	}
	if tks := r.tickets(); len(tks) != 0 {
		t.Errorf("tickets %v: the adopting gateway writes them", tks)
	}
	for _, a := range r.pbx.Actions() {
		if a[:6] == "hangup" {
			t.Errorf("handed-over call torn down: %q", a)
		}
	}
	if g := r.activeGauge("12345") + r.activeGauge("12315"); g != 0 {
		t.Errorf("active gauge %v after hand-over, want 0", g)
	}
	if r.disp.Routes() != 0 {
		t.Errorf("%d routes left", r.disp.Routes())
	}
}

func TestCloseLeavesCallsToAsterisk(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.svc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r.live("c1") {
		t.Error("call still live after Close")
	}
	if tot := r.counts(); tot.Sum(count.AbandonQueue) != 0 {
		t.Errorf("counts %v: a call left to the next gateway is not abandoned", tot)
	}
	if got := r.pbx.Actions(); !slices.Equal(got, []string{"answer c1", "moh c1 hold"}) {
		t.Errorf("PBX requests %q", got)
	}
}

func TestCallLive(t *testing.T) {
	r := newRig(t, rigOptions{pbx: func(f *fakePBX) {
		f.channel = func(ctx context.Context, id string) (*ariv5.ChannelData, error) {
			switch id {
			case "elsewhere":
				return &ariv5.ChannelData{ID: id}, nil
			case "broken":
				return nil, ari.ErrUnavailable
			}
			return nil, notFound("channel", id)
		}
	}})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	ctx := context.Background()
	for _, tc := range []struct {
		id      string
		live    bool
		wantErr bool
	}{{"c1", true, false}, {"elsewhere", true, false}, {"gone", false, false}, {"broken", false, true}} {
		live, err := r.svc.CallLive(ctx, tc.id)
		if live != tc.live || (err != nil) != tc.wantErr {
			t.Errorf("CallLive(%s) = %v, %v; want %v, error %v", tc.id, live, err, tc.live, tc.wantErr)
		}
	}
}

// The spool retries while the outbox refuses; the ticket arrives once.
func TestTicketSpoolRetries(t *testing.T) {
	var refused int
	r := newRig(t, rigOptions{outbox: func(o *fakeOutbox) {
		o.fail = func(*hotlinev1.Ticket) error {
			if refused < 2 {
				refused++
				return errors.New("redis down")
			}
			return nil
		}
	}})
	r.start("c1", EntryInbound, "12345")
	r.waitAction("moh c1 hold")
	r.hangup("c1")
	r.waitEnded("c1")
	if tks := r.tickets(); len(tks) != 1 || tks[0].GetCallId() != "c1" {
		t.Errorf("tickets %v, want c1's once", tks)
	}
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	if refused != 2 {
		t.Errorf("outbox refused %d times, want 2", refused)
	}
}

func TestAnswerNotFoundEndsCall(t *testing.T) {
	r := newRig(t, rigOptions{pbx: func(f *fakePBX) {
		f.answer = func(ctx context.Context, id string) error { return notFound("channel", id) }
	}})
	r.start("c1", EntryInbound, "12345")
	r.waitEnded("c1")
	tot := r.counts()
	if tot.Get(count.Inbound, "12345") != 1 || tot.Get(count.AbandonGreeting, "12345") != 1 {
		t.Errorf("counts %v, want inbound and abandoned_greeting", tot)
	}
	if g := r.activeGauge("12345"); g != 0 {
		t.Errorf("active gauge %v", g)
	}
}

// New calls arriving while Drain waits (the ARI client still runs during the
// drain) must not race with it; run with -race.
func TestDrainConcurrentWithNewCalls(t *testing.T) {
	r := newRig(t, rigOptions{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r.svc.Drain(ctx)
		}
	}()
	for i := range 200 {
		r.start(fmt.Sprint("d", i), EntryInbound, "12345")
	}
	recv(t, "the drains", done)
	for i := range 200 {
		r.hangup(fmt.Sprint("d", i)) // calls accepted before the first drain
		r.waitEnded(fmt.Sprint("d", i))
	}
}

// 110's case reference pushed during a call from 110 lands on that call's
// ticket; a number with no live call from 110 matches nothing.
func TestPoliceReferenceAttachesToLiveCallFrom110(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryFrom110, "12345")
	r.waitAction("moh c1 hold")
	if id, _ := r.svc.AttachPoliceRef(context.Background(), "13000000000", "110-X"); id != "" {
		t.Fatalf("reference attached to %q for a caller with no call", id)
	}
	if id, _ := r.svc.AttachPoliceRef(context.Background(), testCaller, "110-2026-7"); id != "c1" {
		t.Fatalf("reference attached to %q, want c1", id)
	}
	r.hangup("c1")
	r.waitEnded("c1")
	tks := r.tickets()
	if len(tks) != 1 || tks[0].PoliceReference != "110-2026-7" {
		t.Fatalf("tickets %v, want one with the police reference", tks)
	}
	if id, _ := r.svc.AttachPoliceRef(context.Background(), testCaller, "late"); id != "" {
		t.Fatalf("reference attached to ended call %q", id)
	}
}

// Two live calls from 110 with the same trunk number cannot be told apart:
// a reference pushed for that number goes to neither (the push is refused
// with ErrPoliceRefAmbiguous) instead of to the wrong one; once one of them
// has ended it goes to the other.
func TestPoliceReferenceRefusedWhenTwoCallsShareTheNumber(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryFrom110, "12345")
	r.waitAction("moh c1 hold")
	r.start("c2", EntryFrom110, "12345")
	r.waitAction("moh c2 hold")
	id, err := r.svc.AttachPoliceRef(context.Background(), testCaller, "110-A")
	if !errors.Is(err, ErrPoliceRefAmbiguous) || id != "" {
		t.Fatalf("AttachPoliceRef with two calls = %q, %v; want ErrPoliceRefAmbiguous", id, err)
	}
	r.hangup("c1")
	r.waitEnded("c1")
	if id, err := r.svc.AttachPoliceRef(context.Background(), testCaller, "110-B"); err != nil || id != "c2" {
		t.Fatalf("AttachPoliceRef after c1 ended = %q, %v; want c2", id, err)
	}
	r.hangup("c2")
	r.waitEnded("c2")
	for _, tk := range r.tickets() {
		want := map[string]string{"c1": "", "c2": "110-B"}[tk.CallId]
		if tk.PoliceReference != want {
			t.Errorf("ticket %s has police reference %q, want %q", tk.CallId, tk.PoliceReference, want)
		}
	}
}
