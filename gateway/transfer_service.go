package gateway

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/transfer"
)

// Authenticator names the agent whose token a request carries.
type Authenticator interface {
	Caller(ctx context.Context) (ext string, err error)
}

// TransferRecordReader lists stored transfer records (transfer.Store).
type TransferRecordReader interface {
	List(ctx context.Context, callID string, limit int) ([]*transfer.Record, error)
	Recent(ctx context.Context, limit int) ([]*transfer.Record, error)
}

// TransferServer implements hotlinev1.TransferService: the desktop's
// one-key transfer button, and the 110 platform's case references.
type TransferServer struct {
	hotlinev1.UnimplementedTransferServiceServer
	Service *Service
	Auth    Authenticator
	Records TransferRecordReader
	// PoliceRefs keeps references 110 pushes before its call arrives.
	PoliceRefs PoliceRefs
}

// PoliceRefs holds 110 case references by caller number until the call
// from 110 arrives.
type PoliceRefs interface {
	Put(ctx context.Context, callerNumber, ref string) error
	Take(ctx context.Context, callerNumber string) (string, error)
}

// onCall runs fn on the owner of the call the authenticated agent is on.
func (ts *TransferServer) onCall(ctx context.Context, callID string, fn func(c *Call, ext string) (transfer.Result, error)) (*hotlinev1.TransferResponse, error) {
	ext, err := ts.Auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if callID == "" {
		return nil, status.Error(codes.InvalidArgument, "call_id: required")
	}
	c, ok := ts.Service.call(callID)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "call_id: %q is not a live call on this gateway", clipRef(callID))
	}
	type reply struct {
		res transfer.Result
		err error
	}
	ch := make(chan reply, 1)
	sent := c.send(func(c *Call) {
		if c.agentExt != ext {
			ch <- reply{err: status.Errorf(codes.PermissionDenied, "agent %s is not on call %s", ext, c.id)}
			return
		}
		res, err := fn(c, ext)
		ch <- reply{res, err}
	})
	if !sent {
		return nil, status.Errorf(codes.NotFound, "call_id: %q has ended", clipRef(callID))
	}
	select {
	case r := <-ch:
		if r.err != nil {
			if _, ok := status.FromError(r.err); ok {
				return nil, r.err
			}
			return nil, status.Error(transfer.Code(r.err), r.err.Error())
		}
		if r.res.Record == nil {
			return nil, status.Error(codes.Internal, "transfer: no record")
		}
		return &hotlinev1.TransferResponse{Transfer: r.res.Record.Proto()}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// Transfer starts a one-key transfer of the agent's call to 110.
func (ts *TransferServer) Transfer(ctx context.Context, req *hotlinev1.TransferRequest) (*hotlinev1.TransferResponse, error) {
	return ts.onCall(ctx, req.GetCallId(), func(c *Call, ext string) (transfer.Result, error) {
		_, in, err := transfer.RequestFromProto(req, ext)
		if err != nil {
			return transfer.Result{}, err
		}
		return c.requestTransfer(c.ctx, in)
	})
}

// Complete lets the agent leave a three-party call (or a blind transfer early).
func (ts *TransferServer) Complete(ctx context.Context, req *hotlinev1.CompleteTransferRequest) (*hotlinev1.TransferResponse, error) {
	return ts.onCall(ctx, req.GetCallId(), func(c *Call, _ string) (transfer.Result, error) {
		return c.requestTransfer(c.ctx, transfer.Complete{By: transfer.ByGRPC})
	})
}

// Cancel drops 110 and keeps caller and agent talking.
func (ts *TransferServer) Cancel(ctx context.Context, req *hotlinev1.CancelTransferRequest) (*hotlinev1.TransferResponse, error) {
	return ts.onCall(ctx, req.GetCallId(), func(c *Call, _ string) (transfer.Result, error) {
		return c.requestTransfer(c.ctx, transfer.Cancel{By: transfer.ByGRPC})
	})
}

// ListTransfers returns a call's transfers, or the most recent ones.
func (ts *TransferServer) ListTransfers(ctx context.Context, req *hotlinev1.ListTransfersRequest) (*hotlinev1.ListTransfersResponse, error) {
	if _, err := ts.Auth.Caller(ctx); err != nil {
		return nil, err
	}
	if ts.Records == nil {
		return nil, status.Error(codes.Unavailable, "transfer records are not configured")
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 50
	}
	if limit > 1000 {
		return nil, status.Errorf(codes.InvalidArgument, "limit: %d is more than 1000", limit)
	}
	var (
		recs []*transfer.Record
		err  error
	)
	if req.GetCallId() != "" {
		recs, err = ts.Records.List(ctx, req.GetCallId(), limit)
	} else {
		recs, err = ts.Records.Recent(ctx, limit)
	}
	if err != nil {
		if errors.Is(err, transfer.ErrInvalid) {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	out := &hotlinev1.ListTransfersResponse{}
	for _, r := range recs {
		out.Transfers = append(out.Transfers, r.Proto())
	}
	return out, nil
}

// PushPoliceReference attaches 110's case reference to the call it
// transfers to 12345: to the live call from that caller if there is one,
// otherwise kept until the call arrives.
func (ts *TransferServer) PushPoliceReference(ctx context.Context, req *hotlinev1.PushPoliceReferenceRequest) (*hotlinev1.PushPoliceReferenceResponse, error) {
	num, ref := req.GetCallerNumber(), req.GetPoliceReference()
	if num == "" || len(num) > 32 || !digitsPlus(num) {
		return nil, status.Errorf(codes.InvalidArgument, "caller_number: %q must be digits with an optional leading +", clipRef(num))
	}
	if ref == "" || clipRef(ref) != ref {
		return nil, status.Error(codes.InvalidArgument, "police_reference: required, at most 64 printable characters")
	}
	if id := ts.Service.attachPoliceRef(num, ref); id != "" {
		return &hotlinev1.PushPoliceReferenceResponse{CallId: id}, nil
	}
	if ts.PoliceRefs == nil {
		return nil, status.Error(codes.NotFound, "no live call from 110 with that caller number")
	}
	if err := ts.PoliceRefs.Put(ctx, num, ref); err != nil {
		return nil, status.Error(codes.Unavailable, fmt.Sprintf("keep police reference: %v", err))
	}
	return &hotlinev1.PushPoliceReferenceResponse{}, nil
}

func digitsPlus(s string) bool {
	for i, r := range s {
		if !(r >= '0' && r <= '9' || r == '+' && i == 0) {
			return false
		}
	}
	return true
}

// attachPoliceRef sets ref on the live from110 call of caller number num;
// it returns the call ID, or "" when there is none.
func (s *Service) attachPoliceRef(num, ref string) string {
	s.mu.Lock()
	c := s.from110[num]
	s.mu.Unlock()
	if c == nil {
		return ""
	}
	got := make(chan bool, 1)
	if !c.send(func(c *Call) {
		c.policeRef = ref
		got <- true
	}) {
		return ""
	}
	<-got
	return c.id
}
