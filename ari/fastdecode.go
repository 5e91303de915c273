package ari

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

// Fast path of Decode for the event types every call produces.
//
// ariv5.DecodeEvent decodes a message twice with encoding/json (plus the
// custom ChannelData and DateTime unmarshalers, which decode their part once
// more), and Decode itself once more to read "type". fastDecode reads the
// message in one pass with a small strict scanner and fills the library's own
// event types exactly as the slow path would.
//
// It is deliberately conservative: it returns nil ("use the slow path") for
// anything whose result it cannot reproduce exactly without encoding/json's
// lenient corners, e.g.
//
//   - invalid JSON, or valid JSON it does not handle (nesting deeper than
//     maxSkipDepth in an ignored value);
//   - a known field holding null or a JSON type other than the library's Go
//     type (the slow path keeps the event with that field zero; for a
//     ChannelData null yields a channel with a year-1 creation time);
//   - a known field repeated (encoding/json merges or replaces depending on
//     the field), or a key that could match a field only case-insensitively
//     or after unescaping;
//   - a number that is not a plain integer in range, a bad timestamp, a
//     creationtime outside the protobuf Timestamp range (the slow path logs
//     and drops it), a "key" object (never sent by Asterisk).
//
// Strings with escapes or invalid UTF-8 are decoded by encoding/json itself
// so that unescaping and invalid UTF-8 replacement are identical.
//
// TestFastDecodeEquivalent and FuzzFastDecodeEquivalent check that whatever
// fastDecode accepts decodes to a reflect.DeepEqual event on the slow path.
func fastDecode(data []byte) (ev ariv5.Event) {
	defer func() {
		if recover() != nil { // a bug here must not change behaviour: use the slow path
			ev = nil
		}
	}()
	s := scanner{d: data}
	var m fastMsg
	if !s.topObject(&m) {
		return nil
	}
	if m.seen&fType == 0 {
		return nil
	}
	ed := ariv5.EventData{Application: m.application, Dialog: m.dialog, Node: m.node, Timestamp: m.timestamp, Type: m.typ}
	switch m.typ {
	case "StasisStart":
		return &ariv5.StasisStart{EventData: ed, Args: m.args, Channel: m.channel, ReplaceChannel: m.replaceChannel}
	case "StasisEnd":
		return &ariv5.StasisEnd{EventData: ed, Channel: m.channel}
	case "ChannelDestroyed":
		return &ariv5.ChannelDestroyed{EventData: ed, Cause: m.cause, CauseTxt: m.causeTxt, Channel: m.channel}
	case "ChannelHangupRequest":
		return &ariv5.ChannelHangupRequest{EventData: ed, Cause: m.cause, Channel: m.channel, Soft: m.soft}
	case "ChannelStateChange":
		return &ariv5.ChannelStateChange{EventData: ed, Channel: m.channel}
	case "Dial":
		return &ariv5.Dial{EventData: ed, Caller: m.caller, Dialstatus: m.dialstatus, Dialstring: m.dialstring,
			Forward: m.forward, Forwarded: m.forwarded, Peer: m.peer}
	case "ChannelDtmfReceived":
		return &ariv5.ChannelDtmfReceived{EventData: ed, Channel: m.channel, Digit: m.digit, DurationMs: m.durationMs}
	case "PlaybackFinished":
		return &ariv5.PlaybackFinished{EventData: ed, Playback: m.playback}
	}
	return nil
}

func hotType(typ string) bool {
	switch typ {
	case "StasisStart", "StasisEnd", "ChannelDestroyed", "ChannelHangupRequest", "ChannelStateChange",
		"Dial", "ChannelDtmfReceived", "PlaybackFinished":
		return true
	}
	return false
}

// fastMsg is the union of the top-level fields of the hot event types. A
// field of the union that the message's type lacks is ignored, as
// encoding/json ignores unknown keys.
type fastMsg struct {
	seen uint32

	typ, application, dialog, node string
	timestamp                      ariv5.DateTime

	args                                             []string
	channel, replaceChannel, caller, peer, forwarded ariv5.ChannelData
	cause, durationMs                                int
	soft                                             bool
	causeTxt, forward, dialstring, dialstatus, digit string
	playback                                         ariv5.PlaybackData
}

// Bits of fastMsg.seen.
const (
	fType uint32 = 1 << iota
	fApplication
	fDialog
	fNode
	fTimestamp
	fArgs
	fChannel
	fReplaceChannel
	fCaller
	fPeer
	fForwarded
	fCause
	fCauseTxt
	fSoft
	fForward
	fDialstring
	fDialstatus
	fDigit
	fDurationMs
	fPlayback
)

// Keys of the library structs, for the case-insensitive match check.
var (
	topKeys = []string{"type", "application", "dialog", "asterisk_id", "timestamp", "args", "channel",
		"replace_channel", "caller", "peer", "forwarded", "cause", "cause_txt", "soft", "forward",
		"dialstring", "dialstatus", "digit", "duration_ms", "playback"}
	channelKeys  = []string{"key", "id", "name", "state", "accountcode", "caller", "connected", "creationtime", "dialplan", "channelvars"}
	callerKeys   = []string{"name", "number"}
	dialplanKeys = []string{"context", "exten", "priority"}
	playbackKeys = []string{"key", "id", "language", "media_uri", "state", "target_uri"}
)

// topObject reads the whole message, which must be one object.
func (s *scanner) topObject(m *fastMsg) bool {
	ok := s.object(func(k []byte) bool {
		var bit uint32
		var ok bool
		switch string(k) {
		case "type":
			bit = fType
			m.typ, ok = s.str()
			ok = ok && hotType(m.typ) // other types: stop reading, use the slow path
		case "application":
			bit = fApplication
			m.application, ok = s.str()
		case "dialog":
			bit = fDialog
			m.dialog, ok = s.str()
		case "asterisk_id":
			bit = fNode
			m.node, ok = s.str()
		case "timestamp":
			bit = fTimestamp
			var t time.Time
			t, ok = s.time()
			m.timestamp = ariv5.DateTime(t)
		case "args":
			bit = fArgs
			m.args, ok = s.strings()
		case "channel":
			bit, ok = fChannel, s.channel(&m.channel)
		case "replace_channel":
			bit, ok = fReplaceChannel, s.channel(&m.replaceChannel)
		case "caller":
			bit, ok = fCaller, s.channel(&m.caller)
		case "peer":
			bit, ok = fPeer, s.channel(&m.peer)
		case "forwarded":
			bit, ok = fForwarded, s.channel(&m.forwarded)
		case "cause":
			bit = fCause
			m.cause, ok = s.int()
		case "cause_txt":
			bit = fCauseTxt
			m.causeTxt, ok = s.str()
		case "soft":
			bit = fSoft
			m.soft, ok = s.bool()
		case "forward":
			bit = fForward
			m.forward, ok = s.str()
		case "dialstring":
			bit = fDialstring
			m.dialstring, ok = s.str()
		case "dialstatus":
			bit = fDialstatus
			m.dialstatus, ok = s.str()
		case "digit":
			bit = fDigit
			m.digit, ok = s.str()
		case "duration_ms":
			bit = fDurationMs
			m.durationMs, ok = s.int()
		case "playback":
			bit, ok = fPlayback, s.playback(&m.playback)
		default:
			return s.unknown(k, topKeys)
		}
		if !ok || m.seen&bit != 0 {
			return false
		}
		m.seen |= bit
		return true
	})
	s.ws()
	return ok && s.i == len(s.d)
}

// channel reads a ChannelData as its UnmarshalJSON does: "language" and
// "protocol_id" are dropped, and creationtime becomes a protobuf Timestamp,
// which is 0001-01-01 when creationtime is absent.
func (s *scanner) channel(ch *ariv5.ChannelData) bool {
	var seen uint32
	var created time.Time
	ok := s.object(func(k []byte) bool {
		var bit uint32
		var ok bool
		switch string(k) {
		case "id":
			bit = 1 << 0
			ch.ID, ok = s.str()
		case "name":
			bit = 1 << 1
			ch.Name, ok = s.str()
		case "state":
			bit = 1 << 2
			ch.State, ok = s.str()
		case "accountcode":
			bit = 1 << 3
			ch.Accountcode, ok = s.str()
		case "caller":
			bit = 1 << 4
			ch.Caller = new(ariv5.CallerID)
			ok = s.callerID(ch.Caller)
		case "connected":
			bit = 1 << 5
			ch.Connected = new(ariv5.CallerID)
			ok = s.callerID(ch.Connected)
		case "creationtime":
			bit = 1 << 6
			created, ok = s.time()
		case "dialplan":
			bit = 1 << 7
			ch.Dialplan = new(ariv5.DialplanCEP)
			ok = s.dialplan(ch.Dialplan)
		case "channelvars":
			bit = 1 << 8
			ch.ChannelVars, ok = s.stringMap()
		default: // including "key"
			return s.unknown(k, channelKeys)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	if !ok {
		return false
	}
	// ptypes.TimestampProto (gogo/protobuf/types), which fails, and so
	// leaves Creationtime nil with a debug log, outside these bounds.
	const minValidSeconds, maxValidSeconds = -62135596800, 253402300800
	secs := created.Unix()
	if secs < minValidSeconds || secs >= maxValidSeconds {
		return false
	}
	ch.Creationtime = newOf(ch.Creationtime)
	ch.Creationtime.Seconds = secs
	ch.Creationtime.Nanos = int32(created.Nanosecond())
	return true
}

// newOf returns a new T for a *T: the Timestamp type of gogo/protobuf, which
// this module requires only indirectly.
func newOf[T any](*T) *T { return new(T) }

func (s *scanner) callerID(c *ariv5.CallerID) bool {
	var seen uint32
	return s.object(func(k []byte) bool {
		var bit uint32
		var ok bool
		switch string(k) {
		case "name":
			bit = 1
			c.Name, ok = s.str()
		case "number":
			bit = 2
			c.Number, ok = s.str()
		default:
			return s.unknown(k, callerKeys)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
}

func (s *scanner) dialplan(d *ariv5.DialplanCEP) bool {
	var seen uint32
	return s.object(func(k []byte) bool {
		var bit uint32
		var ok bool
		switch string(k) {
		case "context":
			bit = 1
			d.Context, ok = s.str()
		case "exten":
			bit = 2
			d.Exten, ok = s.str()
		case "priority":
			bit = 4
			var p int
			p, ok = s.int()
			d.Priority = int64(p)
		default: // app_name, app_data
			return s.unknown(k, dialplanKeys)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
}

func (s *scanner) playback(p *ariv5.PlaybackData) bool {
	var seen uint32
	return s.object(func(k []byte) bool {
		var bit uint32
		var ok bool
		switch string(k) {
		case "id":
			bit = 1
			p.ID, ok = s.str()
		case "language":
			bit = 2
			p.Language, ok = s.str()
		case "media_uri":
			bit = 4
			p.MediaURI, ok = s.str()
		case "state":
			bit = 8
			p.State, ok = s.str()
		case "target_uri":
			bit = 16
			p.TargetURI, ok = s.str()
		default: // including "key"
			return s.unknown(k, playbackKeys)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
}

// scanner is a strict reader of JSON with encoding/json's syntax rules. Every
// method returns false when it cannot, or will not, read what it is asked to;
// the caller then gives up and Decode uses the slow path.
type scanner struct {
	d []byte
	i int
}

const maxSkipDepth = 64

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (s *scanner) ws() {
	for s.i < len(s.d) && isSpace(s.d[s.i]) {
		s.i++
	}
}

// next skips whitespace and consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads an object, calling member with each key (raw, but known to be
// plain ASCII without escapes) positioned at its value, which member must
// consume.
func (s *scanner) object(member func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		s.ws()
		raw, escaped, high, ok := s.rawString()
		if !ok || escaped || high || !s.next(':') {
			return false
		}
		s.ws()
		if !member(raw) {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// unknown skips the value of a key that matches no field exactly. If it
// matches one case-insensitively, encoding/json would fill that field: give up.
func (s *scanner) unknown(key []byte, known []string) bool {
	for _, k := range known {
		if len(k) == len(key) && bytes.EqualFold(key, []byte(k)) {
			return false
		}
	}
	return s.skip(0)
}

// rawString reads a string at s.i and returns its bytes between the quotes,
// whether they contain escapes, and whether they contain non-ASCII bytes.
func (s *scanner) rawString() (raw []byte, escaped, high, ok bool) {
	if s.i >= len(s.d) || s.d[s.i] != '"' {
		return nil, false, false, false
	}
	start := s.i + 1
	for i := start; ; i++ {
		for i < len(s.d) && plainByte[s.d[i]] {
			i++
		}
		if i >= len(s.d) {
			return nil, false, false, false
		}
		switch c := s.d[i]; {
		case c == '"':
			s.i = i + 1
			return s.d[start:i], escaped, high, true
		case c < 0x20:
			return nil, false, false, false
		case c >= utf8.RuneSelf:
			high = true
		default: // '\\'
			escaped = true
			i++
			if i >= len(s.d) {
				return nil, false, false, false
			}
			switch s.d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.d) {
					return nil, false, false, false
				}
				for _, h := range s.d[i+1 : i+5] {
					if !isHex(h) {
						return nil, false, false, false
					}
				}
				i += 4
			default:
				return nil, false, false, false
			}
		}
	}
}

// plainByte marks the bytes a string holds as themselves: printable ASCII
// other than '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// str reads a string value (not null).
func (s *scanner) str() (string, bool) {
	start := s.i
	raw, escaped, high, ok := s.rawString()
	if !ok {
		return "", false
	}
	if !escaped && (!high || utf8.Valid(raw)) {
		return string(raw), true
	}
	var v string // escapes or invalid UTF-8: exactly as encoding/json does it
	if json.Unmarshal(s.d[start:s.i], &v) != nil {
		return "", false
	}
	return v, true
}

// time reads a string in ARI's DateFormat, as ariv5.DateTime.UnmarshalJSON.
func (s *scanner) time() (time.Time, bool) {
	v, ok := s.str()
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(ariv5.DateFormat, v)
	return t, err == nil
}

// strings reads an array of strings (an empty array is a non-nil slice).
func (s *scanner) strings() ([]string, bool) {
	if !s.next('[') {
		return nil, false
	}
	out := []string{}
	if s.next(']') {
		return out, true
	}
	for {
		s.ws()
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if s.next(',') {
			continue
		}
		return out, s.next(']')
	}
}

// stringMap reads an object of strings; a repeated key keeps its last value.
func (s *scanner) stringMap() (map[string]string, bool) {
	if !s.next('{') {
		return nil, false
	}
	out := map[string]string{}
	if s.next('}') {
		return out, true
	}
	for {
		s.ws()
		k, ok := s.str()
		if !ok || !s.next(':') {
			return nil, false
		}
		s.ws()
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out[k] = v
		if s.next(',') {
			continue
		}
		return out, s.next('}')
	}
}

// int reads an integer literal into an int as encoding/json does
// (strconv.ParseInt, so "-0" is 0); fractions and exponents are refused.
func (s *scanner) int() (int, bool) {
	start := s.i
	if s.i < len(s.d) && s.d[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.d) && '0' <= s.d[s.i] && s.d[s.i] <= '9' {
		s.i++
	}
	switch {
	case s.i == digits, s.d[digits] == '0' && s.i-digits > 1: // no digits, or a leading zero
		return 0, false
	case s.i < len(s.d) && (s.d[s.i] == '.' || s.d[s.i] == 'e' || s.d[s.i] == 'E'):
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.d[start:s.i]), 10, strconv.IntSize)
	return int(n), err == nil
}

func (s *scanner) bool() (bool, bool) {
	switch {
	case bytes.HasPrefix(s.d[s.i:], []byte("true")):
		s.i += 4
		return true, true
	case bytes.HasPrefix(s.d[s.i:], []byte("false")):
		s.i += 5
		return false, true
	}
	return false, false
}

// skip validates and skips any value.
func (s *scanner) skip(depth int) bool {
	if depth > maxSkipDepth || s.i >= len(s.d) {
		return false
	}
	switch c := s.d[s.i]; {
	case c == '"':
		_, _, _, ok := s.rawString()
		return ok
	case c == '{':
		return s.object(func(k []byte) bool { return s.skip(depth + 1) })
	case c == '[':
		s.i++
		if s.next(']') {
			return true
		}
		for {
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
			if s.next(',') {
				continue
			}
			return s.next(']')
		}
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if bytes.HasPrefix(s.d[s.i:], []byte(lit)) {
				s.i += len(lit)
				return true
			}
		}
		return false
	}
}

// number skips a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	d := s.d
	if s.i < len(d) && d[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(d) && d[s.i] == '0':
		s.i++
	case s.i < len(d) && '1' <= d[s.i] && d[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.i < len(d) && d[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(d) && (d[s.i] == 'e' || d[s.i] == 'E') {
		s.i++
		if s.i < len(d) && (d[s.i] == '+' || d[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.d) && '0' <= s.d[s.i] && s.d[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
