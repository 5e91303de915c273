package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/transfer"
)

// Authenticator names the agent whose token a request carries; in the
// gateway it is auth.Agents{}, reading the guard's principal.
type Authenticator interface {
	Caller(ctx context.Context) (ext string, err error)
}

// TransferRecordReader lists stored transfer records (transfer.Store).
type TransferRecordReader interface {
	List(ctx context.Context, callID string, limit int) ([]*transfer.Record, error)
	Recent(ctx context.Context, limit int) ([]*transfer.Record, error)
}

// PoliceRefs holds 110 case references by caller number until the call
// from 110 arrives (store.PoliceRefs).
type PoliceRefs interface {
	Put(ctx context.Context, callerNumber, ref string) error
}

// TransferCalls is what the TransferServer needs of the gateway
// (*gateway.Service): a request reaches it only once its fields are valid.
type TransferCalls interface {
	HandleTransfer(ctx context.Context, callID, agentExt string, input func() (transfer.Input, error)) (transfer.Result, error)
	AttachPoliceRef(ctx context.Context, num, ref string) (string, error)
}

// TransferServer implements hotlinev1.TransferService: the desktop's
// one-key transfer button, and the 110 platform's case references.
type TransferServer struct {
	hotlinev1.UnimplementedTransferServiceServer
	Service TransferCalls
	Auth    Authenticator
	Records TransferRecordReader
	// PoliceRefs keeps references 110 pushes before its call arrives.
	PoliceRefs PoliceRefs
	Log        *slog.Logger
}

// onCall authenticates the agent, builds and checks the transfer input, and
// only then hands it to the owner of the call the agent is on.
func (ts *TransferServer) onCall(ctx context.Context, op, callID string, input func(ext string) (transfer.Input, error)) (*hotlinev1.TransferResponse, error) {
	ext, err := ts.Auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if callID == "" {
		return nil, toStatus(ts.Log, op, invalid("call_id", "required"))
	}
	if len(callID) > maxIDLen {
		return nil, toStatus(ts.Log, op, invalid("call_id", "longer than %d characters", maxIDLen))
	}
	in, err := input(ext)
	if err != nil {
		return nil, toStatus(ts.Log, op, err)
	}
	res, err := ts.Service.HandleTransfer(ctx, callID, ext, func() (transfer.Input, error) { return in, nil })
	if err != nil {
		return nil, toStatus(ts.Log, op, err)
	}
	if res.Record == nil {
		return nil, toStatus(ts.Log, op, errors.New("transfer: no record"))
	}
	return &hotlinev1.TransferResponse{Transfer: res.Record.Proto()}, nil
}

// Transfer starts a one-key transfer of the agent's call to 110.
func (ts *TransferServer) Transfer(ctx context.Context, req *hotlinev1.TransferRequest) (*hotlinev1.TransferResponse, error) {
	return ts.onCall(ctx, "transfer", req.GetCallId(), func(ext string) (transfer.Input, error) {
		_, in, err := transfer.RequestFromProto(req, ext)
		return in, err
	})
}

// Complete lets the agent leave a three-party call (or a blind transfer early).
func (ts *TransferServer) Complete(ctx context.Context, req *hotlinev1.CompleteTransferRequest) (*hotlinev1.TransferResponse, error) {
	return ts.onCall(ctx, "complete transfer", req.GetCallId(), func(string) (transfer.Input, error) {
		return transfer.Complete{By: transfer.ByGRPC}, nil
	})
}

// Cancel drops 110 and keeps caller and agent talking.
func (ts *TransferServer) Cancel(ctx context.Context, req *hotlinev1.CancelTransferRequest) (*hotlinev1.TransferResponse, error) {
	return ts.onCall(ctx, "cancel transfer", req.GetCallId(), func(string) (transfer.Input, error) {
		return transfer.Cancel{By: transfer.ByGRPC}, nil
	})
}

// ListTransfers returns a call's transfers, or the most recent ones: to a
// supervisor and to 110 all of them, to an agent only those of its own
// calls (auth.FilterTransfers).
func (ts *TransferServer) ListTransfers(ctx context.Context, req *hotlinev1.ListTransfersRequest) (*hotlinev1.ListTransfersResponse, error) {
	p, err := auth.Require(ctx, auth.RoleAgent, auth.RoleSupervisor, auth.RolePolice110)
	if err != nil {
		return nil, err
	}
	if ts.Records == nil {
		return nil, toStatus(ts.Log, "list transfers", errors.New("transfer records are not configured"))
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 50
	}
	if limit > 1000 {
		return nil, toStatus(ts.Log, "list transfers", invalid("limit", "%d is more than 1000", limit))
	}
	var recs []*transfer.Record
	if req.GetCallId() != "" {
		recs, err = ts.Records.List(ctx, req.GetCallId(), limit)
	} else {
		recs, err = ts.Records.Recent(ctx, limit)
	}
	if err != nil {
		return nil, toStatus(ts.Log, "list transfers", err)
	}
	all := make([]*hotlinev1.TransferRecord, 0, len(recs))
	for _, r := range recs {
		all = append(all, r.Proto())
	}
	return &hotlinev1.ListTransfersResponse{Transfers: auth.FilterTransfers(p, all)}, nil
}

// PushPoliceReference attaches 110's case reference to the call it
// transfers to 12345: to the live call from that caller if there is one,
// otherwise kept until the call arrives. Only the 110 platform's tokens
// may push one.
func (ts *TransferServer) PushPoliceReference(ctx context.Context, req *hotlinev1.PushPoliceReferenceRequest) (*hotlinev1.PushPoliceReferenceResponse, error) {
	if _, err := auth.Require(ctx, auth.RolePolice110); err != nil {
		return nil, err
	}
	num, ref := req.GetCallerNumber(), req.GetPoliceReference()
	if num == "" || len(num) > 32 || !digitsPlus(num) {
		return nil, toStatus(ts.Log, "push police reference", invalid("caller_number", "%q must be digits with an optional leading +", gateway.ClipRef(num)))
	}
	if ref == "" || gateway.ClipRef(ref) != ref {
		return nil, toStatus(ts.Log, "push police reference", invalid("police_reference", "required, at most 64 printable characters"))
	}
	id, err := ts.Service.AttachPoliceRef(ctx, num, ref)
	if err != nil {
		return nil, toStatus(ts.Log, "push police reference", err)
	}
	if id != "" {
		return &hotlinev1.PushPoliceReferenceResponse{CallId: id}, nil
	}
	if ts.PoliceRefs == nil {
		return nil, toStatus(ts.Log, "push police reference", fmt.Errorf("caller_number: no call from 110 with that number is %w", gateway.ErrCallNotFound))
	}
	if err := ts.PoliceRefs.Put(ctx, num, ref); err != nil {
		return nil, toStatus(ts.Log, "keep police reference", err)
	}
	return &hotlinev1.PushPoliceReferenceResponse{}, nil
}

// maxIDLen bounds a call ID in a request (Asterisk's are about 25).
const maxIDLen = 128

func digitsPlus(s string) bool {
	for i, r := range s {
		if !(r >= '0' && r <= '9' || r == '+' && i == 0) {
			return false
		}
	}
	return true
}
