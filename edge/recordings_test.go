package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/metrics"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	for _, tc := range []struct {
		name, h    string
		size       int64
		status     int
		start, end int64
	}{
		{"no header", "", size, 200, 0, 0},
		{"first bytes", "bytes=0-99", size, 206, 0, 99},
		{"middle", "bytes=100-199", size, 206, 100, 199},
		{"open end", "bytes=900-", size, 206, 900, 999},
		{"end past the size is clamped", "bytes=990-5000", size, 206, 990, 999},
		{"suffix", "bytes=-10", size, 206, 990, 999},
		{"suffix longer than the body", "bytes=-5000", size, 206, 0, 999},
		{"last byte", "bytes=999-999", size, 206, 999, 999},
		{"spaces around", "bytes= 5 - 9 ", size, 206, 5, 9},
		{"start at the size", "bytes=1000-", size, 416, 0, 0},
		{"start past the size", "bytes=2000-3000", size, 416, 0, 0},
		{"zero suffix", "bytes=-0", size, 416, 0, 0},
		{"empty body", "bytes=0-", 0, 416, 0, 0},
		{"reversed is ignored", "bytes=9-5", size, 200, 0, 0},
		{"other unit is ignored", "items=0-5", size, 200, 0, 0},
		{"several ranges are ignored", "bytes=0-5,10-20", size, 200, 0, 0},
		{"garbage is ignored", "bytes=a-b", size, 200, 0, 0},
		{"sign is ignored", "bytes=+1-5", size, 200, 0, 0},
		{"no dash is ignored", "bytes=5", size, 200, 0, 0},
		{"huge number is ignored", "bytes=0-1234567890123456789012", size, 200, 0, 0},
		{"unknown size is ignored", "bytes=0-9", -1, 200, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, st := parseRange(tc.h, tc.size)
			if st != tc.status {
				t.Fatalf("parseRange(%q, %d): status %d, want %d", tc.h, tc.size, st, tc.status)
			}
			if st == 206 && (r.start != tc.start || r.end != tc.end) {
				t.Fatalf("parseRange(%q, %d) = %d-%d, want %d-%d", tc.h, tc.size, r.start, r.end, tc.start, tc.end)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=9-", "bytes=a", "bytes=0-0,1-1"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		r, st := parseRange(h, size)
		if st == 206 && (r.start < 0 || r.end < r.start || r.end >= size) {
			t.Fatalf("parseRange(%q, %d) = %d-%d: outside the body", h, size, r.start, r.end)
		}
	})
}

type fakeRecIndex map[string]string // ticket → recording ("" none)

func (f fakeRecIndex) Lookup(_ context.Context, id string) (string, bool, error) {
	if id == "t-redis-down" {
		return "", false, errors.New("redis: connection refused")
	}
	n, ok := f[id]
	return n, ok, nil
}

// fakeFiles serves the files like Asterisk: 200 with the whole file,
// whatever the request.
type fakeFiles map[string][]byte

func (f fakeFiles) StoredFile(_ context.Context, name string) (*http.Response, error) {
	b, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("ari stored_recording_file %q: %w", name, ari.ErrNotFound)
	}
	return &http.Response{StatusCode: 200, ContentLength: int64(len(b)), Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func TestRecordingsHTTP(t *testing.T) {
	const (
		supTok  = "supervisor-token-0123456789"
		qcTok   = "inspector-token-0123456789"
		agTok   = "agent-token-1001-012345678"
		wallTok = "wall-token-0123456789abcd"
	)
	g, err := auth.NewGuard([]auth.Credential{
		{Role: auth.RoleSupervisor, Name: "duty", Token: supTok},
		{Role: auth.RoleInspector, Name: "qc-1", Token: qcTok},
		auth.AgentCredential("1001", agTok),
		{Role: auth.RoleWall, Name: "hall", Token: wallTok},
	}, auth.Options{Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	file := make([]byte, 5000)
	for i := range file {
		file[i] = byte(i * 7)
	}
	var logBuf bytes.Buffer
	m := metrics.NewUnregistered().Recordings
	h := &RecordingsHTTP{
		Index: fakeRecIndex{"t1": "hotline-t1", "t-none": "", "t-gone": "hotline-t-gone"},
		Files: fakeFiles{"hotline-t1": file},
		Guard: g, Log: slog.New(slog.NewJSONHandler(&logBuf, nil)), Metrics: m,
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	get := func(t *testing.T, method, path, tok, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	code := func(t *testing.T, b []byte) string {
		t.Helper()
		var e struct{ Code, Message string }
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("not a JSON error: %q", b)
		}
		if e.Message == "" {
			t.Errorf("JSON error %q without a message", b)
		}
		return e.Code
	}

	t.Run("whole file to an inspector and a supervisor", func(t *testing.T) {
		for _, tok := range []string{qcTok, supTok} {
			resp, b := get(t, "GET", "/recordings/t1", tok, "")
			if resp.StatusCode != 200 || !bytes.Equal(b, file) {
				t.Fatalf("status %d, %d bytes; want 200 and the file's %d", resp.StatusCode, len(b), len(file))
			}
			if ct, ar := resp.Header.Get("Content-Type"), resp.Header.Get("Accept-Ranges"); ct != "audio/wav" || ar != "bytes" {
				t.Errorf("Content-Type %q, Accept-Ranges %q", ct, ar)
			}
			if resp.ContentLength != int64(len(file)) {
				t.Errorf("Content-Length %d", resp.ContentLength)
			}
		}
	})
	t.Run("a byte range", func(t *testing.T) {
		resp, b := get(t, "GET", "/recordings/t1", qcTok, "bytes=1000-1999")
		if resp.StatusCode != 206 || !bytes.Equal(b, file[1000:2000]) {
			t.Fatalf("status %d, %d bytes; want 206 and bytes 1000-1999", resp.StatusCode, len(b))
		}
		if cr := resp.Header.Get("Content-Range"); cr != "bytes 1000-1999/5000" {
			t.Errorf("Content-Range %q", cr)
		}
		resp, b = get(t, "GET", "/recordings/t1", qcTok, "bytes=-44")
		if resp.StatusCode != 206 || !bytes.Equal(b, file[5000-44:]) || resp.Header.Get("Content-Range") != "bytes 4956-4999/5000" {
			t.Fatalf("suffix: status %d, %d bytes, %q", resp.StatusCode, len(b), resp.Header.Get("Content-Range"))
		}
	})
	t.Run("unsatisfiable range", func(t *testing.T) {
		resp, b := get(t, "GET", "/recordings/t1", qcTok, "bytes=5000-")
		if resp.StatusCode != 416 || code(t, b) != CodeRangeUnsatisfied || resp.Header.Get("Content-Range") != "bytes */5000" {
			t.Fatalf("status %d, %s, Content-Range %q", resp.StatusCode, b, resp.Header.Get("Content-Range"))
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		resp, b := get(t, "HEAD", "/recordings/t1", qcTok, "")
		if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != 5000 {
			t.Fatalf("status %d, %d bytes, length %d", resp.StatusCode, len(b), resp.ContentLength)
		}
	})
	for _, tc := range []struct {
		name, path, tok string
		status          int
		code            string
	}{
		{"no token", "/recordings/t1", "", 401, auth.ReasonMissingToken},
		{"unknown token", "/recordings/t1", "not-a-configured-token-123", 401, auth.ReasonUnknownToken},
		{"agent", "/recordings/t1", agTok, 403, auth.ReasonWrongRole},
		{"wall screen", "/recordings/t1", wallTok, 403, auth.ReasonWrongRole},
		{"unknown ticket", "/recordings/t-nope", qcTok, 404, CodeUnknownTicket},
		{"ticket without recording", "/recordings/t-none", qcTok, 404, CodeNoRecording},
		{"recording removed", "/recordings/t-gone", qcTok, 404, CodeRecordingMissing},
		{"redis down", "/recordings/t-redis-down", qcTok, 503, CodeUnavailable},
		{"bad ticket ID", "/recordings/t%01x", qcTok, 400, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := get(t, "GET", tc.path, tc.tok, "")
			if resp.StatusCode != tc.status || code(t, b) != tc.code {
				t.Fatalf("status %d %s; want %d %s", resp.StatusCode, b, tc.status, tc.code)
			}
			if tc.tok != "" && strings.Contains(string(b), tc.tok) {
				t.Errorf("the error echoes the token: %s", b)
			}
		})
	}
	t.Run("POST", func(t *testing.T) {
		resp, b := get(t, "POST", "/recordings/t1", qcTok, "")
		if resp.StatusCode != 405 || code(t, b) != CodeMethodNotAllowed {
			t.Fatalf("status %d %s", resp.StatusCode, b)
		}
	})

	// Every access is audited with the same keys, and counted.
	var partial, ok, forbidden int
	for _, line := range bytes.Split(bytes.TrimSpace(logBuf.Bytes()), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["audit"] != "recording_access" {
			continue
		}
		for _, k := range []string{"who", "role", "ticket_id", "recording", "range", "result"} {
			if _, has := rec[k]; !has {
				t.Errorf("audit line without %q: %s", k, line)
			}
		}
		switch rec["result"] {
		case "partial":
			partial++
			if rec["who"] != "qc-1" || rec["role"] != "inspector" || rec["range"] == "" || rec["recording"] != "hotline-t1" {
				t.Errorf("partial access audited as %s", line)
			}
		case "ok":
			ok++
		case "forbidden":
			forbidden++
		}
	}
	if partial != 2 || ok != 3 || forbidden != 2 {
		t.Errorf("audited %d partial, %d ok, %d forbidden; want 2, 3 (2 GET, 1 HEAD), 2", partial, ok, forbidden)
	}
	if got := testutil.ToFloat64(m.Access.WithLabelValues("partial")); got != 2 {
		t.Errorf("hotline_recording_access_total{result=partial} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Access.WithLabelValues(CodeUnknownTicket)); got != 1 {
		t.Errorf("hotline_recording_access_total{result=unknown_ticket} = %v, want 1", got)
	}
}

// BenchmarkRecordingRange serves the last 64 KiB of a 16 MiB recording
// (about 17 minutes of 8 kHz 16-bit WAV): the skip is streamed, so the
// allocations stay small whatever the file's size.
func BenchmarkRecordingRange(b *testing.B) {
	g, err := auth.NewGuard([]auth.Credential{{Role: auth.RoleInspector, Name: "qc", Token: "inspector-token-0123456789"}},
		auth.Options{Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	file := make([]byte, 16<<20)
	h := &RecordingsHTTP{Index: fakeRecIndex{"t1": "r"}, Files: fakeFiles{"r": file}, Guard: g, Log: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	h.Register(mux)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/recordings/t1", nil)
		req.Header.Set("Authorization", "Bearer inspector-token-0123456789")
		req.Header.Set("Range", "bytes=-65536")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 206 || w.Body.Len() != 65536 {
			b.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
		}
	}
}
