package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"unicode/utf8"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

func TestDecodeKnown(t *testing.T) {
	ev, err := Decode([]byte(stasisStartJSON("1741915613.117")))
	if err != nil {
		t.Fatalf("Decode StasisStart: %v", err)
	}
	ss, ok := ev.(*ariv5.StasisStart)
	if !ok {
		t.Fatalf("Decode StasisStart: got %T", ev)
	}
	if ss.Channel.ID != "1741915613.117" || ss.Channel.Caller.Number != "13800138000" ||
		ss.Channel.Dialplan.Exten != "12345" || len(ss.Args) != 2 || ss.GetNode() != "52:54:00:12:34:56" ||
		ss.Channel.ChannelVars["HOTLINE_TRUNK"] != "cmcc" || ss.Channel.Creationtime == nil {
		t.Fatalf("StasisStart decoded wrong: %+v", ss)
	}
	// Library caveat (v5.3.1): ChannelData's custom UnmarshalJSON drops
	// "language" (and "protocol_id").
	if ss.Channel.Language != "" {
		t.Logf("library now decodes language: %q", ss.Channel.Language)
	}
}

func TestDecodeUnknownAndBad(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		unknownTyp string
		reason     string
		channel    string
	}{
		{"ApplicationRegistered", applicationRegisteredJSON, "ApplicationRegistered", "", ""},
		{"ChannelTransfer", channelTransferJSON, "ChannelTransfer", "", "1741915613.117"},
		{"RESTResponse", restResponseJSON, "RESTResponse", "", ""},
		{"ChannelToneDetected", channelToneDetectedJSON, "ChannelToneDetected", "", "1741915613.117"},
		{"invalid JSON", `{"type":"StasisStart",`, "", ReasonBadJSON, ""},
		{"not an object", `[1,2]`, "", ReasonBadJSON, ""},
		{"no type", `{"application":"hotline"}`, "", ReasonNoType, ""},
		{"bad timestamp", `{"type":"StasisEnd","timestamp":"yesterday","channel":{"id":"1"}}`, "", ReasonBadJSON, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode([]byte(tc.in))
			if tc.reason != "" {
				var de *DecodeError
				if !errors.As(err, &de) || de.Reason != tc.reason || ev != nil {
					t.Fatalf("got (%v, %v), want DecodeError %s", ev, err, tc.reason)
				}
				return
			}
			u, ok := ev.(*UnknownEvent)
			if err != nil || !ok {
				t.Fatalf("got (%T, %v), want *UnknownEvent", ev, err)
			}
			if u.Type != tc.unknownTyp || string(u.Raw) != tc.in || u.GetApplication() != "hotline" {
				t.Fatalf("unknown event: %+v", u)
			}
			var ch string
			for _, k := range u.Keys() {
				if k.Kind == ariv5.ChannelKey {
					ch = k.ID
				}
			}
			if ch != tc.channel {
				t.Fatalf("channel key %q, want %q", ch, tc.channel)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		stasisStartJSON("1.1"), dtmfJSON("1.1", "5", 120), hangupRequestJSON("1.2"),
		applicationRegisteredJSON, channelTransferJSON, restResponseJSON,
		`{"type":"PlaybackFinished","playback":{"id":"p1","target_uri":"channel:1.1","state":"done"}}`,
		`{"type":"RecordingFinished","recording":{"name":"r","duration":"x"}}`,
		`{"type":"Dial","caller":null,"peer":{"id":"2"}}`,
		`{"type":"ChannelUserevent","userevent":{"a":[1,{}]}}`,
		`{"type":""}`, `{}`, `null`, `"x"`, `{"type":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	d := NewDispatcher(nil, nil, 4)
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err == nil && ev == nil {
			t.Fatalf("Decode(%q) returned a nil event without an error", data)
		}
		if err != nil && ev != nil {
			t.Fatalf("Decode(%q) returned both %T and %v", data, ev, err)
		}
		if ev != nil {
			_ = ev.GetType()
			d.Dispatch(ev) // routing must not panic either
		}
	})
}

// FuzzDecodeAccepts: a well-formed StasisStart decodes to one, with the
// channel, caller and arguments it carries, whatever their text.
func FuzzDecodeAccepts(f *testing.F) {
	f.Add("1741915613.117", "13800138000", "inbound", "12345")
	f.Add("", "", "", "")
	f.Add("a\"b\\c", "张三", "from110", "\u2028")
	f.Fuzz(func(t *testing.T, id, caller, entry, dnis string) {
		if !utf8.ValidString(id) || !utf8.ValidString(caller) || !utf8.ValidString(entry) || !utf8.ValidString(dnis) {
			return
		}
		data := fmt.Sprintf(`{"type":"StasisStart","application":"hotline","timestamp":"2025-03-14T09:26:53.589+0800","args":[%s,%s],
"channel":{"id":%s,"name":"PJSIP/trunk-1","state":"Ring","caller":{"name":"","number":%s},"connected":{"name":"","number":""},
"dialplan":{"context":"from-trunk","exten":"12345","priority":3},"creationtime":"2025-03-14T09:26:53.501+0800","language":"en"}}`,
			jsonString(entry), jsonString(dnis), jsonString(id), jsonString(caller))
		ev, err := Decode([]byte(data))
		if err != nil {
			t.Fatalf("Decode refused a well-formed StasisStart: %v\n%s", err, data)
		}
		ss, ok := ev.(*ariv5.StasisStart)
		if !ok {
			t.Fatalf("decoded %T, want *StasisStart", ev)
		}
		if ss.Channel.ID != id || ss.Channel.Caller.Number != caller || len(ss.Args) != 2 || ss.Args[0] != entry || ss.Args[1] != dnis {
			t.Fatalf("StasisStart decoded as channel %q caller %q args %q; want %q %q [%q %q]", ss.Channel.ID, ss.Channel.Caller.Number, ss.Args, id, caller, entry, dnis)
		}
	})
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
