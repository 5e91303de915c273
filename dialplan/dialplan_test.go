package dialplan

import (
	"os"
	"strings"
	"testing"
)

func TestIDsRoundTripAndLegsBelongToTheirCall(t *testing.T) {
	const call = "1733058000.42"
	if id, ok := CallOfBridge(BridgeID(call)); !ok || id != call {
		t.Fatalf("CallOfBridge(BridgeID) = %q %t", id, ok)
	}
	if _, ok := CallOfBridge("bench-bridge-1"); ok {
		t.Fatal("a foreign bridge was taken for a gateway bridge")
	}
	for _, leg := range []string{call, AgentLeg(call, 2), OutboundAgentLeg(call), CitizenLeg(call)} {
		if !BelongsTo(leg, call) {
			t.Errorf("%q does not belong to %q", leg, call)
		}
	}
	if BelongsTo("1733058000.420", call) || BelongsTo(TransferLeg("x"), call) {
		t.Error("another call's channel belongs to this call")
	}
	a, b := NewOutboundCallID(), NewOutboundCallID()
	if a == b || !strings.HasPrefix(a, "ob-") || len(a) != len("ob-")+16 {
		t.Errorf("outbound IDs %q %q", a, b)
	}
	for got, want := range map[string]string{
		GreetingPlayback(call): "greet-" + call, OverflowPlayback(call): "ovf-" + call,
		SurveyPlayback(call): "sv-" + call, TransferLeg("t1"): "xfer-t1", AgentLeg(call, 1): call + "-agent-1",
	} {
		if got != want {
			t.Errorf("%q, want %q (the lab dialplan and the sweeps depend on it)", got, want)
		}
	}
}

func TestStasisArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want StasisArgs
	}{
		{nil, StasisArgs{Entry: EntryInbound}},
		{[]string{"", "12333"}, StasisArgs{Entry: EntryInbound, DNIS: "12333", HasDNIS: true}},
		{[]string{"from110", "12345", "110-REF-1"}, StasisArgs{Entry: EntryFrom110, DNIS: "12345", HasDNIS: true, Ref: "110-REF-1", HasRef: true}},
		{AdoptedArgs("", "12333", ""), StasisArgs{Entry: EntryInbound, DNIS: "12333", HasDNIS: true, HasRef: true, Adopted: true}},
		{[]string{"inbound", "12345", "", "other"}, StasisArgs{Entry: EntryInbound, DNIS: "12345", HasDNIS: true, HasRef: true}},
	} {
		if got := ParseStasisArgs(tc.args); got != tc.want {
			t.Errorf("ParseStasisArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

// The admit flag's name is the application's with "_" for what is not a
// letter or digit, and the lab dialplan reads exactly those of the
// gateway's and the bench's applications.
func TestAdmitGlobalIsWhatTheLabDialplanReads(t *testing.T) {
	for app, want := range map[string]string{"hotline-gw": "HOTLINE_ADMIT_hotline_gw", "hotline-bench": "HOTLINE_ADMIT_hotline_bench", "gw.b 2": "HOTLINE_ADMIT_gw_b_2"} {
		if got := AdmitGlobal(app); got != want {
			t.Errorf("AdmitGlobal(%q) = %q, want %q", app, got, want)
		}
	}
	conf, err := os.ReadFile("../lab/asterisk/extensions.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"hotline-gw", "hotline-bench"} {
		if !strings.Contains(string(conf), "${GLOBAL("+AdmitGlobal(app)+")}") {
			t.Errorf("lab/asterisk/extensions.conf does not read %s", AdmitGlobal(app))
		}
	}
}
