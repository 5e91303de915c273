package ari

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

// Asterisk 22 channel objects, as in its ARI events.
const (
	a22Channel = `{"id":"1741915613.117","name":"PJSIP/trunk-cmcc-00000a3f","state":"Up",` +
		`"protocol_id":"3c2a9e8f-1b7d@10.20.0.5","caller":{"name":"张三","number":"13800138000"},` +
		`"connected":{"name":"","number":"1001"},"accountcode":"","dialplan":{"context":"from-trunk",` +
		`"exten":"12345","priority":3,"app_name":"Stasis","app_data":"hotline,inbound,12345"},` +
		`"creationtime":"2025-03-14T09:26:53.571+0800","language":"zh","caller_rdnis":"","tenantid":""}`
	a22Agent = `{"id":"1741915614.118","name":"PJSIP/agent1001-00000a40","state":"Ringing",` +
		`"protocol_id":"","caller":{"name":"","number":"13800138000"},"connected":{"name":"","number":"1001"},` +
		`"accountcode":"","dialplan":{"context":"agents","exten":"s","priority":1,"app_name":"AppDial2","app_data":"(Outgoing Line)"},` +
		`"creationtime":"2025-03-14T09:26:54.002+0800","language":"en","channelvars":{"HOTLINE_TRUNK":"","CALLID":"c-17"}}`
	a22Tail = `"asterisk_id":"52:54:00:12:34:56","application":"hotline"}`
)

func channelStateChangeJSON(state string) string {
	return `{"type":"ChannelStateChange","timestamp":"2025-03-14T09:26:55.120+0800","channel":` +
		strings.Replace(a22Agent, `"Ringing"`, fmt.Sprintf("%q", state), 1) + `,` + a22Tail
}

func dialJSON(status string) string {
	return `{"type":"Dial","timestamp":"2025-03-14T09:26:55.430+0800","dialstatus":` + fmt.Sprintf("%q", status) +
		`,"forward":"","dialstring":"agent1001","caller":` + a22Channel + `,"peer":` + a22Agent + `,` + a22Tail
}

func channelDestroyedJSON() string {
	return `{"type":"ChannelDestroyed","timestamp":"2025-03-14T09:28:00.031+0800","cause":16,"cause_txt":"Normal Clearing",` +
		`"channel":` + a22Channel + `,` + a22Tail
}

// fastCases are realistic and odd messages of the hot types; fast says
// whether fastDecode should take them (or defer to the library).
var fastCases = []struct {
	name, in string
	fast     bool
}{
	{"StasisStart", stasisStartJSON("1741915613.117"), true},
	{"StasisStart pretty-printed", strings.ReplaceAll(stasisStartJSON("1.1"), `": `, "\"\t :\r\n "), true},
	{"StasisStart replace_channel", `{"type":"StasisStart","timestamp":"2025-03-14T09:26:53.589+0800","args":[],` +
		`"channel":` + a22Channel + `,"replace_channel":` + a22Agent + `,` + a22Tail, true},
	{"StasisStart no args", `{"type":"StasisStart","channel":{"id":"1"},"application":"hotline"}`, true},
	{"StasisStart args null", `{"type":"StasisStart","args":null,"channel":{"id":"1"}}`, false},
	{"StasisStart channel null", `{"type":"StasisStart","channel":null}`, false},
	{"StasisStart args number", `{"type":"StasisStart","args":["a",1],"channel":{"id":"1"}}`, false},
	{"StasisStart dialog", `{"type":"StasisStart","dialog":"d1","channel":{"id":"1"}}`, true},
	{"StasisEnd", `{"type":"StasisEnd","timestamp":"2025-03-14T09:28:00.040+0800","channel":` + a22Channel + `,` + a22Tail, true},
	{"StasisEnd minimal", `{"type":"StasisEnd"}`, true},
	{"StasisEnd empty channel", `{"type":"StasisEnd","channel":{}}`, true},
	{"StasisEnd bad timestamp", `{"type":"StasisEnd","timestamp":"yesterday","channel":{"id":"1"}}`, false},
	{"StasisEnd timestamp UTC", `{"type":"StasisEnd","timestamp":"2025-03-14T01:28:00.040+0000","channel":{"id":"1"}}`, true},
	{"StasisEnd duplicate channel", `{"type":"StasisEnd","channel":{"id":"1","name":"a"},"channel":{"id":"2"}}`, false},
	{"StasisEnd Channel", `{"type":"StasisEnd","Channel":{"id":"1"}}`, false},
	{"StasisEnd escaped key", `{"type":"StasisEnd","\u0063hannel":{"id":"1"}}`, false},
	{"StasisEnd channel key", `{"type":"StasisEnd","channel":{"id":"1","key":{"kind":"channel","id":"1"}}}`, false},
	{"StasisEnd escapes", `{"type":"StasisEnd","channel":{"id":"1","name":"Local/a\"b\u00e9\/c@x","caller":{"name":"\ud83d\ude00 x"}}}`, true},
	{"StasisEnd invalid UTF-8", "{\"type\":\"StasisEnd\",\"channel\":{\"id\":\"1\",\"name\":\"a\xff\xfeb\"}}", true},
	{"StasisEnd creationtime year 0", `{"type":"StasisEnd","channel":{"id":"1","creationtime":"0000-06-01T00:00:00.000+0000"}}`, false},
	{"StasisEnd trailing garbage", `{"type":"StasisEnd","channel":{"id":"1"}} x`, false},
	{"StasisEnd trailing space", "{\"type\":\"StasisEnd\",\"channel\":{\"id\":\"1\"}}\r\n\t ", true},
	{"StasisEnd type last", `{"channel":{"id":"1"},"application":"hotline","type":"StasisEnd"}`, true},
	{"StasisEnd escaped type", `{"type":"Stasis\u0045nd","channel":{"id":"1"}}`, true},
	{"StasisEnd unknown nested", `{"type":"StasisEnd","x":[1,-0.5e+3,true,false,null,{"a":[[]]},"s"],"channel":{"id":"1"}}`, true},
	{"StasisEnd bad number", `{"type":"StasisEnd","x":01,"channel":{"id":"1"}}`, false},
	{"ChannelDestroyed", channelDestroyedJSON(), true},
	{"ChannelDestroyed cause string", `{"type":"ChannelDestroyed","cause":"16","cause_txt":"Normal Clearing","channel":{"id":"1"}}`, false},
	{"ChannelDestroyed cause float", `{"type":"ChannelDestroyed","cause":16.0,"channel":{"id":"1"}}`, false},
	{"ChannelDestroyed cause -0", `{"type":"ChannelDestroyed","cause":-0,"channel":{"id":"1"}}`, true},
	{"ChannelDestroyed cause overflow", `{"type":"ChannelDestroyed","cause":99999999999999999999,"channel":{"id":"1"}}`, false},
	{"ChannelHangupRequest", hangupRequestJSON("1741915613.117"), true},
	{"ChannelHangupRequest soft", `{"type":"ChannelHangupRequest","soft":true,"channel":{"id":"1"},` + a22Tail, true},
	{"ChannelHangupRequest soft string", `{"type":"ChannelHangupRequest","soft":"true","channel":{"id":"1"}}`, false},
	{"ChannelStateChange Up", channelStateChangeJSON("Up"), true},
	{"ChannelStateChange Ringing", channelStateChangeJSON("Ringing"), true},
	{"ChannelStateChange priority string", `{"type":"ChannelStateChange","channel":{"id":"1","dialplan":{"priority":"3"}}}`, false},
	{"ChannelStateChange empty channelvars", `{"type":"ChannelStateChange","channel":{"id":"1","channelvars":{}}}`, true},
	{"ChannelStateChange channelvars dup", `{"type":"ChannelStateChange","channel":{"id":"1","channelvars":{"A":"1","A":"2","\u0042":"3"}}}`, true},
	{"ChannelStateChange channelvar number", `{"type":"ChannelStateChange","channel":{"id":"1","channelvars":{"A":1}}}`, false},
	{"Dial Ringing", dialJSON("RINGING"), true},
	{"Dial Answer", dialJSON("ANSWER"), true},
	{"Dial start", `{"type":"Dial","timestamp":"2025-03-14T09:26:55.001+0800","dialstatus":"","dialstring":"agent1001",` +
		`"peer":` + a22Agent + `,` + a22Tail, true},
	{"Dial forward", `{"type":"Dial","dialstatus":"CANCEL","forward":"PJSIP/1002","forwarded":` + a22Agent +
		`,"caller":` + a22Channel + `,"peer":` + a22Agent + `}`, true},
	{"Dial caller null", `{"type":"Dial","caller":null,"peer":{"id":"2"}}`, false},
	{"ChannelDtmfReceived", dtmfJSON("1741915613.117", "#", 120), true},
	{"ChannelDtmfReceived duration string", `{"type":"ChannelDtmfReceived","digit":"5","duration_ms":"120","channel":{"id":"1"}}`, false},
	{"PlaybackFinished", `{"type":"PlaybackFinished","timestamp":"2025-03-14T09:27:10.500+0800","playback":{"id":"pb-1",` +
		`"media_uri":"sound:hotline/welcome","next_media_uri":"sound:x","target_uri":"channel:1741915613.117",` +
		`"language":"zh","state":"done"},` + a22Tail, true},
	{"PlaybackFinished key", `{"type":"PlaybackFinished","playback":{"id":"p","key":{"kind":"playback"}}}`, false},
	{"PlaybackFinished failed", `{"type":"PlaybackFinished","playback":{"id":"p","state":"failed"}}`, true},
	{"not hot", applicationRegisteredJSON, false},
	{"not hot ChannelCreated", `{"type":"ChannelCreated","channel":` + a22Channel + `}`, false},
	{"no type", `{"channel":{"id":"1"}}`, false},
	{"empty type", `{"type":"","channel":{"id":"1"}}`, false},
	{"type number", `{"type":1}`, false},
	{"not an object", `["StasisStart"]`, false},
	{"truncated", `{"type":"StasisEnd","channel":{"id":"1"`, false},
}

// TestFastDecodeEquivalent checks that Decode (fast path) and decodeSlow (the
// library) return reflect.DeepEqual results. The library types hold only
// exported data and zero XXX_ protobuf bookkeeping fields, and both paths
// build time.Time with time.Parse (a *time.Location is compared deeply), so
// DeepEqual needs no special cases.
func TestFastDecodeEquivalent(t *testing.T) {
	for _, tc := range fastCases {
		t.Run(tc.name, func(t *testing.T) {
			fast := fastDecode([]byte(tc.in))
			if (fast != nil) != tc.fast {
				t.Errorf("fastDecode took it: %v, want %v", fast != nil, tc.fast)
			}
			checkEquivalent(t, []byte(tc.in))
		})
	}
}

// checkEquivalent fails unless Decode and decodeSlow agree on data, and
// whatever fastDecode accepts the library decodes without error.
func checkEquivalent(t *testing.T, data []byte) {
	t.Helper()
	slowEv, slowErr := decodeSlow(data)
	if fast := fastDecode(data); fast != nil {
		if slowErr != nil {
			t.Fatalf("fast path took %q, which the slow path rejects: %v", data, slowErr)
		}
		if !reflect.DeepEqual(fast, slowEv) {
			t.Fatalf("fast and slow decoding of %q differ:\nfast %#v\nslow %#v", data, fast, slowEv)
		}
	}
	ev, err := Decode(data)
	if !reflect.DeepEqual(ev, slowEv) || fmt.Sprint(err) != fmt.Sprint(slowErr) {
		t.Fatalf("Decode(%q) = (%#v, %v), slow path (%#v, %v)", data, ev, err, slowEv, slowErr)
	}
}

func TestFastDecodeFields(t *testing.T) {
	ev, err := Decode([]byte(dialJSON("ANSWER")))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := ev.(*ariv5.Dial)
	if !ok || fastDecode([]byte(dialJSON("ANSWER"))) == nil {
		t.Fatalf("got %T, or not by the fast path", ev)
	}
	if d.Dialstatus != "ANSWER" || d.Dialstring != "agent1001" || d.Caller.Caller.Name != "张三" ||
		d.Peer.ChannelVars["CALLID"] != "c-17" || d.Peer.Dialplan.Priority != 1 || d.GetNode() != "52:54:00:12:34:56" ||
		d.Peer.Creationtime.Seconds != 1741915614 || d.Peer.Creationtime.Nanos != 2e6 ||
		d.Caller.Language != "" || d.Forwarded.Creationtime != nil {
		t.Fatalf("Dial decoded wrong: %+v", d)
	}
}

func FuzzFastDecodeEquivalent(f *testing.F) {
	for _, tc := range fastCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEquivalent(t, data)
	})
}

// BenchmarkDecode compares Decode (fast path) with decodeSlow (the library)
// for the commonest events of a call.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, payload string }{
		{"StasisStart", stasisStartJSON("1741915613.117")},
		{"ChannelStateChange", channelStateChangeJSON("Up")},
		{"Dial", dialJSON("ANSWER")},
		{"ChannelDestroyed", channelDestroyedJSON()},
	} {
		for _, impl := range []struct {
			name   string
			decode func([]byte) (ariv5.Event, error)
		}{{"slow", decodeSlow}, {"fast", Decode}} {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				data := []byte(bc.payload)
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := impl.decode(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
