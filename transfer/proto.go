package transfer

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// RequestFromProto turns a TransferService.Transfer request into the call ID
// and the machine's Request (By "grpc", for agent agentExt, e.g. from the
// authenticated desktop session). Only TRANSFER_TARGET_POLICE_110 is
// accepted; the target is never dialled from the request (see
// Config.Target). The note is validated by Handle.
func RequestFromProto(req *hotlinev1.TransferRequest, agentExt string) (callID string, r Request, err error) {
	if req.GetCallId() == "" {
		return "", Request{}, fmt.Errorf("%w: empty call_id", ErrInvalid)
	}
	if req.GetTarget() != hotlinev1.TransferTarget_TRANSFER_TARGET_POLICE_110 {
		return "", Request{}, fmt.Errorf("%w: target must be POLICE_110, not %s", ErrInvalid, req.GetTarget())
	}
	mode, err := ModeFromProto(req.GetMode())
	if err != nil {
		return "", Request{}, err
	}
	return req.GetCallId(), Request{Mode: mode, Note: req.GetNote(), By: ByGRPC, AgentExt: agentExt}, nil
}

// ModeFromProto converts a proto mode.
func ModeFromProto(m hotlinev1.TransferMode) (Mode, error) {
	switch m {
	case hotlinev1.TransferMode_TRANSFER_MODE_BLIND:
		return ModeBlind, nil
	case hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY:
		return ModeThreeParty, nil
	}
	return "", fmt.Errorf("%w: mode must be BLIND or THREE_PARTY, not %s", ErrInvalid, m)
}

// Proto converts the mode.
func (m Mode) Proto() hotlinev1.TransferMode {
	switch m {
	case ModeBlind:
		return hotlinev1.TransferMode_TRANSFER_MODE_BLIND
	case ModeThreeParty:
		return hotlinev1.TransferMode_TRANSFER_MODE_THREE_PARTY
	}
	return hotlinev1.TransferMode_TRANSFER_MODE_UNSPECIFIED
}

// Proto converts the state (Idle has no proto value: UNSPECIFIED).
func (s State) Proto() hotlinev1.TransferState {
	switch s {
	case Requested:
		return hotlinev1.TransferState_TRANSFER_STATE_REQUESTED
	case Dialing:
		return hotlinev1.TransferState_TRANSFER_STATE_DIALING
	case Ringing:
		return hotlinev1.TransferState_TRANSFER_STATE_RINGING
	case Answered:
		return hotlinev1.TransferState_TRANSFER_STATE_ANSWERED
	case ThreeParty:
		return hotlinev1.TransferState_TRANSFER_STATE_THREE_PARTY
	case Completed:
		return hotlinev1.TransferState_TRANSFER_STATE_COMPLETED
	case Cancelled:
		return hotlinev1.TransferState_TRANSFER_STATE_CANCELLED
	case Failed:
		return hotlinev1.TransferState_TRANSFER_STATE_FAILED
	}
	return hotlinev1.TransferState_TRANSFER_STATE_UNSPECIFIED
}

// Proto converts the record to the API's TransferRecord.
func (r *Record) Proto() *hotlinev1.TransferRecord {
	if r == nil {
		return nil
	}
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	return &hotlinev1.TransferRecord{
		TransferId:      r.TransferID,
		CallId:          r.CallID,
		Direction:       r.Direction,
		Mode:            r.Mode.Proto(),
		State:           r.State.Proto(),
		AgentExtension:  r.AgentExt,
		Note:            r.Note,
		Outcome:         r.Outcome,
		RequestedAt:     ts(r.RequestedAt),
		AnsweredAt:      ts(r.AnsweredAt),
		EndedAt:         ts(r.EndedAt),
		PoliceReference: r.PoliceReference,
	}
}
