package edge

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	hotlinev1 "github.com/hotline12345/hotline-gw/api/hotline/v1"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway/live"
)

// WallCookie is the HttpOnly cookie /wall/login sets: it carries the wall
// screen's token, so that the page's EventSource (which cannot send an
// Authorization header) is authenticated like any other request.
const WallCookie = "hotline_wall"

// wallCookieAge is how long a wall screen stays logged in (a hall screen
// runs for days); revoking its token in auth.wall ends it at once.
const wallCookieAge = 30 * 24 * time.Hour

// Stable reason codes of the JSON errors of the HTTP edge, besides the
// guard's (missing_token, malformed_token, unknown_token, wrong_role,
// rate_limited).
const (
	CodeUnavailable      = "unavailable"        // Redis unreachable: the figures cannot be read
	CodeMethodNotAllowed = "method_not_allowed" // e.g. POST to /live/snapshot
	CodeBadRequest       = "bad_request"        // a malformed form
	CodeShuttingDown     = "shutting_down"      // the gateway stops: reconnect
)

// LiveHTTP serves the live figures on the HTTP listener:
//
//	GET  /live/snapshot  the LiveSnapshot as JSON (protojson, lowerCamelCase)
//	GET  /live/stream    Server-Sent Events: "snapshot" events with the same JSON, "failure" events {"code","message"}
//	POST /wall/login     form field token: checks it and sets the HttpOnly WallCookie
//	POST /wall/logout    clears the cookie
//
// A token is taken from "Authorization: Bearer <token>" or from WallCookie;
// errors are JSON {"code": "...", "message": "..."} with a stable code.
type LiveHTTP struct {
	Live  Live
	Guard *auth.Guard
	Log   *slog.Logger
	// Heartbeat is the interval of the "ping" event that keeps proxies
	// from closing an idle stream and lets the page see a dead connection
	// (default 15s).
	Heartbeat time.Duration
}

// Register adds the handlers to mux.
func (h *LiveHTTP) Register(mux *http.ServeMux) {
	mux.HandleFunc("/live/snapshot", h.snapshot)
	mux.HandleFunc("/live/stream", h.stream)
	mux.HandleFunc("POST /wall/login", h.login)
	mux.HandleFunc("POST /wall/logout", h.logout)
}

var snapJSON = protojson.MarshalOptions{EmitUnpopulated: true}

// WriteJSONError answers {"code": code, "message": msg} with status.
func WriteJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hotline-gw"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(errorJSON(code, msg), '\n'))
}

// errorJSON is {"code": code, "message": msg}.
func errorJSON(code, msg string) []byte {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	return b
}

// sse writes one Server-Sent Event; data is one line of JSON.
func sse(w http.ResponseWriter, event string, data []byte) error {
	_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
	return err
}

func (h *LiveHTTP) admit(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		WriteJSONError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.URL.Path+" takes GET")
		return false
	}
	if _, ref := h.Guard.AuthorizeHTTP(r, WallCookie, auth.LiveRule); ref != nil {
		WriteJSONError(w, ref.Status, ref.Reason, ref.Message)
		return false
	}
	return true
}

func (h *LiveHTTP) snapshot(w http.ResponseWriter, r *http.Request) {
	if !h.admit(w, r) {
		return
	}
	snap, err := h.Live.Snapshot(r.Context())
	if err != nil {
		h.Log.Error("live snapshot failed", "err", err)
		WriteJSONError(w, http.StatusServiceUnavailable, CodeUnavailable, "the live figures cannot be read now (Redis unreachable); retry")
		return
	}
	b, err := snapJSON.Marshal(snap)
	if err != nil {
		WriteJSONError(w, http.StatusInternalServerError, CodeUnavailable, "the live figures cannot be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// stream is /live/stream: a "snapshot" event at once and on every change,
// a "failure" event while the figures cannot be read (the page keeps the
// last figures and says they are stale), a "ping" event every Heartbeat, and
// "retry: 1000" so that a browser reconnects a second after a cut.
func (h *LiveHTTP) stream(w http.ResponseWriter, r *http.Request) {
	if !h.admit(w, r) {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		WriteJSONError(w, http.StatusInternalServerError, CodeUnavailable, "streaming unsupported")
		return
	}
	updates, cancel := h.Live.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	var last *hotlinev1.LiveSnapshot
	send := func(u live.Update) error {
		if u.Err != nil {
			last = nil // the next good snapshot ends the failure on the page
			return sse(w, "failure", errorJSON(CodeUnavailable, "the live figures cannot be read now (Redis unreachable); showing the last ones"))
		}
		if u.Snapshot == nil || (last != nil && live.Same(last, u.Snapshot)) {
			return nil
		}
		b, err := snapJSON.Marshal(u.Snapshot)
		if err != nil {
			return err
		}
		last = u.Snapshot
		return sse(w, "snapshot", b)
	}
	first, err := h.Live.Snapshot(r.Context())
	if err != nil {
		h.Log.Warn("live stream: first snapshot failed", "err", err)
	}
	if err := send(live.Update{Snapshot: first, Err: err}); err != nil {
		return
	}
	fl.Flush()
	beat := h.Heartbeat
	if beat <= 0 {
		beat = 15 * time.Second
	}
	t := time.NewTicker(beat)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			if err := sse(w, "ping", []byte("{}")); err != nil {
				return
			}
		case u, ok := <-updates:
			if !ok {
				_ = sse(w, "failure", errorJSON(CodeShuttingDown, "the gateway is shutting down; reconnecting"))
				fl.Flush()
				return
			}
			if err := send(u); err != nil {
				return
			}
		}
		fl.Flush()
	}
}

// login is POST /wall/login with the form field "token" (from the page's
// login form): a token of a role that may read the live figures gets the
// HttpOnly, SameSite=Strict WallCookie (Secure over TLS); the page never
// holds the token in script-readable storage.
func (h *LiveHTTP) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		WriteJSONError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "/wall/login takes POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		WriteJSONError(w, http.StatusBadRequest, CodeBadRequest, "the login form is malformed")
		return
	}
	tok := r.PostForm.Get("token")
	check := r.Clone(r.Context())
	check.Header = http.Header{}
	if tok != "" {
		check.Header.Set("Authorization", "Bearer "+tok)
	}
	p, ref := h.Guard.AuthorizeHTTP(check, "", auth.LiveRule)
	if ref != nil {
		WriteJSONError(w, ref.Status, ref.Reason, ref.Message)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: WallCookie, Value: tok, Path: "/", MaxAge: int(wallCookieAge / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	h.Log.Info("wall screen logged in", "principal", p.String(), "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"role": string(p.Role), "name": p.Name})
}

// logout is POST /wall/logout: it clears the cookie.
func (h *LiveHTTP) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		WriteJSONError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "/wall/logout takes POST")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: WallCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}
