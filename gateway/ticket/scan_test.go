package ticket

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// scanEncoded reads what the decoder reads: the ID and the stub flag of
// an encoded ticket, the last occurrence of a field winning, and refuses
// what the decoder refuses at the top level.
func TestScanEncodedAgreesWithTheDecoder(t *testing.T) {
	enc := func(tk *hotlinev1.Ticket) string {
		b, err := proto.Marshal(tk)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	full := enc(&hotlinev1.Ticket{TicketId: "c1", CallerNumber: "138", EndReason: "completed",
		Transfers: []*hotlinev1.TransferRecord{{}}})
	stub := enc(&hotlinev1.Ticket{TicketId: "c2", EndReason: EndReasonUnobserved})
	for _, tc := range []struct {
		name     string
		raw      string
		id       string
		stub, ok bool
	}{
		{"full", full, "c1", false, true},
		{"stub", stub, "c2", true, true},
		{"empty", "", "", false, true},
		{"merged: the last ID and end reason win", full + stub, "c2", true, true},
		{"stub then full", stub + full, "c1", false, true},
		{"truncated", full[:len(full)-1], "", false, false},
		{"garbage", "\xff\xff\xff", "", false, false},
		{"ID with a wrong wire type", string(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7)), "", false, false},
	} {
		id, st, ok := scanEncoded(tc.raw)
		if id != tc.id || st != tc.stub || ok != tc.ok {
			t.Errorf("%s: scanEncoded = %q, %v, %v; want %q, %v, %v", tc.name, id, st, ok, tc.id, tc.stub, tc.ok)
		}
		if !tc.ok {
			continue
		}
		got := &hotlinev1.Ticket{}
		if err := proto.Unmarshal([]byte(tc.raw), got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.GetTicketId() != id || IsStub(got) != st {
			t.Errorf("%s: the decoder reads %q stub=%v, the scan %q stub=%v", tc.name, got.GetTicketId(), IsStub(got), id, st)
		}
	}
}
