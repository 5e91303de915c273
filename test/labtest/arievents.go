package labtest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// ARIEvent is one event an EventWatch saw, with the fields tests ask about.
type ARIEvent struct {
	Type     string `json:"type"`
	Playback struct {
		ID        string `json:"id"`
		MediaURI  string `json:"media_uri"`
		TargetURI string `json:"target_uri"`
	} `json:"playback"`
	Channel struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"channel"`
	Digit string `json:"digit"`
}

// EventWatch is an ARI application of the test's own, subscribed to every
// event source of the lab PBX (subscribeAll): it sees the events of the
// gateway's channels as Asterisk sends them, whatever the gateway's event
// filter.
type EventWatch struct {
	conn net.Conn
	mu   sync.Mutex
	evs  []ARIEvent
	done chan struct{}
}

// WatchARIEvents registers the application app over the ARI websocket
// until the test ends.
func WatchARIEvents(t testing.TB, app string) *EventWatch {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:8088", 3*time.Second)
	if err != nil {
		t.Fatalf("ARI websocket: %v", err)
	}
	k := make([]byte, 16)
	_, _ = rand.Read(k)
	auth := base64.StdEncoding.EncodeToString([]byte(ARIUser + ":" + ARIPass))
	fmt.Fprintf(conn, "GET /ari/events?app=%s&subscribeAll=true HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Basic %s\r\n\r\n", app, base64.StdEncoding.EncodeToString(k), auth)
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		t.Fatalf("ARI websocket upgrade: %v %v", resp, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	w := &EventWatch{conn: conn, done: make(chan struct{})}
	go w.read(br)
	t.Cleanup(func() { conn.Close(); <-w.done })
	return w
}

func (w *EventWatch) read(br *bufio.Reader) {
	defer close(w.done)
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			return
		}
		switch h[0] & 0x0f {
		case 1: // text
			var ev ARIEvent
			if json.Unmarshal(data, &ev) == nil {
				w.mu.Lock()
				w.evs = append(w.evs, ev)
				w.mu.Unlock()
			}
		case 8: // close
			return
		case 9: // ping: answer with a masked pong
			frame := []byte{0x8a, 0x80 | byte(len(data))}
			mask := []byte{1, 2, 3, 4}
			frame = append(frame, mask...)
			for i, b := range data {
				frame = append(frame, b^mask[i%4])
			}
			_, _ = w.conn.Write(frame)
		}
	}
}

// Events returns the events seen so far of the given type on channel
// channelID ("" any channel; playbacks by their target channel:<id>).
func (w *EventWatch) Events(typ, channelID string) []ARIEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ARIEvent
	for _, ev := range w.evs {
		if ev.Type != typ {
			continue
		}
		if channelID != "" && ev.Channel.ID != channelID && !strings.HasSuffix(ev.Playback.TargetURI, ":"+channelID) {
			continue
		}
		out = append(out, ev)
	}
	return out
}
