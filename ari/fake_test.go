package ari

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// fakeARI is a minimal ARI server: the events websocket and a few REST paths.
type fakeARI struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	entityID   string
	startup    string
	userAgents []string
	appChans   []string
	bodies     []string // bodies of POST /bridges/{id}/addChannel

	conns  atomic.Int32
	connCh chan *fakeConn
}

type fakeConn struct {
	send chan string
	kill chan struct{}
	gone chan struct{} // closed when the client side went away
}

func newFakeARI(t *testing.T) *fakeARI {
	t.Helper()
	return newFakeARIServer(t, false)
}

// newFakeARIServer is newFakeARI, served over TLS (https, wss) when
// secure; f.srv.Certificate() is then its self-signed certificate.
func newFakeARIServer(t *testing.T, secure bool) *fakeARI {
	t.Helper()
	f := &fakeARI{
		t:        t,
		entityID: "52:54:00:12:34:56",
		startup:  "2025-03-14T08:00:00.000+0800",
		connCh:   make(chan *fakeConn, 16),
	}
	mux := http.NewServeMux()
	mux.Handle("/ari/events", websocket.Server{Handler: f.serveWS})
	mux.HandleFunc("GET /ari/asterisk/info", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		f.mu.Lock()
		defer f.mu.Unlock()
		fmt.Fprintf(w, `{"build":{"os":"Linux","kernel":"6.1.0","machine":"x86_64","options":"","date":"2025-01-01","user":"root"},`+
			`"system":{"version":"22.2.0","entity_id":%q},"config":{"name":"","default_language":"en","setid":{"user":"asterisk","group":"asterisk"}},`+
			`"status":{"startup_time":%q,"last_reload_time":%q}}`, f.entityID, f.startup, f.startup)
	})
	mux.HandleFunc("GET /ari/applications/{app}", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		if r.PathValue("app") != "hotline" {
			http.Error(w, `{"message":"Application not found"}`, http.StatusNotFound)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		ids, _ := json.Marshal(f.appChans)
		fmt.Fprintf(w, `{"name":"hotline","channel_ids":%s,"bridge_ids":[],"endpoint_ids":[],"device_names":[],"events_allowed":[],"events_disallowed":[]}`, ids)
	})
	mux.HandleFunc("POST /ari/channels/{id}/answer", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		switch r.PathValue("id") {
		case "gone":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Channel not found"}`))
		case "notinstasis":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"message":"Channel not in Stasis application"}`))
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /ari/channels/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		if r.PathValue("id") == "gone" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Channel not found"}`))
			return
		}
		fmt.Fprintf(w, `{"id":%q,"name":"PJSIP/x-1","state":"Up","caller":{"name":"","number":"13800138000"},"connected":{"name":"","number":""},`+
			`"accountcode":"","dialplan":{"context":"from-trunk","exten":"12345","priority":3},"creationtime":"2025-03-14T09:26:53.571+0800","language":"zh"}`, r.PathValue("id"))
	})
	mux.HandleFunc("POST /ari/bridges/{id}/addChannel", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, r.PathValue("id")+" "+string(b))
		f.mu.Unlock()
		switch {
		case strings.Contains(string(b), "gone"):
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"message":"Channel not found"}`))
			return
		case strings.Contains(string(b), "vanished"): // Asterisk 22's answer for a list with a missing channel
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"Channel not found"}`))
			return
		case strings.Contains(string(b), "malformed"):
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"Bridge is malformed"}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /ari/bridges", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"Internal Server Error"}`))
	})
	mux.HandleFunc("GET /ari/channels/{id}/variable", func(w http.ResponseWriter, r *http.Request) {
		f.note(r)
		fmt.Fprintf(w, `{"value":%q}`, "v="+r.URL.Query().Get("variable"))
	})
	f.srv = httptest.NewUnstartedServer(mux)
	if secure {
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeARI) note(r *http.Request) {
	f.mu.Lock()
	f.userAgents = append(f.userAgents, r.UserAgent())
	f.mu.Unlock()
}

func (f *fakeARI) serveWS(ws *websocket.Conn) {
	r := ws.Request()
	user, pass, ok := r.BasicAuth()
	if !ok || user != "gw" || pass != "secret" || r.URL.Query().Get("app") != "hotline" {
		f.t.Errorf("bad websocket request: %s auth=%v", r.URL, ok)
		return
	}
	f.conns.Add(1)
	fc := &fakeConn{send: make(chan string, 64), kill: make(chan struct{}), gone: make(chan struct{})}
	go func() {
		defer close(fc.gone)
		var b []byte
		for websocket.Message.Receive(ws, &b) == nil {
		}
	}()
	f.connCh <- fc
	for {
		select {
		case msg := <-fc.send:
			if err := websocket.Message.Send(ws, msg); err != nil {
				return
			}
		case <-fc.kill:
			_ = ws.Close()
			return
		case <-fc.gone:
			return
		}
	}
}

func (f *fakeARI) url() string { return f.srv.URL + "/ari" }

func (f *fakeARI) setEntity(id, startup string) {
	f.mu.Lock()
	f.entityID, f.startup = id, startup
	f.mu.Unlock()
}

func (f *fakeARI) uas() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.userAgents...)
}

func (f *fakeARI) nextConn(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case fc := <-f.connCh:
		return fc
	case <-time.After(10 * time.Second):
		t.Fatal("no websocket connection from the client")
		return nil
	}
}

func testConfig(url string) Config {
	return Config{
		URL:            url,
		Username:       "gw",
		Password:       "secret",
		Application:    "hotline",
		RequestTimeout: 300 * time.Millisecond,
		DialTimeout:    time.Second,
		ReconnectMin:   10 * time.Millisecond,
		ReconnectMax:   50 * time.Millisecond,
		QueueSize:      16,
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
