package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/metrics"
)

// Reason codes of GET /recordings/{ticket_id}, besides the guard's.
const (
	CodeUnknownTicket    = "unknown_ticket"    // no ticket of that ID is known to the gateway
	CodeNoRecording      = "no_recording"      // the ticket's call was not recorded (line without record: true, or never answered)
	CodeRecordingMissing = "recording_missing" // the ticket names a recording Asterisk no longer stores (removed by retention)
	CodeRangeUnsatisfied = "range_not_satisfiable"
)

// RecordingIndex finds a ticket's recording (*recording.Index): found
// false for an unknown ticket, name "" for a ticket without a recording.
type RecordingIndex interface {
	Lookup(ctx context.Context, ticketID string) (name string, found bool, err error)
}

// RecordingFiles opens a stored recording's file (*ari.Client); a missing
// one is ari.ErrNotFound.
type RecordingFiles interface {
	StoredFile(ctx context.Context, name string) (*http.Response, error)
}

// RecordingsHTTP serves the calls' recordings to quality inspectors
// (质检) and supervisors:
//
//	GET /recordings/{ticket_id}   the WAV file, with single byte-range requests (206, 416)
//
// The token is "Authorization: Bearer <token>" of role supervisor or
// inspector. Every request, refused or not, is logged with
// audit=recording_access and counted in hotline_recording_access_total.
type RecordingsHTTP struct {
	Index   RecordingIndex
	Files   RecordingFiles
	Guard   *auth.Guard
	Log     *slog.Logger
	Metrics *metrics.Recordings
	// LookupTimeout bounds the index lookup and the opening of the file
	// (default 5s); the copy itself is bounded by the client's connection.
	LookupTimeout time.Duration
}

// Register adds the handler to mux.
func (h *RecordingsHTTP) Register(mux *http.ServeMux) {
	mux.HandleFunc("/recordings/{ticket_id}", h.serve)
}

// access is one request's audit record.
type access struct {
	who, role, ticketID, recording, rng string
}

func (h *RecordingsHTTP) audit(a access, result string, status int, bytes int64, start time.Time) {
	if h.Metrics != nil {
		h.Metrics.Access.WithLabelValues(result).Inc()
	}
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelWarn
	}
	h.Log.Log(context.Background(), lvl, "recording access", "audit", "recording_access", "who", a.who, "role", a.role,
		"ticket_id", a.ticketID, "recording", a.recording, "range", a.rng, "result", result, "status", status,
		"bytes", bytes, "duration", time.Since(start))
}

func (h *RecordingsHTTP) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a := access{ticketID: r.PathValue("ticket_id"), rng: r.Header.Get("Range")}
	fail := func(status int, result, code, msg string) {
		WriteJSONError(w, status, code, msg)
		h.audit(a, result, status, 0, start)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(http.StatusMethodNotAllowed, "bad_request", CodeMethodNotAllowed, "/recordings/{ticket_id} takes GET")
		return
	}
	p, ref := h.Guard.AuthorizeHTTP(r, "", auth.RecordingRule)
	if ref != nil {
		result := "unauthenticated"
		switch ref.Status {
		case http.StatusForbidden:
			result = "forbidden"
		case http.StatusTooManyRequests:
			result = "rate_limited"
		}
		a.who = "-"
		fail(ref.Status, result, ref.Reason, ref.Message)
		return
	}
	a.who, a.role = p.Name, string(p.Role)
	if err := ticket.ValidateID(a.ticketID); err != nil {
		fail(http.StatusBadRequest, "bad_request", CodeBadRequest, "ticket_id: "+err.Error())
		return
	}
	d := h.LookupTimeout
	if d <= 0 {
		d = 5 * time.Second
	}
	lctx, cancel := context.WithTimeout(r.Context(), d)
	name, found, err := h.Index.Lookup(lctx, a.ticketID)
	cancel()
	switch {
	case err != nil:
		h.Log.Error("recording lookup failed", "ticket_id", a.ticketID, "err", err)
		fail(http.StatusServiceUnavailable, "unavailable", CodeUnavailable, "the recording index cannot be read now (Redis unreachable); retry")
		return
	case !found:
		fail(http.StatusNotFound, CodeUnknownTicket, CodeUnknownTicket, "no ticket "+a.ticketID+" is known to the gateway")
		return
	case name == "":
		fail(http.StatusNotFound, CodeNoRecording, CodeNoRecording, "ticket "+a.ticketID+" has no recording (its line is not recorded, or no agent answered)")
		return
	}
	a.recording = name
	// The file's opening is bounded; its body is not (a long recording to
	// a slow player), only by the client's connection.
	octx, ocancel := context.WithCancel(r.Context())
	defer ocancel()
	timer := time.AfterFunc(d, ocancel)
	resp, err := h.Files.StoredFile(octx, name)
	if !timer.Stop() && err == nil {
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		if errors.Is(err, ari.ErrNotFound) {
			fail(http.StatusNotFound, CodeRecordingMissing, CodeRecordingMissing, "ticket "+a.ticketID+"'s recording "+name+" is not stored in Asterisk (removed by retention, or still being recorded)")
			return
		}
		h.Log.Error("recording file not opened", "ticket_id", a.ticketID, "recording", name, "err", err)
		fail(http.StatusServiceUnavailable, "unavailable", CodeUnavailable, "Asterisk's stored recordings cannot be read now; retry")
		return
	}
	defer resp.Body.Close()
	size := resp.ContentLength
	rg, status := parseRange(a.rng, size)
	hdr := w.Header()
	hdr.Set("Content-Type", "audio/wav")
	hdr.Set("Cache-Control", "private, no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Disposition", `inline; filename="`+strings.ReplaceAll(name, `"`, "")+`.wav"`)
	if size >= 0 {
		hdr.Set("Accept-Ranges", "bytes")
	}
	body := io.Reader(resp.Body)
	result := "ok"
	switch status {
	case http.StatusRequestedRangeNotSatisfiable:
		hdr.Del("Content-Disposition")
		hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		fail(status, CodeRangeUnsatisfied, CodeRangeUnsatisfied,
			fmt.Sprintf("range %q is outside the recording's %d bytes", a.rng, size))
		return
	case http.StatusPartialContent:
		// Asterisk serves the whole file: skip to the range's start,
		// copying through a small buffer, never holding the file.
		if _, err := io.CopyN(io.Discard, resp.Body, rg.start); err != nil {
			h.Log.Warn("recording file shorter than announced", "recording", name, "err", err)
			fail(http.StatusServiceUnavailable, "unavailable", CodeUnavailable, "the recording could not be read from Asterisk; retry")
			return
		}
		body = io.LimitReader(resp.Body, rg.length())
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end, size))
		hdr.Set("Content-Length", strconv.FormatInt(rg.length(), 10))
		result = "partial"
	default:
		if size >= 0 {
			hdr.Set("Content-Length", strconv.FormatInt(size, 10))
		}
	}
	w.WriteHeader(status)
	var n int64
	if r.Method == http.MethodGet {
		n, err = io.Copy(w, body)
		if err != nil {
			result = "aborted"
		}
	}
	h.audit(a, result, status, n, start)
}

// byteRange is an inclusive byte range.
type byteRange struct{ start, end int64 }

func (b byteRange) length() int64 { return b.end - b.start + 1 }

// parseRange reads a Range header for a body of size bytes (RFC 9110
// §14.2) and returns the status to answer: 206 with the range for one
// satisfiable byte range; 416 when no byte of it is in the body; 200 (the
// whole body) when there is no header, it is malformed, it is not in bytes,
// it asks for several ranges, or the size is unknown (size < 0) — a server
// may ignore a Range it does not serve.
func parseRange(h string, size int64) (byteRange, int) {
	if h == "" || size < 0 {
		return byteRange{}, http.StatusOK
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return byteRange{}, http.StatusOK
	}
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.Contains(spec, ",") {
		return byteRange{}, http.StatusOK
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, http.StatusOK
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // suffix: the last n bytes
		n, ok := rangeNum(last)
		if !ok {
			return byteRange{}, http.StatusOK
		}
		if n == 0 || size == 0 {
			return byteRange{}, http.StatusRequestedRangeNotSatisfiable
		}
		return byteRange{start: max(0, size-n), end: size - 1}, http.StatusPartialContent
	}
	a, ok := rangeNum(first)
	if !ok {
		return byteRange{}, http.StatusOK
	}
	b := size - 1
	if last != "" {
		if b, ok = rangeNum(last); !ok || b < a {
			return byteRange{}, http.StatusOK
		}
	}
	if a >= size {
		return byteRange{}, http.StatusRequestedRangeNotSatisfiable
	}
	return byteRange{start: a, end: min(b, size-1)}, http.StatusPartialContent
}

// rangeNum parses a non-empty run of ASCII digits (no sign, at most 18).
func rangeNum(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
