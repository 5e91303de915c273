// Package sinkserver is the reference TicketSink (the lab's and the tests'
// stand-in for the city's ticket system): it appends every new ticket as one
// protojson line to a file, fsynced before it answers, and deduplicates by
// ticket ID, also across restarts (the IDs are loaded from the file at
// start). Concurrent submissions share one fsync (group commit). A full
// ticket supersedes a stored stub with the same ID (ticket.IsStub: the
// reaper's "ended_unobserved" ticket): it is appended after it, and the last
// line of an ID is the ticket. A stub never supersedes anything.
package sinkserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
)

// FileSink implements hotlinev1.TicketSinkServer over an append-only file.
type FileSink struct {
	hotlinev1.UnimplementedTicketSinkServer

	path string
	f    *os.File
	log  *slog.Logger

	mu      sync.Mutex
	seen    map[string]*batch // nil: durable in the file; else: in that batch
	stubs   map[string]bool   // IDs whose stored ticket is a stub
	cur     *batch            // being filled, not yet written
	failed  error             // a write or fsync failed: the file is suspect
	stored  int
	commits int // writes with their fsync
	// submits counts every valid submission per ticket ID (SubmitTicket or
	// one ticket of SubmitTickets), duplicates included, since Open: what
	// the gateway sent, not what was stored.
	submits map[string]int

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// batch is the lines committed by one write and one fsync.
type batch struct {
	bufs  [][]byte // the lines, one or more per submission, written in order
	ids   []string
	fresh int           // IDs not stored before (the others supersede a stub)
	done  chan struct{} // closed after the fsync
	err   error
}

// Open loads the ticket IDs already in path (creating it if missing) and
// returns a FileSink appending to it. A partial last line (a crash during
// a write that was never confirmed) is cut off. Close it when done.
func Open(path string, log *slog.Logger) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open ticket file: %w", err)
	}
	s := &FileSink{
		path: path, f: f, log: log, seen: make(map[string]*batch), stubs: make(map[string]bool), submits: make(map[string]int),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	// Make the file's directory entry durable too (new file).
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	go s.commitLoop()
	return s, nil
}

func (s *FileSink) load() error {
	r := bufio.NewReaderSize(s.f, 64<<10)
	var off int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				s.log.Warn("ticket file ends with a partial line (never confirmed); cutting it off", "file", s.path, "line", n, "bytes", len(line))
				if err := s.f.Truncate(off); err != nil {
					return fmt.Errorf("cut partial last line of %s: %w", s.path, err)
				}
				if err := s.f.Sync(); err != nil {
					return fmt.Errorf("fsync %s: %w", s.path, err)
				}
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read ticket file %s: %w", s.path, err)
		}
		off += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		t := &hotlinev1.Ticket{}
		if err := protojson.Unmarshal(line, t); err != nil {
			return fmt.Errorf("ticket file %s line %d: %w", s.path, n, err)
		}
		if _, dup := s.seen[t.GetTicketId()]; !dup {
			s.seen[t.GetTicketId()] = nil
			s.stored++
		}
		s.stubs[t.GetTicketId()] = ticket.IsStub(t) // the last line wins
	}
}

// Len returns the number of distinct tickets durably in the file.
func (s *FileSink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored
}

// Commits returns how many writes, each with its fsync, the sink has made
// since Open.
func (s *FileSink) Commits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}

// Submits returns how many times each ticket ID was submitted since Open
// (every valid SubmitTicket, duplicates included): a delivery that repeats
// a ticket shows here as a count above one, while the file keeps one line.
func (s *FileSink) Submits() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.submits))
	for id, n := range s.submits {
		out[id] = n
	}
	return out
}

// Close writes what is pending, stops the committer and closes the file.
func (s *FileSink) Close() error {
	close(s.stop)
	<-s.done
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close ticket file %s: %w", s.path, err)
	}
	return nil
}

// SubmitTicket stores a ticket not seen before and answers once it is on
// disk; a ticket ID already stored is answered duplicate=true.
func (s *FileSink) SubmitTicket(ctx context.Context, req *hotlinev1.SubmitTicketRequest) (*hotlinev1.SubmitTicketResponse, error) {
	t := req.GetTicket()
	if t == nil {
		return nil, status.Error(codes.InvalidArgument, "ticket is required")
	}
	line, err := encode(nil, t)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.failed != nil {
		s.submits[t.GetTicketId()]++
		s.mu.Unlock()
		return nil, status.Errorf(codes.Unavailable, "ticket file unusable after a write error: %v", s.failed)
	}
	b, dup := s.addLocked(t, line)
	s.mu.Unlock()
	if err := wait(ctx, b); err != nil {
		return nil, err
	}
	return &hotlinev1.SubmitTicketResponse{Duplicate: dup}, nil
}

// MaxBatch is the most tickets SubmitTickets takes in one call.
const MaxBatch = 1000

// SubmitTickets stores the tickets of a batch not seen before with one
// write and one fsync (shared with concurrent submissions), and answers
// once they are on disk: per ticket duplicate=true for an ID already
// stored (or earlier in the same batch), or the code refusing that ticket
// alone (InvalidArgument for a malformed one). A failed write refuses the
// whole call (Unavailable).
func (s *FileSink) SubmitTickets(ctx context.Context, req *hotlinev1.SubmitTicketsRequest) (*hotlinev1.SubmitTicketsResponse, error) {
	ts := req.GetTickets()
	switch {
	case len(ts) == 0:
		return nil, status.Error(codes.InvalidArgument, "tickets: at least one ticket is required")
	case len(ts) > MaxBatch:
		return nil, status.Errorf(codes.InvalidArgument, "tickets: %d tickets, at most %d per call", len(ts), MaxBatch)
	}
	// Every line of the batch goes into one buffer (one allocation, no
	// copy into the batch being committed: see batch.bufs).
	res := make([]*hotlinev1.SubmitTicketResult, len(ts))
	rs := make([]hotlinev1.SubmitTicketResult, len(ts))
	lines := make([][]byte, len(ts))
	buf := make([]byte, 0, 512*len(ts))
	for i, t := range ts {
		res[i] = &rs[i]
		rs[i].TicketId = t.GetTicketId()
		n := len(buf)
		var err error
		buf, err = encode(buf, t)
		if err != nil {
			buf = buf[:n]
			st := status.Convert(err)
			rs[i].Code, rs[i].Message = int32(st.Code()), fmt.Sprintf("tickets[%d]: %s", i, st.Message())
			continue
		}
		lines[i] = buf[n:] // its capacity runs on: see contiguous
	}
	var waits []*batch
	s.mu.Lock()
	if s.failed != nil {
		for i, t := range ts {
			if lines[i] != nil {
				s.submits[t.GetTicketId()]++
			}
		}
		s.mu.Unlock()
		return nil, status.Errorf(codes.Unavailable, "ticket file unusable after a write error: %v", s.failed)
	}
	for i, t := range ts {
		if lines[i] == nil {
			continue
		}
		b, dup := s.addLocked(t, lines[i])
		res[i].Duplicate = dup
		if b != nil && !slices.Contains(waits, b) {
			waits = append(waits, b)
		}
	}
	s.mu.Unlock()
	for _, b := range waits {
		if err := wait(ctx, b); err != nil {
			return nil, err
		}
	}
	return &hotlinev1.SubmitTicketsResponse{Results: res}, nil
}

// encode checks t and appends its line for the file, newline included, to
// buf.
func encode(buf []byte, t *hotlinev1.Ticket) ([]byte, error) {
	id := t.GetTicketId()
	if id == "" {
		return buf, status.Error(codes.InvalidArgument, "ticket.ticket_id is required")
	}
	if err := ticket.ValidateID(id); err != nil {
		return buf, status.Errorf(codes.InvalidArgument, "ticket.ticket_id: %v", err)
	}
	out, err := appendJSON(buf, t)
	if err != nil {
		return buf, status.Errorf(codes.InvalidArgument, "ticket %s cannot be encoded: %v", id, err)
	}
	return append(out, '\n'), nil
}

// addLocked counts a valid submission of t and, unless it is a duplicate,
// adds its line (newline included) to the batch being filled. Consecutive
// lines of one buffer join one chunk of batch.bufs. It returns the batch whose
// fsync makes t (or its twin submitted just before) durable, nil if it is
// durable already, and whether t is a duplicate. s.mu is held.
func (s *FileSink) addLocked(t *hotlinev1.Ticket, line []byte) (*batch, bool) {
	id := t.GetTicketId()
	s.submits[id]++
	b, known := s.seen[id]
	supersedes := known && s.stubs[id] && !ticket.IsStub(t)
	dup := known && !supersedes
	if dup {
		return b, true
	}
	if supersedes {
		s.log.Info("full ticket supersedes the stored stub", "ticket_id", id)
	}
	s.stubs[id] = ticket.IsStub(t)
	if s.cur == nil {
		s.cur = &batch{done: make(chan struct{})}
	}
	b = s.cur
	if k := len(b.bufs) - 1; k >= 0 && contiguous(b.bufs[k], line) {
		b.bufs[k] = b.bufs[k][:len(b.bufs[k])+len(line)]
	} else {
		b.bufs = append(b.bufs, line)
	}
	b.ids = append(b.ids, id)
	if !supersedes {
		b.fresh++
	}
	s.seen[id] = b
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return b, false
}

// contiguous reports whether next starts where prev ends in the same
// array (prev can be extended over it).
func contiguous(prev, next []byte) bool {
	return len(next) > 0 && cap(prev) >= len(prev)+len(next) &&
		&prev[:len(prev)+1][len(prev)] == &next[0]
}

// wait returns once b (nil: nothing to wait for) is on disk, or ctx ends.
func wait(ctx context.Context, b *batch) error {
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	if b.err != nil {
		return status.Errorf(codes.Unavailable, "store tickets: %v", b.err)
	}
	return nil
}

// commitLoop writes and fsyncs each batch; submissions arriving meanwhile
// gather in the next batch.
func (s *FileSink) commitLoop() {
	defer close(s.done)
	for {
		stopping := false
		select {
		case <-s.wake:
		case <-s.stop:
			stopping = true
		}
		s.mu.Lock()
		b := s.cur
		s.cur = nil
		s.mu.Unlock()
		if b != nil {
			s.commit(b)
		}
		if stopping {
			return
		}
	}
}

func (s *FileSink) commit(b *batch) {
	var err error
	for _, buf := range b.bufs {
		if _, err = s.f.Write(buf); err != nil {
			break
		}
	}
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("append to %s: %w", s.path, err)
	}
	s.mu.Lock()
	s.commits++
	if err != nil {
		// After a failed write or fsync the file's state is unknown: stop
		// accepting (fail-stop) rather than confirm tickets we may lose.
		s.failed = err
		for _, id := range b.ids {
			delete(s.seen, id)
			delete(s.stubs, id)
		}
		s.log.Error("ticket file write failed; sink refuses further tickets", "file", s.path, "err", err)
	} else {
		for _, id := range b.ids {
			s.seen[id] = nil
		}
		s.stored += b.fresh
	}
	s.mu.Unlock()
	b.err = err
	close(b.done)
}

// NewGRPCServer returns a gRPC server with sink registered as TicketSink and
// the standard health service. A non-empty token must come as metadata
// "authorization: Bearer <token>" on every TicketSink call.
func NewGRPCServer(sink hotlinev1.TicketSinkServer, token string, opts ...grpc.ServerOption) *grpc.Server {
	if token != "" {
		opts = append(opts, grpc.ChainUnaryInterceptor(authInterceptor("Bearer "+token)))
	}
	srv := grpc.NewServer(opts...)
	hotlinev1.RegisterTicketSinkServer(srv, sink)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(hotlinev1.TicketSink_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	return srv
}

func authInterceptor(want string) grpc.UnaryServerInterceptor {
	prefix := "/" + hotlinev1.TicketSink_ServiceDesc.ServiceName + "/"
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, prefix) { // health stays open
			return h(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		got := md.Get("authorization")
		if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(want)) != 1 {
			return nil, status.Error(codes.Unauthenticated, "missing or wrong bearer token in metadata \"authorization\"")
		}
		return h(ctx, req)
	}
}
