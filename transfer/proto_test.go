package transfer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

func TestRequestFromProto(t *testing.T) {
	call, r, err := RequestFromProto(&hotlinev1.TransferRequest{CallId: "c1", Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110,
		Mode: hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY, Note: "n"}, "1001")
	if err != nil || call != "c1" || r != (Request{Mode: ModeThreeParty, Note: "n", By: ByGRPC, AgentExt: "1001"}) {
		t.Fatalf("%q %+v %v", call, r, err)
	}
	for _, bad := range []*hotlinev1.TransferRequest{
		{Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110, Mode: hotlinev1.TransferMode_TRANSFER_MODE_BLIND},
		{CallId: "c", Mode: hotlinev1.TransferMode_TRANSFER_MODE_BLIND},
		{CallId: "c", Target: hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110},
		{CallId: "c", Target: 42, Mode: hotlinev1.TransferMode_TRANSFER_MODE_BLIND},
	} {
		if _, _, err := RequestFromProto(bad, ""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%v: %v", bad, err)
		}
	}
}

func TestMetricsCountFrom110AndExposeNames(t *testing.T) {
	fx := newFixture(t)
	fx.met.From110Arrived()
	if got := testutil.ToFloat64(fx.met.Transfers.WithLabelValues(DirectionFrom110, "none", "arrived")); got != 1 {
		t.Fatalf("from110 arrivals %v", got)
	}
	fx.handle(Request{Mode: ModeBlind, By: ByDTMF})
	fx.advance(2500 * time.Millisecond)
	fx.handle(PeerAnswered{})
	want := `
# HELP hotline_transfer_setup_seconds Time from a transfer request to the other platform answering, by direction.
# TYPE hotline_transfer_setup_seconds histogram
hotline_transfer_setup_seconds_bucket{direction="to110",le="0.5"} 0
hotline_transfer_setup_seconds_bucket{direction="to110",le="1"} 0
hotline_transfer_setup_seconds_bucket{direction="to110",le="2"} 0
hotline_transfer_setup_seconds_bucket{direction="to110",le="3"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="5"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="8"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="10"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="15"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="20"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="30"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="45"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="60"} 1
hotline_transfer_setup_seconds_bucket{direction="to110",le="+Inf"} 1
hotline_transfer_setup_seconds_sum{direction="to110"} 2.5
hotline_transfer_setup_seconds_count{direction="to110"} 1
`
	if err := testutil.CollectAndCompare(fx.met.Setup, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if got := fx.counted(ModeBlind, OutcomeCompleted); got != 1 {
		t.Fatalf("to110 blind completed %v", got)
	}
}
