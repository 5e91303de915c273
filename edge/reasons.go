package edge

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/transfer"
)

// ReasonDomain is the google.rpc.ErrorInfo domain of the gateway's reasons.
const ReasonDomain = "hotline-gw"

// reasons give each domain error a stable reason code, attached to its
// status as google.rpc.ErrorInfo (gRPC clients read it from the details,
// the HTTP API answers it as "code"), so a desk can translate it. They are
// part of the API: add, never rename. First match wins; an error none
// matches gets its gRPC code's name.
var reasons = []struct {
	match  func(error) bool
	reason string
}{
	{argField("number"), "INVALID_NUMBER"},
	{as[*argError](), "INVALID_ARGUMENT"},
	{as[*permissionError](), "NOT_YOUR_AGENT"},

	{is(gateway.ErrCallNotFound), "CALL_NOT_FOUND"},
	{is(gateway.ErrNotOnCall), "NOT_ON_CALL"},
	{is(gateway.ErrBadDisposition), "INVALID_DISPOSITION"},
	{is(gateway.ErrNotFollowUp), "NOT_FOLLOW_UP_CALL"},
	{is(gateway.ErrRateLimited), "OUTBOUND_RATE_LIMITED"},
	{is(gateway.ErrAgentBusy), "AGENT_BUSY"},
	{is(gateway.ErrPoliceRefAmbiguous), "POLICE_REFERENCE_AMBIGUOUS"},
	{is(store.ErrPoliceRefPending), "POLICE_REFERENCE_PENDING"},

	{as[*acd.FieldError](), "INVALID_ARGUMENT"},
	{is(acd.ErrUnknownAgent), "AGENT_NOT_LOGGED_IN"},
	{is(acd.ErrAlreadyLoggedIn), "AGENT_ALREADY_LOGGED_IN"},
	{is(acd.ErrNotAllowed), "AGENT_STATE_NOT_ALLOWED"},

	{is(callback.ErrNotFound), "CALLBACK_NOT_FOUND"},
	{is(callback.ErrAlreadyClaimed), "CALLBACK_ALREADY_CLAIMED"},
	{is(callback.ErrAlreadyDone), "CALLBACK_ALREADY_DONE"},
	{is(callback.ErrNotClaimed), "CALLBACK_NOT_CLAIMED"},
	{is(callback.ErrNotClaimant), "CALLBACK_NOT_CLAIMANT"},
	{is(callback.ErrInvalid), "INVALID_ARGUMENT"},

	{is(transfer.ErrInvalid), "INVALID_TRANSFER"},
	{is(transfer.ErrNoTransfer), "NO_TRANSFER"},
	{is(transfer.ErrWrongState), "TRANSFER_WRONG_STATE"},
	{is(transfer.ErrConflict), "TRANSFER_CONFLICT"},

	{is(context.DeadlineExceeded), "DEADLINE_EXCEEDED"},
	{is(context.Canceled), "CANCELLED"},
}

// argField matches an argument error about field.
func argField(field string) func(error) bool {
	return func(err error) bool { var a *argError; return errors.As(err, &a) && a.field == field }
}

// reasonOf is err's reason, "UNAVAILABLE" for an internal error.
func reasonOf(err error) string {
	for _, r := range reasons {
		if r.match(err) {
			return r.reason
		}
	}
	return "UNAVAILABLE"
}

// withReason is a status error of code and msg carrying err's reason.
func withReason(code codes.Code, msg string, err error) error {
	st := status.New(code, msg)
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reasonOf(err), Domain: ReasonDomain}); derr == nil {
		st = d
	}
	return st.Err()
}
