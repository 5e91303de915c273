package sinkserver

import (
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// appendJSON appends m's protojson encoding (default options: JSON field
// names, unset fields left out) to b. It walks the message by reflection
// itself for the kinds a ticket holds — strings, bools, enums, integers,
// nested messages, repeated fields, google.protobuf.Timestamp — which is
// several times cheaper than protojson.Marshal; a message with anything
// else (maps, bytes, floats, other well-known types, invalid UTF-8 or an
// out-of-range timestamp) is encoded by protojson itself. Either way the
// line reads back with protojson.Unmarshal as the same message
// (TestAppendJSONReadsBackAsProtojson).
func appendJSON(b []byte, m proto.Message) ([]byte, error) {
	n := len(b)
	if out, ok := appendMessage(b, m.ProtoReflect()); ok {
		return out, nil
	}
	return protojson.MarshalOptions{}.MarshalAppend(b[:n], m)
}

func appendMessage(b []byte, m protoreflect.Message) ([]byte, bool) {
	fields := m.Descriptor().Fields()
	b = append(b, '{')
	first := true
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			if m.Has(fd) {
				return b, false
			}
			continue
		}
		if !m.Has(fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, fd.JSONName()...)
		b = append(b, '"', ':')
		var ok bool
		if fd.IsList() {
			l := m.Get(fd).List()
			b = append(b, '[')
			for j := range l.Len() {
				if j > 0 {
					b = append(b, ',')
				}
				if b, ok = appendSingular(b, fd, l.Get(j)); !ok {
					return b, false
				}
			}
			b = append(b, ']')
			continue
		}
		if b, ok = appendSingular(b, fd, m.Get(fd)); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func appendSingular(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), true
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return b, false
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			b = append(b, '"')
			b = append(b, ev.Name()...)
			return append(b, '"'), true
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = append(b, '"')
		b = strconv.AppendInt(b, v.Int(), 10)
		return append(b, '"'), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		b = strconv.AppendUint(b, v.Uint(), 10)
		return append(b, '"'), true
	case protoreflect.MessageKind:
		m := v.Message()
		switch name := m.Descriptor().FullName(); {
		case name == "google.protobuf.Timestamp":
			return appendTimestamp(b, m)
		case name.Parent() == "google.protobuf":
			return b, false // other well-known types have their own JSON forms
		}
		return appendMessage(b, m)
	}
	return b, false // bytes, floats, groups
}

// Timestamp range and fields as protojson checks them.
const (
	minTimestampSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestampSeconds = 253402300799 // 9999-12-31T23:59:59Z
)

// appendTimestamp writes a Timestamp as protojson does: RFC 3339 in UTC
// with 0, 3, 6 or 9 fractional digits.
func appendTimestamp(b []byte, m protoreflect.Message) ([]byte, bool) {
	fields := m.Descriptor().Fields()
	fs, fn := fields.ByNumber(1), fields.ByNumber(2)
	if fs == nil || fn == nil {
		return b, false
	}
	secs, nanos := m.Get(fs).Int(), m.Get(fn).Int()
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos >= 1e9 {
		return b, false // protojson refuses it, with its error
	}
	b = append(b, '"')
	b = time.Unix(secs, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05")
	if nanos != 0 {
		digits := 9
		for digits > 3 && nanos%1000 == 0 {
			nanos /= 1000
			digits -= 3
		}
		var d [9]byte
		for i := digits - 1; i >= 0; i-- {
			d[i] = byte('0' + nanos%10)
			nanos /= 10
		}
		b = append(append(b, '.'), d[:digits]...)
	}
	return append(b, 'Z', '"'), true
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 is refused (as
// protojson refuses it).
func appendString(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return b, false
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}
