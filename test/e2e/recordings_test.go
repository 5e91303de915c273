package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hotline12345/hotline-gw/gateway/recording"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/test/labtest"
	"github.com/hotline12345/hotline-gw/test/redistest"
)

// fetchRecording is GET /recordings/{ticket} on g with tok and rng.
func fetchRecording(t *testing.T, g *labtest.Gateway, ticket, tok, rng string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.HTTP+"/recordings/"+ticket, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// wavDuration reads a RIFF/WAVE header: the data chunk's size over the
// fmt chunk's byte rate.
func wavDuration(b []byte) (time.Duration, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, fmt.Errorf("not a RIFF/WAVE file: % x", b[:min(12, len(b))])
	}
	var byteRate, dataSize uint32
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), binary.LittleEndian.Uint32(b[off+4:off+8])
		switch id {
		case "fmt ":
			if off+20 > len(b) {
				return 0, fmt.Errorf("short fmt chunk")
			}
			byteRate = binary.LittleEndian.Uint32(b[off+8+8 : off+8+12])
		case "data":
			dataSize = size
		}
		if id == "data" {
			break
		}
		off += 8 + int(size) + int(size&1)
	}
	if byteRate == 0 || dataSize == 0 {
		return 0, fmt.Errorf("no fmt byte rate (%d) or data size (%d)", byteRate, dataSize)
	}
	return time.Duration(float64(dataSize) / float64(byteRate) * float64(time.Second)), nil
}

// recordedCall places one recorded agent call of about talk and returns
// its ticket ID and the talk time on its ticket (answeredAt to endedAt).
func recordedCall(t *testing.T, d *labtest.Desktop, sink *labtest.Sink, talk time.Duration) (string, time.Duration) {
	t.Helper()
	before := len(d.Offers())
	if res := labtest.PlaceCalls(t, labtest.Calls{DID: "12345", Duration: talk}); res.Successful != 1 {
		t.Fatalf("call: %+v", res)
	}
	offers := d.Offers()
	if len(offers) != before+1 {
		t.Fatalf("offers %d after the call, want %d", len(offers), before+1)
	}
	id := offers[len(offers)-1].CallId
	var took time.Duration
	labtest.Eventually(t, 15*time.Second, func() error {
		_, all := sink.Tickets(t)
		tk := all[id]
		if name, _ := tk["recording"].(string); name == "" {
			return fmt.Errorf("ticket %s has no recording yet: %v", id, tk)
		}
		a, _ := tk["answeredAt"].(string)
		e, _ := tk["endedAt"].(string)
		at, err1 := time.Parse(time.RFC3339Nano, a)
		et, err2 := time.Parse(time.RFC3339Nano, e)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("ticket %s times %q %q", id, a, e)
		}
		took = et.Sub(at)
		return nil
	})
	return id, took
}

func storedNames(t *testing.T) []string {
	t.Helper()
	var list []struct {
		Name string `json:"name"`
	}
	if err := labtest.ARIGet("/recordings/stored", &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range list {
		out = append(out, r.Name)
	}
	return out
}

// A quality inspector fetches a call's recording by ticket ID, after the
// call and after a gateway restart: a WAV as long as the ticket's talk
// time, and exactly the bytes of a range; agents and requests without a
// token are refused.
func TestRecordingFetchedByTicketID(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Record: true, SpoolDir: t.TempDir(),
		Extra: labtest.AgentsYAML(sink.Addr, "")})
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, g, "1001", "general")
	id, talk := recordedCall(t, d, sink, 4*time.Second)

	// After a restart: the index is in Redis, the file in Asterisk.
	if _, err := g.Terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	g.Start()
	g.WaitReady(30 * time.Second)

	var full []byte
	labtest.Eventually(t, 10*time.Second, func() error {
		resp, b := fetchRecording(t, g, id, labtest.InspectorToken, "")
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /recordings/%s: %d %s", id, resp.StatusCode, b)
		}
		if ct, ar := resp.Header.Get("Content-Type"), resp.Header.Get("Accept-Ranges"); ct != "audio/wav" || ar != "bytes" {
			return fmt.Errorf("Content-Type %q, Accept-Ranges %q", ct, ar)
		}
		full = b
		return nil
	})
	dur, err := wavDuration(full)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ticket %s: talk time %v, WAV %d bytes, %v", id, talk, len(full), dur)
	if math.Abs((dur - talk).Seconds()) > 1 {
		t.Errorf("the recording lasts %v; the ticket's talk time is %v (want within 1s)", dur, talk)
	}

	resp, part := fetchRecording(t, g, id, labtest.InspectorToken, "bytes=100-1123")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, full[100:1124]) {
		t.Errorf("range 100-1123: %d, %d bytes (equal to the file's: %t)", resp.StatusCode, len(part), bytes.Equal(part, full[100:min(1124, len(full))]))
	}
	if cr, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes 100-1123/%d", len(full)); cr != want {
		t.Errorf("Content-Range %q, want %q", cr, want)
	}
	resp, tail := fetchRecording(t, g, id, labtest.SupervisorToken, "bytes=-500")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(tail, full[len(full)-500:]) {
		t.Errorf("supervisor, last 500 bytes: %d, %d bytes", resp.StatusCode, len(tail))
	}
	resp, b := fetchRecording(t, g, id, labtest.InspectorToken, fmt.Sprintf("bytes=%d-", len(full)))
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(full)) {
		t.Errorf("range past the end: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Range"), b)
	}

	for _, tc := range []struct {
		who, ticket, tok string
		status           int
		code             string
	}{
		{"agent", id, labtest.AgentToken("1001"), http.StatusForbidden, "wrong_role"},
		{"wall", id, labtest.WallToken, http.StatusForbidden, "wrong_role"},
		{"no token", id, "", http.StatusUnauthorized, "missing_token"},
		{"unknown ticket", "1700000000.999999", labtest.InspectorToken, http.StatusNotFound, "unknown_ticket"},
	} {
		resp, b := fetchRecording(t, g, tc.ticket, tc.tok, "")
		var e struct{ Code string }
		_ = json.Unmarshal(b, &e)
		if resp.StatusCode != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.who, resp.StatusCode, b, tc.status, tc.code)
		}
	}
	if n := g.Metric("hotline_recording_access_total", map[string]string{"result": "partial"}); n != 2 {
		t.Errorf("hotline_recording_access_total{result=partial} = %v, want 2", n)
	}
	if n := g.Metric("hotline_recording_access_total", map[string]string{"result": "forbidden"}); n != 2 {
		t.Errorf("hotline_recording_access_total{result=forbidden} = %v, want 2", n)
	}
}

// The retention sweep deletes a recording older than recordings.retention
// from Asterisk (its made time backdated in the index) and keeps a new one.
func TestRecordingRetentionRemovesAnOldOne(t *testing.T) {
	labtest.RequireLab(t)
	rd := redistest.Start(t)
	sink := labtest.StartSink(t, "", "")
	g := labtest.StartGateway(t, labtest.GatewayOptions{RedisAddrs: []string{rd.Addr}, Record: true, SpoolDir: t.TempDir(),
		Extra: labtest.AgentsYAML(sink.Addr, "") + "recordings: {retention: 30d, sweep_interval: 1s}\n"})
	labtest.StartPhone(t, "1001", labtest.Answer)
	d := labtest.OpenDesktop(t, g, "1001", "general")
	oldID, _ := recordedCall(t, d, sink, 2*time.Second)
	newID, _ := recordedCall(t, d, sink, 2*time.Second)
	oldName, newName := "hotline-"+oldID, "hotline-"+newID
	labtest.Eventually(t, 10*time.Second, func() error {
		if names := storedNames(t); !slices.Contains(names, oldName) || !slices.Contains(names, newName) {
			return fmt.Errorf("stored recordings do not hold both %s and %s yet", oldName, newName)
		}
		return nil
	})

	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr})
	t.Cleanup(func() { rdb.Close() })
	x := &recording.Index{Redis: rdb, Keys: store.NewKeys("hl")}
	if made, err := x.MadeTimes(context.Background(), []string{oldName, newName}); err != nil || len(made) != 2 {
		t.Fatalf("the index's made times: %v, %v; want both recordings", made, err)
	}
	if err := x.SetMade(context.Background(), oldName, time.Now().Add(-400*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	labtest.Eventually(t, 10*time.Second, func() error {
		if slices.Contains(storedNames(t), oldName) {
			return fmt.Errorf("%s is still stored", oldName)
		}
		return nil
	})
	if !slices.Contains(storedNames(t), newName) {
		t.Errorf("the new recording %s was removed too", newName)
	}
	if n := g.Metric("hotline_recordings_removed_total", nil); n < 1 {
		t.Errorf("hotline_recordings_removed_total = %v, want at least 1", n)
	}
	resp, b := fetchRecording(t, g, oldID, labtest.InspectorToken, "")
	if resp.StatusCode != http.StatusNotFound || !bytes.Contains(b, []byte("recording_missing")) {
		t.Errorf("the removed recording: %d %s; want 404 recording_missing", resp.StatusCode, b)
	}
	if resp, _ := fetchRecording(t, g, newID, labtest.InspectorToken, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the kept recording: %d", resp.StatusCode)
	}
}
