// Package desk is the agent's desk (坐席工作台), served by the gateway at
// /desk: one self-contained page (no asset from the internet) that speaks
// the HTTP/JSON API under /api/v1/ with the seat's own token.
package desk

import (
	_ "embed"
	"net/http"
)

//go:embed index.html
var page []byte

// Handler serves the page. It holds no secret: the token is typed in by
// the agent and sent only to the API.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Write(page)
	})
}
