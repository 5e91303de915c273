package labtest

// RFC 4733 (RFC 2833) DTMF from a SIPp agent phone.
//
// SIPp's shipped dtmf_2833_*.pcap files all share one SSRC and fixed sequence
// numbers and timestamps, so Asterisk drops a digit whose capture is "older"
// than the one before ("*2" arrives as "*"). WriteDTMFPcap writes one capture
// holding all the digits of a call as a single RTP stream: one SSRC, sequence
// numbers and timestamps rising across the whole file. StartRFC2833Phone
// plays it with play_pcap_audio from lab/sipp/uas_answer_rfc2833.xml.tmpl.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// RFC2833Template is the SIPp scenario template of the RFC 2833 agent phone,
// relative to lab/sipp.
const RFC2833Template = "uas_answer_rfc2833.xml.tmpl"

// DefaultDTMFPayloadType is the telephone-event payload type the phone
// answers with: the one Asterisk offers by default (101).
const DefaultDTMFPayloadType = 101

const (
	rtpTick      = 20 * time.Millisecond // packetization / event update interval
	rtpTickTS    = 160                   // 20 ms at 8 kHz
	pcmuSilence  = 0xff                  // µ-law "zero"
	eventVolume  = 10                    // -10 dBm0
	endRepeats   = 3                     // end-of-event packets per digit (RFC 4733 2.5.1.4)
	udpPortInCap = 40000                 // SIPp rewrites both ports when it plays
)

// dtmfStream describes the RTP stream WriteDTMFPcap writes.
type dtmfStream struct {
	pt         uint8
	tone       time.Duration
	gap        time.Duration
	lead, tail time.Duration
	fill       bool
	seq        uint16
	ts         uint32
	ssrc       uint32
}

// DTMFOption changes the stream WriteDTMFPcap writes.
type DTMFOption func(*dtmfStream)

// WithPayloadType sets the telephone-event payload type (default 101). The
// phone must send the PT Asterisk offered (its default is 101) and answer
// with it: Asterisk ignores events sent with another PT, even one the answer
// declared.
func WithPayloadType(pt uint8) DTMFOption { return func(s *dtmfStream) { s.pt = pt } }

// WithToneDuration sets each digit's duration (default 100 ms, rounded up to
// 20 ms). Asterisk stretches digits shorter than its dtmfminduration (80 ms).
func WithToneDuration(d time.Duration) DTMFOption { return func(s *dtmfStream) { s.tone = d } }

// WithGap sets the time from the last end-of-event packet of a digit to the
// first packet of the next (default 500 ms). Asterisk reports a digit twice
// to ARI when its end arrives within 45 ms (AST_MIN_DTMF_GAP) of the previous
// digit's end, which a loaded lab does when it stalls SIPp or Asterisk for
// longer than about gap+tone: keep the gap generous.
func WithGap(d time.Duration) DTMFOption { return func(s *dtmfStream) { s.gap = d } }

// WithSilence sets the PCMU silence before the first and after the last
// digit (default 100 ms each); between digits the stream carries silence too
// unless both are zero, in which case only event packets are written.
func WithSilence(lead, tail time.Duration) DTMFOption {
	return func(s *dtmfStream) { s.lead, s.tail, s.fill = lead, tail, lead > 0 || tail > 0 }
}

// WithRTPStart fixes the first sequence number, the first timestamp and the
// SSRC (default: random, chosen so that neither wraps within the file).
func WithRTPStart(seq uint16, ts, ssrc uint32) DTMFOption {
	return func(s *dtmfStream) { s.seq, s.ts, s.ssrc = seq, ts, ssrc }
}

// DTMFEvent is the RFC 4733 event code of a DTMF digit (0-9 * # A-D).
func DTMFEvent(digit rune) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return uint8(digit - '0'), true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return uint8(12 + digit - 'A'), true
	case digit >= 'a' && digit <= 'd':
		return uint8(12 + digit - 'a'), true
	}
	return 0, false
}

// WriteDTMFPcap writes a classic pcap (Ethernet/IPv4/UDP, the link type
// SIPp's play_pcap_audio reads) holding digits as RFC 4733 telephone-events
// in one RTP stream. Per digit: event packets every 20 ms with the same
// timestamp and a growing duration, the marker bit on the first, then the end
// packet (E bit) and two copies of it, each with a new sequence number; then
// the gap. The capture's packet times are the send times: SIPp keeps them.
func WriteDTMFPcap(path string, digits string, opts ...DTMFOption) error {
	s := dtmfStream{
		pt: DefaultDTMFPayloadType, tone: 100 * time.Millisecond, gap: 500 * time.Millisecond,
		lead: 100 * time.Millisecond, tail: 100 * time.Millisecond, fill: true,
		seq: uint16(1 + rand.IntN(0x7fff)), ts: rand.Uint32N(1 << 30), ssrc: rand.Uint32(),
	}
	for _, o := range opts {
		o(&s)
	}
	if s.pt > 127 {
		return fmt.Errorf("rtp payload type %d out of range", s.pt)
	}
	if digits == "" {
		return fmt.Errorf("no digits")
	}
	var events []uint8
	for _, d := range digits {
		ev, ok := DTMFEvent(d)
		if !ok {
			return fmt.Errorf("digit %q: not one of 0-9 * # A-D", d)
		}
		events = append(events, ev)
	}

	var w pcapWriter
	w.header()
	tick := 0 // 20 ms slots since the start of the capture
	seq, ts0 := s.seq, s.ts
	send := func(marker bool, pt uint8, payload []byte, ts uint32) {
		w.rtp(time.Duration(tick)*rtpTick, marker, pt, seq, ts, s.ssrc, payload)
		seq++
	}
	clock := func() uint32 { return ts0 + uint32(tick*rtpTickTS) }
	silence := bytes.Repeat([]byte{pcmuSilence}, rtpTickTS)
	quiet := func(d time.Duration) {
		for n := ticks(d); n > 0; n-- {
			if s.fill {
				send(false, 0, silence, clock())
			}
			tick++
		}
	}

	quiet(s.lead)
	for i, ev := range events {
		if i > 0 {
			quiet(s.gap)
		}
		n := max(ticks(s.tone), 1)
		start := clock()
		for k := 0; k < n-1; k++ { // updates: duration so far
			send(k == 0, s.pt, eventPayload(ev, false, uint16((k+1)*rtpTickTS)), start)
			tick++
		}
		for r := 0; r < endRepeats; r++ { // end: full duration, three times
			send(n == 1 && r == 0, s.pt, eventPayload(ev, true, uint16(n*rtpTickTS)), start)
			tick++
		}
	}
	quiet(s.tail)
	// Only reachable with WithRTPStart near a wrap. Asterisk compares event
	// timestamps without wrap handling, and "strictly rising" is simpler to
	// check without one.
	if int(s.seq)+w.n-1 > 0xffff || uint64(ts0)+uint64(tick*rtpTickTS) > 0xffffffff {
		return fmt.Errorf("rtp sequence number or timestamp wraps within the capture: pick another start")
	}
	return os.WriteFile(path, w.buf.Bytes(), 0o644)
}

// ticks is d in 20 ms slots, rounded up.
func ticks(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + rtpTick - 1) / rtpTick)
}

// eventPayload is an RFC 4733 telephone-event payload.
func eventPayload(ev uint8, end bool, duration uint16) []byte {
	b := []byte{ev, eventVolume, 0, 0}
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], duration)
	return b
}

// pcapWriter builds a little-endian, microsecond, Ethernet pcap in memory.
type pcapWriter struct {
	buf bytes.Buffer
	n   int // packets written
}

func (w *pcapWriter) header() {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535) // snaplen
	binary.LittleEndian.PutUint32(h[20:], 1)     // LINKTYPE_ETHERNET
	w.buf.Write(h[:])
}

// rtp appends one RTP packet sent at offset at from the capture's start.
func (w *pcapWriter) rtp(at time.Duration, marker bool, pt uint8, seq uint16, ts, ssrc uint32, payload []byte) {
	rtp := make([]byte, 12, 12+len(payload))
	rtp[0] = 0x80 // V=2
	rtp[1] = pt
	if marker {
		rtp[1] |= 0x80
	}
	binary.BigEndian.PutUint16(rtp[2:], seq)
	binary.BigEndian.PutUint32(rtp[4:], ts)
	binary.BigEndian.PutUint32(rtp[8:], ssrc)
	rtp = append(rtp, payload...)

	udp := make([]byte, 8, 8+len(rtp))
	binary.BigEndian.PutUint16(udp[0:], udpPortInCap)
	binary.BigEndian.PutUint16(udp[2:], udpPortInCap)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(rtp)))
	udp = append(udp, rtp...) // checksum 0: SIPp computes it when it sends

	ip := make([]byte, 20, 20+len(udp))
	ip[0] = 0x45 // IPv4, 20-byte header
	ip[1] = 0xb8 // DSCP EF
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	binary.BigEndian.PutUint16(ip[4:], uint16(w.n+1))
	ip[6] = 0x40 // DF
	ip[8] = 64   // TTL
	ip[9] = 17   // UDP
	copy(ip[12:16], net.IPv4(127, 0, 0, 1).To4())
	copy(ip[16:20], net.IPv4(127, 0, 0, 1).To4())
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	ip = append(ip, udp...)

	eth := make([]byte, 14, 14+len(ip))
	copy(eth[0:6], []byte{0x02, 0, 0, 0, 0, 0x02})
	copy(eth[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	binary.BigEndian.PutUint16(eth[12:], 0x0800)
	frame := append(eth, ip...)

	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[0:], uint32(at/time.Second))
	binary.LittleEndian.PutUint32(rec[4:], uint32((at%time.Second)/time.Microsecond))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))  // captured = on the wire:
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame))) // SIPp refuses truncated packets
	w.buf.Write(rec[:])
	w.buf.Write(frame)
	w.n++
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// RFC2833Scenario renders the RFC 2833 phone scenario (lab/sipp/
// uas_answer_rfc2833.xml.tmpl) playing pcap, answering with telephone-event
// payload type pt, into path.
func RFC2833Scenario(path, pcap string, pt uint8) error {
	if strings.ContainsAny(pcap, "\"<>&'") {
		return fmt.Errorf("pcap path %q: characters that need XML escaping", pcap)
	}
	tmpl, err := template.ParseFiles(filepath.Join(RepoRoot(), "lab", "sipp", RFC2833Template))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct {
		PCAP string
		PT   uint8
	}{pcap, pt}); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// StartRFC2833Phone runs extension ext's phone (SIPp UAS on PhonePort(ext))
// until the test ends: it answers every call (PCMU + telephone-event/8000),
// waits delay after the ACK and sends digits as RFC 4733 events, then waits
// for the BYE. The endpoint needs dtmf_mode=rfc4733 (in the lab: agent1008).
// opts go to WriteDTMFPcap; WithPayloadType also changes the SDP answer.
// SIPp sends pcap packets through a raw socket: it needs root (CAP_NET_RAW).
func StartRFC2833Phone(t testing.TB, ext, digits string, delay time.Duration, opts ...DTMFOption) *Phone {
	t.Helper()
	return StartRFC2833UAS(t, ext, PhonePort(ext), digits, delay, opts...)
}

// StartRFC2833UAS is StartRFC2833Phone on any SIP port (the 110 platform is
// 5310, citizens 5400).
func StartRFC2833UAS(t testing.TB, name string, port int, digits string, delay time.Duration, opts ...DTMFOption) *Phone {
	t.Helper()
	dir := t.TempDir()
	s := dtmfStream{pt: DefaultDTMFPayloadType}
	for _, o := range opts {
		o(&s)
	}
	pcap := filepath.Join(dir, "dtmf.pcap")
	if err := WriteDTMFPcap(pcap, digits, opts...); err != nil {
		t.Fatalf("phone %s: %v", name, err)
	}
	scenario := filepath.Join(dir, "uas_answer_rfc2833.xml")
	if err := RFC2833Scenario(scenario, pcap, s.pt); err != nil {
		t.Fatalf("phone %s: %v", name, err)
	}
	mp := freeMediaPort(t)
	logPath := filepath.Join(dir, "sipp.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-sf", scenario,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mp),
		"-d", strconv.FormatInt(delay.Milliseconds(), 10), "-set", "ring", "0", "-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log")}
	cmd := exec.Command("sipp", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start phone %s: %v", name, err)
	}
	p := &Phone{Ext: name, cmd: cmd, dir: dir}
	t.Cleanup(func() {
		p.Stop()
		logf.Close()
		if t.Failed() {
			t.Logf("phone %s: sipp %s\n%s%s", name, strings.Join(args, " "),
				tailFile(logPath, 30), tailFile(filepath.Join(dir, "errors.log"), 30))
		}
	})
	time.Sleep(200 * time.Millisecond) // let SIPp bind its ports
	return p
}

// freeMediaPort returns an even UDP port above 40000 with the next three
// free too (SIPp binds audio RTP on -mp and video on -mp+2).
func freeMediaPort(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := 40000 + 2*rand.IntN(10000)
		var held []net.PacketConn
		ok := true
		for i := range 4 {
			c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p+i))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free UDP media port above 40000")
	return 0
}

// tailFile returns the last n lines of a file ("" when it cannot be read).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "--- " + filepath.Base(path) + "\n" + strings.Join(lines, "\n") + "\n"
}
