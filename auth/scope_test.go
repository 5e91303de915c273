package auth

import (
	"testing"

	"google.golang.org/grpc"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

var (
	agent1001 = Principal{Role: RoleAgent, Name: "1001", Extension: "1001"}
	agent1002 = Principal{Role: RoleAgent, Name: "1002", Extension: "1002"}
	super     = Principal{Role: RoleSupervisor, Name: "duty-desk"}
	police    = Principal{Role: RolePolice110, Name: "110-platform"}
	tickets   = Principal{Role: RoleTicketSystem, Name: "tickets"}
)

func TestFilterTransfersAgentsSeeTheirOwnCalls(t *testing.T) {
	recs := []*hotlinev1.TransferRecord{
		{TransferId: "x1", AgentExtension: "1001", Note: "fight at the market"},
		{TransferId: "x2", AgentExtension: "1002", PoliceReference: "110-7"},
		{TransferId: "x3", Direction: "from110"},
	}
	ids := func(rs []*hotlinev1.TransferRecord) (s string) {
		for _, r := range rs {
			s += r.GetTransferId() + " "
		}
		return s
	}
	for _, tc := range []struct {
		p    Principal
		want string
	}{
		{agent1001, "x1 "}, {agent1002, "x2 "}, {super, "x1 x2 x3 "}, {police, "x1 x2 x3 "}, {tickets, ""},
		{Principal{Role: RoleAgent}, ""},
	} {
		if got := ids(FilterTransfers(tc.p, recs)); got != tc.want {
			t.Errorf("%s sees %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestMaskCallbackUntilClaimed(t *testing.T) {
	open := &hotlinev1.CallbackTask{CallbackId: "cb1", CallerNumber: "13800138000", State: "open"}
	mine := &hotlinev1.CallbackTask{CallbackId: "cb2", CallerNumber: "13900139000", State: "claimed", ClaimedBy: "1001"}
	done := &hotlinev1.CallbackTask{CallbackId: "cb3", CallerNumber: "075512345678", State: "done", ClaimedBy: "1001"}
	for _, tc := range []struct {
		p    Principal
		t    *hotlinev1.CallbackTask
		want string
	}{
		{agent1001, open, "138****8000"},
		{agent1001, mine, "13900139000"},
		{agent1002, mine, "139****9000"},
		{agent1001, done, "075512345678"},
		{agent1002, done, "075*****5678"},
		{super, open, "13800138000"},
		{police, open, "138****8000"},
	} {
		got := MaskCallback(tc.p, tc.t)
		if got.GetCallerNumber() != tc.want {
			t.Errorf("%s, task %s: number %q, want %q", tc.p, tc.t.GetCallbackId(), got.GetCallerNumber(), tc.want)
		}
		if got.GetCallbackId() != tc.t.GetCallbackId() || got.GetState() != tc.t.GetState() {
			t.Errorf("%s, task %s: other fields changed: %v", tc.p, tc.t.GetCallbackId(), got)
		}
	}
	if open.GetCallerNumber() != "13800138000" {
		t.Error("MaskCallback modified its argument")
	}
	if got := MaskCallbacks(agent1002, []*hotlinev1.CallbackTask{open, mine}); got[0].GetCallerNumber() != "138****8000" || got[1].GetCallerNumber() != "139****9000" {
		t.Errorf("MaskCallbacks: %v", got)
	}
	for n, want := range map[string]string{"12345": "*****", "6543210": "65***10", "": ""} {
		if got := MaskNumber(n); got != want {
			t.Errorf("MaskNumber(%q) = %q, want %q", n, got, want)
		}
	}
}

func TestAgentsAdapter(t *testing.T) {
	if ext, err := (Agents{}).Caller(NewContext(t.Context(), agent1001)); err != nil || ext != "1001" {
		t.Errorf("agent: %q %v", ext, err)
	}
	if _, err := (Agents{}).Caller(NewContext(t.Context(), super)); err == nil {
		t.Error("a supervisor passed as an agent")
	}
	if _, err := (Agents{}).Caller(t.Context()); err == nil {
		t.Error("no principal passed as an agent")
	}
}

func TestReflectionOffRegistersNothing(t *testing.T) {
	gs := grpc.NewServer()
	if RegisterReflection(gs, false) {
		t.Fatal("RegisterReflection(off) registered")
	}
	if n := len(gs.GetServiceInfo()); n != 0 {
		t.Fatalf("%d services registered with reflection off", n)
	}
	RegisterReflection(gs, true)
	if _, ok := gs.GetServiceInfo()["grpc.reflection.v1.ServerReflection"]; !ok {
		t.Fatal("reflection on: service not registered")
	}
}
