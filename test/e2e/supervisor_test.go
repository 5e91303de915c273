package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
)

// supervisorPort is the lab supervisor 2101's phone (lab/asterisk/pjsip.conf).
const supervisorPort = 5321

func supervisorClient(t *testing.T, g *labtest.Gateway) hotlinev1.SupervisorServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(g.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hotlinev1.NewSupervisorServiceClient(conn)
}

type ariChannel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func ariChannels(t *testing.T) []ariChannel {
	t.Helper()
	var chs []ariChannel
	if err := labtest.ARIGet("/channels", &chs); err != nil {
		t.Fatalf("GET /channels: %v", err)
	}
	return chs
}

// snoopsOn returns the IDs of the snoop channels spying on channel id
// (Asterisk names them Snoop/<spied channel's unique ID>-<n>).
func snoopsOn(t *testing.T, id string) []string {
	t.Helper()
	re := regexp.MustCompile(`^Snoop/` + regexp.QuoteMeta(id) + `-[0-9a-f]{8}$`)
	var out []string
	for _, ch := range ariChannels(t) {
		if re.MatchString(ch.Name) {
			out = append(out, ch.ID)
		}
	}
	return out
}

// supervisorPhones returns the channels to supervisor 2101's phone.
func supervisorPhones(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, ch := range ariChannels(t) {
		if strings.HasPrefix(ch.Name, "PJSIP/supervisor2101-") {
			out = append(out, ch.ID)
		}
	}
	return out
}

func allSnoops(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, ch := range ariChannels(t) {
		if strings.HasPrefix(ch.Name, "Snoop/") {
			out = append(out, ch.Name)
		}
	}
	return out
}

func bridgeChannels(t *testing.T, id string) []string {
	t.Helper()
	var b struct {
		Channels []string `json:"channels"`
	}
	if err := labtest.ARIGet("/bridges/"+id, &b); err != nil {
		return nil
	}
	return b.Channels
}

func channelVar(t *testing.T, id, name string) string {
	t.Helper()
	var v struct {
		Value string `json:"value"`
	}
	if err := labtest.ARIGet("/channels/"+id+"/variable?variable="+name, &v); err != nil {
		// Not fatal: the gateway sets it just after the snoop channel
		// appears, and callers compare within Eventually.
		return fmt.Sprintf("<variable %s of %s: %v>", name, id, err)
	}
	return v.Value
}

// A supervisor monitors, whispers to, barges into and ends a live agent
// call: the supervisor's phone is rung once; Monitor's snoop channel spies
// on the citizen's leg while it lasts, Whisper's on the agent's leg with
// the whisper going to the agent only; Barge puts three channels in the
// call's bridge; End hangs the call up and the ticket says a supervisor
// ended it. Every action is on the ticket and in the audit log, and an
// agent's token is refused for each of them.
func TestSupervisorMonitorWhisperBargeEnd(t *testing.T) {
	l := startRoutingLab(t, "")
	// The agent's phone sends a minute of RTP: an audiohook (a snoop) only
	// detaches, and its snoop channel only goes, while its channel has media.
	labtest.StartRFC2833Phone(t, "1008", "#", 0, labtest.WithSilence(100*time.Millisecond, 60*time.Second))
	labtest.StartUAS(t, "2101", supervisorPort, labtest.Answer)
	d := labtest.OpenDesktop(t, l.g, "1008", "general")
	sc := supervisorClient(t, l.g)

	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Caller: "13900000123", Duration: 60 * time.Second, Ends: labtest.EndsByFarEnd})
	callID := waitOffer(t, d)
	var agentLeg string
	labtest.Eventually(t, 15*time.Second, func() error {
		chs := bridgeChannels(t, "br-"+callID)
		if len(chs) != 2 {
			return fmt.Errorf("bridge of call %s holds %v, want caller and agent", callID, chs)
		}
		for _, ch := range chs {
			if ch != callID {
				agentLeg = ch
			}
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sup := labtest.AsSupervisor(ctx)
	agent := d.Auth(ctx)
	req := &hotlinev1.SuperviseRequest{CallId: callID, SupervisorExtension: "2101"}

	// An agent's token is refused for every supervisor action.
	for name, fn := range map[string]func(context.Context) error{
		"Monitor": func(ctx context.Context) error { _, err := sc.Monitor(ctx, req); return err },
		"Whisper": func(ctx context.Context) error { _, err := sc.Whisper(ctx, req); return err },
		"Barge":   func(ctx context.Context) error { _, err := sc.Barge(ctx, req); return err },
		"End": func(ctx context.Context) error {
			_, err := sc.End(ctx, &hotlinev1.EndCallRequest{CallId: callID})
			return err
		},
		"ListLiveCalls": func(ctx context.Context) error {
			_, err := sc.ListLiveCalls(ctx, &hotlinev1.ListLiveCallsRequest{})
			return err
		},
	} {
		if err := fn(agent); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s with an agent's token: %v, want PermissionDenied", name, err)
		}
	}
	if _, err := sc.Monitor(sup, &hotlinev1.SuperviseRequest{CallId: callID, SupervisorExtension: "x1"}); status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), "supervisor_extension") {
		t.Errorf("Monitor with a bad extension: %v, want InvalidArgument naming supervisor_extension", err)
	}
	if _, err := sc.Monitor(sup, &hotlinev1.SuperviseRequest{CallId: "no-such-call", SupervisorExtension: "2101"}); status.Code(err) != codes.NotFound {
		t.Errorf("Monitor of an unknown call: %v, want NotFound", err)
	}

	// The supervisor sees the call and the agent.
	live, err := sc.ListLiveCalls(sup, &hotlinev1.ListLiveCallsRequest{})
	if err != nil {
		t.Fatalf("ListLiveCalls: %v", err)
	}
	found := false
	for _, c := range live.Calls {
		if c.CallId == callID && c.CallerNumber == "13900000123" && c.Line == "12345" {
			found = true
		}
	}
	if !found {
		t.Errorf("ListLiveCalls: call %s not listed: %v", callID, live.Calls)
	}
	onCall := false
	for _, a := range live.Agents {
		if a.Extension == "1008" && a.State == hotlinev1.AgentState_AGENT_STATE_ON_CALL && a.CallId == callID {
			onCall = true
		}
	}
	if !onCall {
		t.Errorf("ListLiveCalls: agent 1008 not listed on call %s: %v", callID, live.Agents)
	}

	// Monitor: the supervisor's phone rings; a snoop on the citizen's leg
	// is bridged with it.
	resp, err := sc.Monitor(sup, req)
	if err != nil {
		t.Fatalf("Monitor: %v", err)
	}
	leg := resp.SupervisorLeg
	labtest.Eventually(t, 10*time.Second, func() error {
		snoops := snoopsOn(t, callID)
		if len(snoops) != 1 {
			return fmt.Errorf("snoop channels on the citizen's leg %s: %v (all snoops %v), want 1", callID, snoops, allSnoops(t))
		}
		if got := channelVar(t, snoops[0], "HOTLINE_SNOOP"); got != "on="+callID+" spy=both whisper=none" {
			return fmt.Errorf("monitor snoop: %q", got)
		}
		if chs := bridgeChannels(t, "br-"+callID+"-sup"); len(chs) != 2 {
			return fmt.Errorf("supervisor bridge holds %v, want the snoop and the supervisor's phone", chs)
		}
		return nil
	})
	if p := supervisorPhones(t); len(p) != 1 || p[0] != leg {
		t.Errorf("channels to the supervisor's phone: %v, want its leg %s", p, leg)
	}

	// Whisper: the snoop moves to the agent's leg and whispers into what
	// the agent hears ("out" of the agent's channel), never the citizen.
	if resp, err := sc.Whisper(sup, req); err != nil || !resp.Switched {
		t.Fatalf("Whisper: %v %v", resp, err)
	}
	labtest.Eventually(t, 10*time.Second, func() error {
		if s := snoopsOn(t, callID); len(s) != 0 {
			return fmt.Errorf("snoops on the citizen's leg after Whisper: %v", s)
		}
		snoops := snoopsOn(t, agentLeg)
		if len(snoops) != 1 {
			return fmt.Errorf("snoop channels on the agent's leg %s: %v (all %v), want 1", agentLeg, snoops, allSnoops(t))
		}
		if got := channelVar(t, snoops[0], "HOTLINE_SNOOP"); got != "on="+agentLeg+" spy=both whisper=out" {
			return fmt.Errorf("whisper snoop: %q", got)
		}
		return nil
	})
	if chs := bridgeChannels(t, "br-"+callID); len(chs) != 2 {
		t.Errorf("call's bridge holds %v during Whisper, want only caller and agent", chs)
	}

	// Barge: three channels in the call's bridge, no snoop left.
	if _, err := sc.Barge(sup, req); err != nil {
		t.Fatalf("Barge: %v", err)
	}
	labtest.Eventually(t, 10*time.Second, func() error {
		chs := bridgeChannels(t, "br-"+callID)
		if len(chs) != 3 || !strings.Contains(strings.Join(chs, ","), leg) {
			return fmt.Errorf("call's bridge holds %v, want caller, agent and %s", chs, leg)
		}
		if s := allSnoops(t); len(s) != 0 {
			return fmt.Errorf("snoops left after Barge: %v", s)
		}
		return nil
	})
	if p := supervisorPhones(t); len(p) != 1 || p[0] != leg {
		t.Errorf("channels to the supervisor's phone: %v, want the one leg %s (mode switches do not ring again)", p, leg)
	}
	time.Sleep(time.Second) // a measurable barge

	// End: the call is hung up.
	if _, err := sc.End(sup, &hotlinev1.EndCallRequest{CallId: callID}); err != nil {
		t.Fatalf("End: %v", err)
	}
	select {
	case res := <-done:
		if res.HungUpByFarEnd != 1 {
			t.Errorf("caller: %v, want hung up by the far end", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not end after End")
	}
	labtest.WaitNoChannels(t, 10*time.Second)

	var ticket map[string]any
	labtest.Eventually(t, 15*time.Second, func() error {
		_, all := l.sink.Tickets(t)
		if ticket = all[callID]; ticket == nil {
			return fmt.Errorf("no ticket for call %s", callID)
		}
		return nil
	})
	if r := ticket["endReason"]; r != "ended_by_supervisor" {
		t.Errorf("ticket end_reason = %v, want ended_by_supervisor", r)
	}
	acts, _ := ticket["supervision"].([]any)
	var got []string
	for _, a := range acts {
		m := a.(map[string]any)
		got = append(got, fmt.Sprintf("%v/%v/%v", m["action"], m["supervisor"], m["extension"]))
		if m["startedAt"] == nil || m["endedAt"] == nil {
			t.Errorf("action %v without its times", m)
		}
		if m["action"] == "barge" {
			if s, _ := m["seconds"].(float64); s < 1 {
				t.Errorf("barge lasted %v s on the ticket, want at least 1", m["seconds"])
			}
		}
	}
	want := "monitor/lab-supervisor/2101 whisper/lab-supervisor/2101 barge/lab-supervisor/2101 end/lab-supervisor/<nil>"
	if strings.Join(got, " ") != want {
		t.Errorf("ticket supervision = %v, want %s", got, want)
	}

	// The audit log: who, which call, what, when and how long.
	log := l.g.Log()
	for _, action := range []string{"monitor", "whisper", "barge"} {
		re := regexp.MustCompile(`msg="audit: supervision ended" audit=supervision action=` + action +
			` supervisor=lab-supervisor supervisor_ext=2101 call_id=` + regexp.QuoteMeta(callID) + ` agent=1008 at=\S+ result=connected seconds=\d+`)
		started := regexp.MustCompile(`msg="audit: supervision (started|switched)" audit=supervision action=\S+ supervisor=lab-supervisor supervisor_ext=2101 call_id=` + regexp.QuoteMeta(callID))
		if !re.MatchString(log) {
			t.Errorf("audit log has no end of the %s with its duration", action)
		}
		if !started.MatchString(log) {
			t.Errorf("audit log has no start of the supervision")
		}
	}
	if !regexp.MustCompile(`msg="audit: call ended by supervisor" audit=supervision action=end supervisor=lab-supervisor supervisor_ext="" call_id=` + regexp.QuoteMeta(callID)).MatchString(log) {
		t.Errorf("audit log has no End of call %s", callID)
	}
}
