package sinkserver

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
)

// fill sets every field of m (recursively, lists of 0-3 elements) to
// random values, so that every field a ticket has, now or later, is
// covered.
func fill(r *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if r.IntN(4) == 0 || fd.IsMap() || fd.ContainingOneof() != nil && r.IntN(2) == 0 {
			continue // unset
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				if fd.Kind() == protoreflect.MessageKind {
					if depth > 3 {
						break
					}
					e := l.NewElement()
					fillValue(r, fd, e.Message(), depth+1)
					l.Append(e)
					continue
				}
				l.Append(scalar(r, fd))
			}
			continue
		}
		if fd.Kind() == protoreflect.MessageKind {
			if depth > 3 {
				continue
			}
			fillValue(r, fd, m.Mutable(fd).Message(), depth+1)
			continue
		}
		m.Set(fd, scalar(r, fd))
	}
}

func fillValue(r *rand.Rand, fd protoreflect.FieldDescriptor, m protoreflect.Message, depth int) {
	if m.Descriptor().FullName() == "google.protobuf.Timestamp" {
		secs := r.Int64N(253402300799+62135596800) - 62135596800
		nanos := []int64{0, 1, 999999999, 120000000, 123000, 123456789, r.Int64N(1e9)}[r.IntN(7)]
		proto.Merge(m.Interface(), &timestamppb.Timestamp{Seconds: secs, Nanos: int32(nanos)})
		return
	}
	fill(r, m, depth)
}

var samples = []string{"", "12345", "a\"b\\c", "line\nbreak\ttab\r", "\x00\x01\x1f\x7f", "质检 工单 12345", "emoji 😀", "</script>&<>", "\u2028\u2029"}

func scalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(samples[r.IntN(len(samples))] + strings.Repeat("x", r.IntN(3)))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if r.IntN(5) == 0 {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(100 + r.IntN(10))) // unknown number
		}
		return protoreflect.ValueOfEnum(vals.Get(r.IntN(vals.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(r.Int32() - 1<<30)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(r.Uint32())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(r.Int64() - 1<<62)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(r.Uint64())
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(r.Float64())
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(r.Float32())
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(samples[r.IntN(len(samples))]))
	}
	panic("kind " + fd.Kind().String())
}

// The sink's own encoder writes lines that protojson reads back as the
// same ticket as protojson's own lines, for tickets with every field set
// at random (nested messages, lists, unknown enum numbers, escapes,
// timestamps at the range's ends), and falls back to protojson (with its
// error) where protojson refuses.
func TestAppendJSONReadsBackAsProtojson(t *testing.T) {
	r := rand.New(rand.NewPCG(12345, uint64(time.Now().UnixNano())))
	for i := range 3000 {
		tk := &hotlinev1.Ticket{}
		fill(r, tk.ProtoReflect(), 0)
		line, err := appendJSON([]byte("prefix"), tk)
		if err != nil {
			t.Fatalf("ticket %d: %v", i, err)
		}
		if !strings.HasPrefix(string(line), "prefix") {
			t.Fatalf("ticket %d: prefix lost: %q", i, line)
		}
		got := &hotlinev1.Ticket{}
		if err := protojson.Unmarshal(line[len("prefix"):], got); err != nil {
			t.Fatalf("ticket %d: line does not read back: %v\n%s", i, err, line)
		}
		ref, err := protojson.Marshal(tk)
		if err != nil {
			t.Fatal(err)
		}
		want := &hotlinev1.Ticket{}
		if err := protojson.Unmarshal(ref, want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("ticket %d reads back differently:\nours:      %s\nprotojson: %s", i, line, ref)
		}
	}
	// An empty ticket, and what protojson refuses.
	if line, err := appendJSON(nil, &hotlinev1.Ticket{}); err != nil || string(line) != "{}" {
		t.Fatalf("empty ticket: %q, %v", line, err)
	}
	for name, tk := range map[string]*hotlinev1.Ticket{
		"invalid UTF-8":      {TicketId: "t1", CallerNumber: "\xff\xfe"},
		"timestamp too late": {TicketId: "t1", EndedAt: &timestamppb.Timestamp{Seconds: 253402300800}},
		"negative nanos":     {TicketId: "t1", EndedAt: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}},
	} {
		_, err := appendJSON(nil, tk)
		_, want := protojson.Marshal(tk)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("%s: error %v, want protojson's %v", name, err, want)
		}
	}
}

func BenchmarkEncodeTicket(b *testing.B) {
	now := time.Now()
	tk := &hotlinev1.Ticket{
		TicketId: "1733100000.123", CallId: "1733100000.123", Direction: hotlinev1.Direction_DIRECTION_INBOUND,
		CallerNumber: "13800000000", CalledNumber: "12345", Line: "12345", MainLine: "12345",
		EnteredAt: timestamppb.New(now.Add(-3 * time.Minute)), EndedAt: timestamppb.New(now),
		EndReason: "completed", WaitSeconds: 12, TalkSeconds: 150, GatewayInstance: "gw-test",
	}
	b.Run("protojson", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = protojson.MarshalOptions{}.MarshalAppend(buf[:0], tk)
		}
	})
	b.Run("sink", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = appendJSON(buf[:0], tk)
		}
	})
}
