package gateway

import "testing"

// The dialplan URIENCODEs 110's X-110-Ref header before it passes it as a
// Stasis argument: a reference with a comma ("JJ-2024,adopted") arrives as
// one argument, is decoded whole onto the ticket, and never sets the
// adopted flag.
func TestFrom110ReferenceWithCommaStaysOneArgument(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start("c1", EntryFrom110, "110", "JJ-2024%2Cadopted") // URIENCODE("JJ-2024,adopted")
	r.waitAction("moh c1 hold")
	var ref, bridge string
	r.inspect("c1", func(c *Call) { ref, bridge = c.policeRef, c.bridge })
	if ref != "JJ-2024,adopted" {
		t.Errorf("police reference %q, want JJ-2024,adopted", ref)
	}
	if bridge != "" {
		t.Errorf("bridge %q: the call was taken as adopted", bridge)
	}
	r.hangup("c1")
	r.waitEnded("c1")
	if got := r.ticket("c1").GetPoliceReference(); got != "JJ-2024,adopted" {
		t.Errorf("ticket police reference %q, want JJ-2024,adopted", got)
	}
}
