package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/callback"
	"github.com/hotline12345/hotline-gw/transfer"
)

func TestEveryDomainErrorHasItsCodeAndInternalsStayInTheLog(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("op: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		code codes.Code
		msg  string // the client's message contains it
	}{
		{"argument", invalid("limit", "%d is more than 1000", 2000), codes.InvalidArgument, "limit: 2000"},
		{"another agent", denied("agent_extension: %q is not the token's agent", "1002"), codes.PermissionDenied, "1002"},
		{"call not live", wrap(gateway.ErrCallNotFound), codes.NotFound, "not a live call"},
		{"agent not on call", wrap(gateway.ErrNotOnCall), codes.PermissionDenied, "not on this call"},
		{"rate limited", wrap(gateway.ErrRateLimited), codes.ResourceExhausted, "rate limited"},
		{"agent busy", wrap(gateway.ErrAgentBusy), codes.FailedPrecondition, "not free"},
		{"originate for an agent never logged in", fmt.Errorf("x: %w: %w", gateway.ErrAgentBusy, acd.ErrUnknownAgent), codes.FailedPrecondition, "not free"},
		{"agent field", &acd.FieldError{Field: "skills", Msg: "at least one skill is required"}, codes.InvalidArgument, "skills"},
		{"agent unknown", wrap(acd.ErrUnknownAgent), codes.NotFound, "never logged in"},
		{"agent logged in twice", wrap(acd.ErrAlreadyLoggedIn), codes.AlreadyExists, "already logged in"},
		{"agent state change refused", wrap(acd.ErrNotAllowed), codes.FailedPrecondition, ""},
		{"call-back not found", wrap(callback.ErrNotFound), codes.NotFound, "not found"},
		{"call-back claimed", wrap(callback.ErrAlreadyClaimed), codes.FailedPrecondition, "claimed"},
		{"call-back done", wrap(callback.ErrAlreadyDone), codes.FailedPrecondition, "done"},
		{"call-back not claimed", wrap(callback.ErrNotClaimed), codes.FailedPrecondition, "not claimed"},
		{"call-back other claimant", wrap(callback.ErrNotClaimant), codes.FailedPrecondition, "another agent"},
		{"call-back argument", wrap(callback.ErrInvalid), codes.InvalidArgument, "invalid"},
		{"transfer argument", wrap(transfer.ErrInvalid), codes.InvalidArgument, ""},
		{"no transfer", wrap(transfer.ErrNoTransfer), codes.FailedPrecondition, ""},
		{"transfer wrong state", wrap(transfer.ErrWrongState), codes.FailedPrecondition, ""},
		{"transfer conflict", wrap(transfer.ErrConflict), codes.FailedPrecondition, ""},
		{"caller hung up during a transfer", transfer.ErrCallEnded, codes.FailedPrecondition, "hung up"},
		{"transfers per call capped", fmt.Errorf("%w: call c1 already had 8 transfers (transfer.max_per_call = 8)", transfer.ErrTooMany),
			codes.FailedPrecondition, "transfer.max_per_call = 8"},
		{"deadline", wrap(context.DeadlineExceeded), codes.DeadlineExceeded, "deadline"},
		{"canceled", wrap(context.Canceled), codes.Canceled, "canceled"},
		{"status passes", status.Error(codes.Unauthenticated, "missing token"), codes.Unauthenticated, "missing token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := status.FromError(toStatus(nil, "op", tc.err))
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("toStatus(%v) = %s %q, want %s containing %q", tc.err, st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}

	var logs bytes.Buffer
	internal := errors.New("dial tcp 10.0.0.7:6379: connection refused")
	st, _ := status.FromError(toStatus(slog.New(slog.NewTextHandler(&logs, nil)), "list call-backs", wrap(internal)))
	if st.Code() != codes.Unavailable || strings.Contains(st.Message(), "10.0.0.7") || st.Message() != "list call-backs: temporarily unavailable" {
		t.Fatalf("internal error reached the client: %s %q", st.Code(), st.Message())
	}
	if !strings.Contains(logs.String(), "10.0.0.7") || !strings.Contains(logs.String(), `op="list call-backs"`) {
		t.Fatalf("internal error not logged with its op: %s", logs.String())
	}
	if toStatus(nil, "op", nil) != nil {
		t.Fatal("toStatus(nil) is not nil")
	}
}
