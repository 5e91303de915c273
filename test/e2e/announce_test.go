package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/test/labtest"
)

// announceYAML: the general group announces every 3 s with Asterisk's
// stock sounds and offers a call-back on key 1.
const announceYAML = `  groups:
    - skill: general
      announce:
        every: 2s
        position: [sound:queue-thereare, "digits:{position}", sound:queue-callswaiting]
        wait: [sound:queue-holdtime, "digits:{minutes}", sound:minutes]
        callback_key: "1"
        goodbye: sound:vm-goodbye
`

// A caller waiting with no ready agent hears its position and the
// expected wait (from the group's last answered call) 2 s after joining
// the queue and 2 s after each announcement ends, as
// Asterisk's PlaybackStarted events show; pressing 1 (RFC 2833) creates
// one call-back task, plays the goodbye and ends the call, counted
// callback_requested and not abandoned.
func TestQueueAnnouncementAndCallbackKey(t *testing.T) {
	l := startRoutingLab(t, announceYAML)
	watch := labtest.WatchARIEvents(t, "labtest-watch")
	labtest.StartPhone(t, "1001", labtest.Answer, "-set", "ring", "500")
	d := labtest.OpenDesktop(t, l.g, "1001", "general")

	// One answered call gives the group a recent answer time.
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Caller: "13900000201", Duration: 4 * time.Second}); res.Successful != 1 {
		t.Fatalf("first call: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	labtest.Eventually(t, 10*time.Second, func() error { // once the agent is freed
		_, err := d.Client().SetState(d.Auth(ctx), &hotlinev1.SetStateRequest{Extension: "1001",
			State: hotlinev1.AgentState_AGENT_STATE_PAUSED, Reason: "break"})
		return err
	})

	// The second caller waits, hears two announcements, then presses 1.
	done := labtest.StartCalls(t, labtest.Calls{DID: "12345", Scenario: "uac_survey.xml", Duration: 28 * time.Second,
		Extra: []string{"-set", "caller", "13900000202", "-mi", "127.0.0.1"}})
	var callID string
	labtest.Eventually(t, 10*time.Second, func() error {
		for _, ch := range ariChannels(t) {
			if strings.HasPrefix(ch.Name, "PJSIP/trunk-") {
				callID = ch.ID
				return nil
			}
		}
		return fmt.Errorf("second call not in Asterisk")
	})
	res := <-done
	if res.Successful != 1 {
		t.Fatalf("caller pressing the call-back key: %+v", res)
	}
	labtest.WaitNoChannels(t, 10*time.Second)

	var media []string
	for _, ev := range watch.Events("PlaybackStarted", callID) {
		media = append(media, ev.Playback.MediaURI)
	}
	one := "sound:queue-thereare digits:1 sound:queue-callswaiting sound:queue-holdtime digits:1 sound:minutes"
	got := strings.Join(media, " ")
	if !strings.HasPrefix(got, one+" "+one) {
		t.Errorf("PlaybackStarted on the waiting call: %q, want two announcements %q", got, one)
	}
	if !strings.HasSuffix(got, "sound:vm-goodbye") {
		t.Errorf("PlaybackStarted on the waiting call: %q, want the goodbye last", got)
	}
	if n := len(watch.Events("ChannelDtmfReceived", callID)); n != 1 {
		t.Errorf("ChannelDtmfReceived on the caller: %d, want 1", n)
	}

	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	cbs, err := callClient(t, l.g).ListCallbacks(labtest.AsSupervisor(lctx), &hotlinev1.ListCallbacksRequest{})
	if err != nil {
		t.Fatalf("ListCallbacks: %v", err)
	}
	var tasks []string
	for _, cb := range cbs.Callbacks {
		tasks = append(tasks, cb.CallId+"/"+cb.CallerNumber)
	}
	if len(tasks) != 1 || tasks[0] != callID+"/13900000202" {
		t.Errorf("call-back tasks %v, want exactly one for call %s from 13900000202", tasks, callID)
	}

	labtest.Settle(t, 30*time.Second, l.rd.Addr, []*labtest.Gateway{l.g}, func() error {
		st, err := getStats(l.g, today(), today())
		if err != nil {
			return err
		}
		if st.InboundTotal != 2 || st.Answered != 1 || st.CallbackRequested != 1 || st.AbandonedQueue != 0 {
			return fmt.Errorf("stats: inbound %d answered %d callback_requested %d abandoned_queue %d, want 2 1 1 0",
				st.InboundTotal, st.Answered, st.CallbackRequested, st.AbandonedQueue)
		}
		return outcomesAddUp(st)
	})
	_, tickets := l.sink.Tickets(t)
	if r := tickets[callID]["endReason"]; r != "callback_requested" {
		t.Errorf("ticket end_reason %v, want callback_requested", r)
	}
}
