// Package dialplan is the contract between the gateway and the Asterisk
// dialplan and everything the gateway names inside Asterisk: the Stasis
// application's arguments, the channel variables, and the IDs of the
// channels, bridges and playbacks the gateway creates, with the parsers the
// sweeps and the resync depend on. Change a name here and in
// lab/asterisk/extensions.conf together; nothing else spells them.
package dialplan

import (
	"strconv"
	"strings"

	"github.com/hotline12345/hotline-gw/internal/randid"
)

// Stasis arguments. The dialplan enters the application as
// Stasis(<app>,<entry>,<DNIS>[,<110 reference>]); a call the gateway adopts
// from a previous gateway carries ArgAdopted as a fourth argument.
const (
	EntryInbound  = "inbound"  // a citizen's call from the trunk
	EntryFrom110  = "from110"  // a call the 110 platform transfers to 12345
	EntryOutbound = "outbound" // a call the gateway places (never from the dialplan)
	EntryTransfer = "transfer" // the gateway's own leg to 110, answered into the application
	ArgAdopted    = "adopted"
)

// Channel variables.
const (
	// VarEntry, VarDNIS and VarRef: the dialplan records the Stasis
	// arguments in them so that a call is adopted as it entered.
	VarEntry = "HOTLINE_ENTRY"
	VarDNIS  = "HOTLINE_DNIS"
	VarRef   = "HOTLINE_REF"
	// VarRetry=1 on a call returned to the dialplan while the gateway is
	// draining: the dialplan offers it to the other instance.
	VarRetry = "HOTLINE_RETRY"
	// VarRole marks the legs the gateway originates (one of the Role
	// values), so that a restarted gateway never adopts them as citizens.
	VarRole = "HOTLINE_ROLE"
	// VarTransferID carries the transfer ID on the leg to 110.
	VarTransferID = "HOTLINE_TRANSFER_ID"
	// VarSnoop on a supervisor's snoop channel: "on=<channel> spy=<dir>
	// whisper=<dir>", what it hears and whom it speaks to.
	VarSnoop = "HOTLINE_SNOOP"
)

// AdmitGlobal is the global variable the gateway of Stasis application app
// keeps at its clock's Unix seconds (compared with Asterisk's ${EPOCH}: keep
// the clocks in sync), refreshed every 500 ms, while
// it takes new calls (connected, not draining, not saturated), and empty
// otherwise. The dialplan answers the hotline's known lines itself only
// while it is at most 1 s old: a call the gateway would refuse, or that no
// gateway is there to take, gets SIP 503 (Q.850 34) before answer rather
// than 200 and a BYE. Characters other than letters and digits in app
// become "_" (hotline-gw: HOTLINE_ADMIT_hotline_gw).
func AdmitGlobal(app string) string {
	const prefix = "HOTLINE_ADMIT_"
	b := []byte(prefix + app)
	for i := len(prefix); i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Values of VarRole.
const (
	RoleAgent     = "agent"
	RoleCitizen   = "citizen"
	RolePolice110 = "police110"
	// RoleSupervisor marks a supervisor's phone leg and its snoop channels.
	RoleSupervisor = "supervisor"
)

// ID prefixes of what the gateway creates in Asterisk.
const (
	prefixBridge   = "br-"    // the call's bridge
	prefixGreeting = "greet-" // the line's greeting playback
	prefixOverflow = "ovf-"   // the overflow message playback
	prefixSurvey   = "sv-"    // the satisfaction survey playback
	prefixOutbound = "ob-"    // an outbound call's ID
	prefixTransfer = "xfer-"  // the leg to 110 of a transfer
)

// BridgeID is the bridge of call callID.
func BridgeID(callID string) string { return prefixBridge + callID }

// CallOfBridge returns the call a gateway bridge belongs to; ok is false
// for a bridge the gateway did not create.
func CallOfBridge(bridgeID string) (callID string, ok bool) {
	return strings.CutPrefix(bridgeID, prefixBridge)
}

// GreetingPlayback, OverflowPlayback and SurveyPlayback are the IDs of the
// call's playbacks.
func GreetingPlayback(callID string) string { return prefixGreeting + callID }

// OverflowPlayback is the ID of the call's overflow message playback.
func OverflowPlayback(callID string) string { return prefixOverflow + callID }

// SurveyPlayback is the ID of the call's survey prompt playback.
func SurveyPlayback(callID string) string { return prefixSurvey + callID }

// RecordingPrefix starts the name of every recording the gateway makes;
// the retention sweep touches no other stored recording.
const RecordingPrefix = "hotline-"

// RecordingName is the name of the call's recording (on the ticket).
func RecordingName(callID string) string { return RecordingPrefix + callID }

// CallOfRecording returns the call ID of a recording named by
// RecordingName, and false for any other name.
func CallOfRecording(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, RecordingPrefix)
	return id, ok && id != ""
}

// NewOutboundCallID returns a fresh ID for a call the gateway places.
func NewOutboundCallID() string { return prefixOutbound + randid.Hex(8) }

// AgentLeg is the channel ID of the attempt-th agent leg of an inbound call.
func AgentLeg(callID string, attempt int) string {
	return callID + "-agent-" + strconv.Itoa(attempt)
}

// OutboundAgentLeg and CitizenLeg are the two legs of an outbound call.
func OutboundAgentLeg(callID string) string { return callID + "-agent" }

// CitizenLeg is the citizen's leg of an outbound call.
func CitizenLeg(callID string) string { return callID + "-citizen" }

// TransferLeg is the channel ID of the leg to 110 of transfer transferID.
func TransferLeg(transferID string) string { return prefixTransfer + transferID }

// SupervisorLeg is the channel ID of the n-th supervisor phone leg of a
// call; SupervisorSnoop the k-th snoop channel of that leg; both belong to
// the call (BelongsTo).
func SupervisorLeg(callID string, n int) string { return callID + "-sup-" + strconv.Itoa(n) }

// SupervisorSnoop is the channel ID of the k-th snoop channel of a
// supervisor leg.
func SupervisorSnoop(leg string, k int) string { return leg + "-snoop-" + strconv.Itoa(k) }

// SupervisorBridge is the bridge that joins a supervisor's phone to its
// snoop channel (Monitor, Whisper). The bridge sweep treats it as the
// bridge of call "<callID>-sup", whose channels are the supervisor legs.
func SupervisorBridge(callID string) string { return prefixBridge + callID + "-sup" }

// SupervisorArgs are the Stasis arguments of a supervisor's phone leg and
// snoop channels ("supervisor,<call ID>").
func SupervisorArgs(callID string) string { return RoleSupervisor + "," + callID }

// BelongsTo reports whether channel channelID is call callID's own channel
// or one of the legs the gateway derived from it.
func BelongsTo(channelID, callID string) bool {
	return channelID == callID || strings.HasPrefix(channelID, callID+"-")
}

// TransferArgs are the Stasis arguments of a transfer's leg to 110
// ("transfer,<direction>").
func TransferArgs(direction string) string { return EntryTransfer + "," + direction }

// StasisArgs are the arguments of Stasis(<app>,<entry>,<DNIS>[,<ref>[,adopted]]).
type StasisArgs struct {
	Entry   string // EntryInbound when the dialplan gives none
	DNIS    string
	HasDNIS bool   // the dialplan passed a DNIS (else take the channel's extension)
	Ref     string // the 110 case reference (meaningful with EntryFrom110)
	HasRef  bool   // the dialplan passed a reference argument (maybe empty)
	Adopted bool   // built by a gateway adopting the call from a previous one
}

// ParseStasisArgs reads a StasisStart's arguments.
func ParseStasisArgs(args []string) StasisArgs {
	a := StasisArgs{Entry: EntryInbound}
	if len(args) > 0 && args[0] != "" {
		a.Entry = args[0]
	}
	if len(args) > 1 {
		a.DNIS, a.HasDNIS = args[1], true
	}
	if len(args) > 2 {
		a.Ref, a.HasRef = DecodeArg(args[2]), true // the dialplan URIENCODEs it
	}
	a.Adopted = len(args) > 3 && args[3] == ArgAdopted
	return a
}

// AdoptedArgs are the arguments of the StasisStart a gateway builds for a
// call it adopts, from the channel variables VarEntry, VarDNIS and VarRef.
func AdoptedArgs(entry, dnis, ref string) []string {
	if entry == "" {
		entry = EntryInbound
	}
	return []string{entry, dnis, ref, ArgAdopted}
}
