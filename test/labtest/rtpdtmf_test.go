package labtest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// rtpPacket is one RTP packet read back from a capture.
type rtpPacket struct {
	at     time.Duration // capture time from the first packet
	marker bool
	pt     uint8
	seq    uint16
	ts     uint32
	ssrc   uint32
	pay    []byte
}

// readRTPPcap parses what WriteDTMFPcap writes: a little-endian Ethernet
// pcap of IPv4/UDP/RTP packets.
func readRTPPcap(t *testing.T, path string) []rtpPacket {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("not a little-endian microsecond pcap")
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != 2 {
		t.Fatalf("pcap major version %d", v)
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != 1 {
		t.Fatalf("link type %d, want 1 (Ethernet)", lt)
	}
	var out []rtpPacket
	var first time.Duration
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("truncated record header at %d", off)
		}
		sec, usec := binary.LittleEndian.Uint32(b[off:]), binary.LittleEndian.Uint32(b[off+4:])
		incl, orig := int(binary.LittleEndian.Uint32(b[off+8:])), int(binary.LittleEndian.Uint32(b[off+12:]))
		if incl != orig {
			t.Fatalf("record at %d: captured %d of %d bytes (SIPp refuses truncated packets)", off, incl, orig)
		}
		off += 16
		f := b[off : off+incl]
		off += incl
		if binary.BigEndian.Uint16(f[12:]) != 0x0800 {
			t.Fatalf("ethertype %#x", binary.BigEndian.Uint16(f[12:]))
		}
		ip := f[14:]
		if ip[0] != 0x45 || ip[9] != 17 {
			t.Fatalf("not IPv4/UDP: %x", ip[:10])
		}
		if ipChecksum(ip[:20]) != 0 {
			t.Fatalf("bad IPv4 header checksum")
		}
		if int(binary.BigEndian.Uint16(ip[2:])) != len(ip) {
			t.Fatalf("IPv4 total length %d, frame has %d", binary.BigEndian.Uint16(ip[2:]), len(ip))
		}
		udp := ip[20:]
		if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
			t.Fatalf("UDP length %d, datagram has %d", binary.BigEndian.Uint16(udp[4:]), len(udp))
		}
		r := udp[8:]
		if r[0] != 0x80 {
			t.Fatalf("RTP first byte %#x, want 0x80", r[0])
		}
		at := time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
		if len(out) == 0 {
			first = at
		}
		out = append(out, rtpPacket{
			at: at - first, marker: r[1]&0x80 != 0, pt: r[1] & 0x7f,
			seq: binary.BigEndian.Uint16(r[2:]), ts: binary.BigEndian.Uint32(r[4:]),
			ssrc: binary.BigEndian.Uint32(r[8:]), pay: r[12:],
		})
	}
	return out
}

func TestRFC2833PcapStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pcap")
	const digits = "*2#9"
	if err := WriteDTMFPcap(path, digits, WithPayloadType(101)); err != nil {
		t.Fatal(err)
	}
	pkts := readRTPPcap(t, path)
	if len(pkts) == 0 {
		t.Fatal("no packets")
	}

	type event struct {
		code          uint8
		ts            uint32
		updates, ends int
		duration      uint16
		marker        bool
	}
	var events []*event
	var cur *event
	for i, p := range pkts {
		if p.ssrc != pkts[0].ssrc {
			t.Fatalf("packet %d: ssrc %#x, first %#x", i, p.ssrc, pkts[0].ssrc)
		}
		if i > 0 {
			q := pkts[i-1]
			if p.seq != q.seq+1 || p.seq < q.seq {
				t.Fatalf("packet %d: seq %d after %d", i, p.seq, q.seq)
			}
			if p.ts < q.ts {
				t.Fatalf("packet %d: timestamp %d after %d", i, p.ts, q.ts)
			}
			if p.at-q.at != 20*time.Millisecond {
				t.Fatalf("packet %d: sent %v after the one before, want 20ms", i, p.at-q.at)
			}
		}
		// timestamps follow the 8 kHz clock: audio is stamped with its
		// send time, an event with the send time of its first packet
		if want := pkts[0].ts + uint32(p.at/time.Millisecond)*8; p.pt == 0 && p.ts != want {
			t.Fatalf("packet %d: audio timestamp %d, want %d", i, p.ts, want)
		}
		switch p.pt {
		case 0:
			if len(p.pay) != 160 || p.marker {
				t.Fatalf("packet %d: audio of %d bytes, marker %v", i, len(p.pay), p.marker)
			}
			cur = nil
		case 101:
			if len(p.pay) != 4 {
				t.Fatalf("packet %d: event payload of %d bytes", i, len(p.pay))
			}
			code, end, dur := p.pay[0], p.pay[1]&0x80 != 0, binary.BigEndian.Uint16(p.pay[2:])
			if cur == nil || cur.ts != p.ts {
				if cur != nil && p.ts <= cur.ts {
					t.Fatalf("packet %d: event timestamp %d not after %d", i, p.ts, cur.ts)
				}
				cur = &event{code: code, ts: p.ts, marker: p.marker}
				events = append(events, cur)
				if want := pkts[0].ts + uint32(p.at/time.Millisecond)*8; p.ts != want {
					t.Fatalf("packet %d: event timestamp %d, want %d (its send time)", i, p.ts, want)
				}
			} else if p.marker {
				t.Fatalf("packet %d: marker inside an event", i)
			}
			if code != cur.code {
				t.Fatalf("packet %d: event %d inside event %d", i, code, cur.code)
			}
			if dur < cur.duration {
				t.Fatalf("packet %d: duration %d after %d", i, dur, cur.duration)
			}
			if end {
				cur.ends++
			} else {
				if cur.ends > 0 {
					t.Fatalf("packet %d: update after the end", i)
				}
				cur.updates++
			}
			cur.duration = dur
		default:
			t.Fatalf("packet %d: payload type %d", i, p.pt)
		}
	}
	if pkts[0].pt != 0 || pkts[len(pkts)-1].pt != 0 {
		t.Errorf("want PCMU silence before and after the digits")
	}
	if len(events) != len(digits) {
		t.Fatalf("%d events, want %d", len(events), len(digits))
	}
	for i, d := range digits {
		e := events[i]
		code, _ := DTMFEvent(d)
		if e.code != code || !e.marker || e.updates != 4 || e.ends != 3 || e.duration != 800 {
			t.Errorf("digit %q: %+v; want event %d, marker, 4 updates, 3 ends, duration 800 (100 ms)", d, *e, code)
		}
	}
}

func TestRFC2833PcapOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pcap")
	if err := WriteDTMFPcap(path, "1a", WithPayloadType(96), WithSilence(0, 0),
		WithToneDuration(50*time.Millisecond), WithGap(100*time.Millisecond),
		WithRTPStart(65000, 1000, 0xdeadbeef)); err != nil {
		t.Fatal(err)
	}
	pkts := readRTPPcap(t, path)
	// 50 ms -> 3 slots: 2 updates + 3 ends per digit; no audio
	if len(pkts) != 10 {
		t.Fatalf("%d packets, want 10", len(pkts))
	}
	for i, p := range pkts {
		if p.pt != 96 || p.ssrc != 0xdeadbeef || p.seq != uint16(65000+i) {
			t.Fatalf("packet %d: pt %d ssrc %#x seq %d", i, p.pt, p.ssrc, p.seq)
		}
	}
	if pkts[0].ts != 1000 || pkts[5].ts != 1000+8*(5*20+100) {
		t.Errorf("event timestamps %d, %d", pkts[0].ts, pkts[5].ts)
	}
	if pkts[5].pay[0] != 12 || !pkts[5].marker {
		t.Errorf("second digit 'a': event %d, marker %v", pkts[5].pay[0], pkts[5].marker)
	}
	if pkts[5].at != 200*time.Millisecond {
		t.Errorf("second digit starts at %v, want 200ms", pkts[5].at)
	}

	for _, bad := range []string{"", "12x", "1 2"} {
		if err := WriteDTMFPcap(path, bad); err == nil {
			t.Errorf("digits %q: no error", bad)
		}
	}
	if err := WriteDTMFPcap(path, "1", WithRTPStart(65530, 0, 1)); err == nil {
		t.Errorf("sequence number wrap: no error")
	}
}

func TestRFC2833ScenarioRenders(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "s.xml")
	if err := RFC2833Scenario(out, "/tmp/x/dtmf.pcap", 101); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	for _, want := range []string{`<exec play_pcap_audio="/tmp/x/dtmf.pcap" />`,
		"m=audio [media_port] RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("rendered scenario lacks %q", want)
		}
	}
	if _, body, _ := strings.Cut(string(b), "<scenario"); strings.Contains(body, "{{") {
		t.Errorf("unrendered template action left")
	}
	if err := RFC2833Scenario(out, `/tmp/a"b.pcap`, 101); err == nil {
		t.Errorf("path with a quote: no error")
	}
}

// probeApp is the throwaway Stasis application of the DTMF probe (never the
// gateway's hotline-gw / hotline-gw-b).
const probeApp = "hotline-dtmf-probe"

type ariEvent struct {
	Type    string `json:"type"`
	Digit   string `json:"digit"`
	DurMS   int    `json:"duration_ms"`
	Channel struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"channel"`
}

// ariProbe registers app over the ARI websocket and delivers its events.
func ariProbe(t *testing.T, app string) <-chan ariEvent {
	t.Helper()
	ws, err := url.Parse(ARIURL)
	if err != nil {
		t.Fatal(err)
	}
	ws.Scheme = "ws"
	ws.Path += "/events"
	ws.RawQuery = url.Values{"app": {app}}.Encode()
	cfg, err := websocket.NewConfig(ws.String(), "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(ARIUser+":"+ARIPass)))
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatalf("ARI websocket %s: %v", ws, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan ariEvent, 256)
	go func() {
		defer close(ch)
		for {
			var raw []byte
			if err := websocket.Message.Receive(conn, &raw); err != nil {
				return
			}
			var ev ariEvent
			if json.Unmarshal(raw, &ev) == nil {
				ch <- ev
			}
		}
	}()
	Eventually(t, 5*time.Second, func() error { // registered?
		var a map[string]any
		return ARIGet("/applications/"+app, &a)
	})
	return ch
}

// ariDo sends an ARI request with no body and returns the status.
func ariDo(method, path string) (int, string, error) {
	req, _ := http.NewRequest(method, ARIURL+path, bytes.NewReader(nil))
	req.SetBasicAuth(ARIUser, ARIPass)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestRFC2833DigitsReachARIInOrder: agent1008's phone sends "*2#9" as RFC
// 4733 events; Asterisk must report them to ARI as ChannelDtmfReceived in
// that order, each once.
func TestRFC2833DigitsReachARIInOrder(t *testing.T) {
	RequireLab(t)
	const want = "*2#9"
	events := ariProbe(t, probeApp)
	StartRFC2833Phone(t, "1008", want, time.Second)

	id := fmt.Sprintf("dtmf-probe-%d", time.Now().UnixNano())
	q := url.Values{"endpoint": {"PJSIP/agent1008"}, "app": {probeApp}, "channelId": {id}, "timeout": {"10"}}
	code, body, err := ariDo(http.MethodPost, "/channels?"+q.Encode())
	if err != nil || code != http.StatusOK {
		t.Fatalf("originate PJSIP/agent1008: %d %s %v", code, body, err)
	}
	t.Cleanup(func() { _, _, _ = ariDo(http.MethodDelete, "/channels/"+id) })

	var got []string
	started := false
	deadline := time.After(15 * time.Second)
	var settle <-chan time.Time // after the last expected digit: catch extras
collect:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("ARI websocket closed")
			}
			if ev.Channel.ID != id {
				continue
			}
			switch ev.Type {
			case "StasisStart":
				started = true
			case "ChannelDtmfReceived":
				t.Logf("ChannelDtmfReceived %q (%d ms)", ev.Digit, ev.DurMS)
				got = append(got, ev.Digit)
				if len(got) == len(want) {
					settle = time.After(time.Second)
				}
			case "StasisEnd", "ChannelDestroyed":
				break collect
			}
		case <-settle:
			break collect
		case <-deadline:
			break collect
		}
	}
	if !started {
		t.Fatalf("the call to agent1008 never entered %s (answered?)", probeApp)
	}
	if strings.Join(got, "") != want || len(got) != len(want) {
		if len(got) > len(want) && collapse(got) == want {
			t.Fatalf("ChannelDtmfReceived digits %q, want %q: a digit reported twice is Asterisk's DTMF "+
				"gap deferral (an end within 45 ms of the previous one is re-queued and published again): "+
				"SIPp or Asterisk stalled longer than the gap (host overloaded?)", got, strings.Split(want, ""))
		}
		t.Fatalf("ChannelDtmfReceived digits %q, want %q in order (agent1008 dtmf_mode must be rfc4733: lab/pbx.sh cli 'pjsip show endpoint agent1008')",
			got, strings.Split(want, ""))
	}

	if code, body, err := ariDo(http.MethodDelete, "/channels/"+id); err != nil || code != http.StatusNoContent {
		t.Fatalf("hang up %s: %d %s %v", id, code, body, err)
	}
	Eventually(t, 5*time.Second, func() error {
		if code, _, err := ariDo(http.MethodGet, "/channels/"+id); err != nil || code != http.StatusNotFound {
			return fmt.Errorf("channel %s still there (GET: %d %v)", id, code, err)
		}
		return nil
	})
}

// collapse joins digits, dropping immediate repeats.
func collapse(digits []string) string {
	var b strings.Builder
	for i, d := range digits {
		if i == 0 || d != digits[i-1] {
			b.WriteString(d)
		}
	}
	return b.String()
}
