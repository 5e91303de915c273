package ticket

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// GRPCSink submits tickets to a hotlinev1.TicketSink over gRPC.
type GRPCSink struct {
	client  hotlinev1.TicketSinkClient
	timeout time.Duration
	auth    string
}

// NewGRPCSink returns a Sink over c. Every call gets its own deadline of
// timeout (default 5s); a non-empty token is sent as "authorization:
// Bearer <token>".
func NewGRPCSink(c hotlinev1.TicketSinkClient, timeout time.Duration, token string) *GRPCSink {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	s := &GRPCSink{client: c, timeout: timeout}
	if token != "" {
		s.auth = "Bearer " + token
	}
	return s
}

// Submit implements Sink. InvalidArgument from the sink wraps ErrRejected;
// every error keeps its gRPC status, which the Deliverer classifies (see
// Options.DeadLetterCodes).
func (s *GRPCSink) Submit(ctx context.Context, t *hotlinev1.Ticket) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", s.auth)
	}
	resp, err := s.client.SubmitTicket(ctx, &hotlinev1.SubmitTicketRequest{Ticket: t})
	if err != nil {
		if status.Code(err) == codes.InvalidArgument {
			return false, fmt.Errorf("submit ticket %s: %w: %w", t.GetTicketId(), ErrRejected, err)
		}
		return false, fmt.Errorf("submit ticket %s: %w", t.GetTicketId(), err)
	}
	return resp.GetDuplicate(), nil
}

// ticketsField is SubmitTicketsRequest.tickets: its field number, which
// SubmitBatch writes on the wire itself.
const ticketsField protowire.Number = 1

// SubmitBatch implements BatchSink with one SubmitTickets call. The stored
// encodings go on the wire as they are: the request's tickets field is
// written directly (tag, length, the stored bytes) as the message's raw
// fields, which proto.Marshal copies without decoding or re-encoding them.
// An InvalidArgument result wraps ErrRejected, like Submit's.
func (s *GRPCSink) SubmitBatch(ctx context.Context, batch []Encoded) ([]Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", s.auth)
	}
	size := 0
	for _, e := range batch {
		size += protowire.SizeTag(ticketsField) + protowire.SizeBytes(len(e.Raw))
	}
	raw := make([]byte, 0, size)
	for _, e := range batch {
		raw = protowire.AppendTag(raw, ticketsField, protowire.BytesType)
		raw = protowire.AppendVarint(raw, uint64(len(e.Raw)))
		raw = append(raw, e.Raw...)
	}
	req := &hotlinev1.SubmitTicketsRequest{}
	req.ProtoReflect().SetUnknown(protoreflect.RawFields(raw))
	resp, err := s.client.SubmitTickets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("submit %d tickets: %w", len(batch), err)
	}
	rs := resp.GetResults()
	if len(rs) != len(batch) {
		return nil, fmt.Errorf("submit %d tickets: the sink answered %d results", len(batch), len(rs))
	}
	out := make([]Result, len(batch))
	for i, r := range rs {
		id := batch[i].ID
		if r.GetTicketId() != id {
			return nil, fmt.Errorf("submit %d tickets: result %d is for ticket %q, want %q", len(batch), i, r.GetTicketId(), id)
		}
		out[i].Duplicate = r.GetDuplicate()
		if c := codes.Code(r.GetCode()); c != codes.OK {
			e := status.Error(c, r.GetMessage())
			if c == codes.InvalidArgument {
				out[i].Err = fmt.Errorf("submit ticket %s: %w: %w", id, ErrRejected, e)
			} else {
				out[i].Err = fmt.Errorf("submit ticket %s: %w", id, e)
			}
		}
	}
	return out, nil
}

// DialOptions are the connection options a ticket sink client should use
// besides its transport credentials: gRPC's default reconnect backoff grows
// to two minutes, which would hold tickets back that long after a sink
// outage; this caps it at two seconds.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
		MinConnectTimeout: 2 * time.Second,
	})}
}
