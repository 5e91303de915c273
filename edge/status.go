// Package edge is the gateway's gRPC edge: the StatsService, AgentService,
// CallService and TransferService servers. They authenticate, check
// arguments, call exported methods of the domain packages (gateway, acd,
// callback, count, transfer) and turn every error into a gRPC status in one
// place, toStatus. Internal errors (Redis, ARI) never reach a client as
// text: they are logged here and answered with a short message.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/transfer"
)

// argError is a malformed request argument found at the edge; its text
// names the field and is safe to show.
type argError struct{ field, msg string }

func (e *argError) Error() string { return e.msg }

// invalid returns an InvalidArgument error naming field.
func invalid(field, format string, a ...any) error {
	return &argError{field, field + ": " + fmt.Sprintf(format, a...)}
}

// permission is a request for another agent's extension or call.
type permissionError struct{ msg string }

func (e *permissionError) Error() string { return e.msg }

func denied(format string, a ...any) error { return &permissionError{fmt.Sprintf(format, a...)} }

// rule maps errors that match to a code; show says whether the error's own
// text (a domain message naming what is wrong) goes to the client, or
// msg instead.
type rule struct {
	match func(error) bool
	code  codes.Code
	show  bool
	msg   string
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func as[T error]() func(error) bool {
	return func(err error) bool { var t T; return errors.As(err, &t) }
}

// rules is the one error → status map of the gRPC edge, first match wins.
var rules = []rule{
	{match: as[*argError](), code: codes.InvalidArgument, show: true},
	{match: as[*permissionError](), code: codes.PermissionDenied, show: true},
	{match: as[*notFoundError](), code: codes.NotFound, show: true},

	// Calls on this gateway.
	{match: is(gateway.ErrCallNotFound), code: codes.NotFound, show: true},
	{match: is(gateway.ErrNotOnCall), code: codes.PermissionDenied, show: true},
	{match: is(gateway.ErrRateLimited), code: codes.ResourceExhausted, show: true},
	{match: is(gateway.ErrAgentBusy), code: codes.FailedPrecondition, show: true},
	{match: is(gateway.ErrPoliceRefAmbiguous), code: codes.FailedPrecondition, show: true},
	{match: is(store.ErrPoliceRefPending), code: codes.FailedPrecondition, show: true},
	{match: is(gateway.ErrNotTalking), code: codes.FailedPrecondition, show: true},
	{match: is(gateway.ErrSupervised), code: codes.FailedPrecondition, show: true},
	{match: is(gateway.ErrBadDisposition), code: codes.InvalidArgument, show: true},
	{match: is(gateway.ErrNotFollowUp), code: codes.FailedPrecondition, show: true},

	// Agents (AgentService): before the pool's own sentinels.
	{match: as[*acd.FieldError](), code: codes.InvalidArgument, show: true},
	{match: is(acd.ErrUnknownAgent), code: codes.NotFound, msg: "agent has never logged in"},
	{match: is(acd.ErrAlreadyLoggedIn), code: codes.AlreadyExists, msg: "agent is already logged in; log out first"},
	{match: is(acd.ErrNotAllowed), code: codes.FailedPrecondition, show: true},

	// Call-back tasks.
	{match: is(callback.ErrNotFound), code: codes.NotFound, show: true},
	{match: is(callback.ErrAlreadyClaimed), code: codes.FailedPrecondition, show: true},
	{match: is(callback.ErrAlreadyDone), code: codes.FailedPrecondition, show: true},
	{match: is(callback.ErrNotClaimed), code: codes.FailedPrecondition, show: true},
	{match: is(callback.ErrNotClaimant), code: codes.FailedPrecondition, show: true},
	{match: is(callback.ErrInvalid), code: codes.InvalidArgument, show: true},

	// Transfers.
	{match: is(transfer.ErrInvalid), code: codes.InvalidArgument, show: true},
	{match: is(transfer.ErrNoTransfer), code: codes.FailedPrecondition, show: true},
	{match: is(transfer.ErrWrongState), code: codes.FailedPrecondition, show: true},
	{match: is(transfer.ErrConflict), code: codes.FailedPrecondition, show: true},

	// The request's own deadline or cancellation.
	{match: is(context.DeadlineExceeded), code: codes.DeadlineExceeded, msg: "deadline exceeded"},
	{match: is(context.Canceled), code: codes.Canceled, msg: "request canceled"},
}

// toStatus turns err into a gRPC status error. A status error (from
// authentication) passes as is; a known domain error gets its code; any
// other error is internal: it is logged with op and the client reads
// "<op>: temporarily unavailable".
func toStatus(log *slog.Logger, op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, r := range rules {
		if !r.match(err) {
			continue
		}
		if r.show {
			return withReason(r.code, err.Error(), err)
		}
		return withReason(r.code, r.msg, err)
	}
	if log != nil {
		log.Error("grpc: request failed", "op", op, "err", err)
	}
	return withReason(codes.Unavailable, op+": temporarily unavailable", err)
}
