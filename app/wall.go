package app

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/hotline12345/hotline-gw/edge"
)

// The wall screen (大屏): one page, its script and its style, embedded in
// the binary; nothing is loaded from elsewhere (CSP 'self' only).
//
//go:embed web/wall
var wallFiles embed.FS

// wallCSP lets the page load its own script and style and talk to its own
// origin only.
const wallCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// wallRoutes adds /wall (the page, public: it holds no figures), its
// assets under /wall/, the login and logout of wall screens and the live
// figures (/live/snapshot, /live/stream), which need a wall or supervisor
// token.
func (a *App) wallRoutes(mux *http.ServeMux) {
	sub, err := fs.Sub(wallFiles, "web/wall")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	files := http.FileServerFS(sub)
	page := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", wallCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/wall" {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/"
			files.ServeHTTP(w, r2)
			return
		}
		http.StripPrefix("/wall", files).ServeHTTP(w, r)
	}
	mux.HandleFunc("GET /wall", page)
	mux.HandleFunc("GET /wall/{file}", page)
	(&edge.LiveHTTP{Live: a.liveHub, Guard: a.guard, Log: a.log.With("component", "live-http")}).Register(mux)
}
