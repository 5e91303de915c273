package auth

import (
	"errors"
	"net/http"

	"google.golang.org/grpc/metadata"
)

// HTTP guards an HTTP handler (e.g. /debug/pprof/ on the metrics
// listener) with the same tokens: only a principal of role reaches h, with
// the principal in the request's context. Missing or unknown tokens get
// 401 (with WWW-Authenticate: Bearer), another role 403, a token over its
// rate limit 429. Failures are counted like the gRPC ones.
func (g *Guard) HTTP(role Role, h http.Handler) http.Handler {
	rule := Rule{Roles: []Role{role}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := "HTTP " + r.URL.Path
		tok, err := ParseAuthorization(metadata.MD{"authorization": r.Header.Values("Authorization")})
		if err != nil {
			reason := ReasonMalformedToken
			if errors.Is(err, ErrNoToken) {
				reason = ReasonMissingToken
			}
			g.fail(r.Context(), method, rule, reason, nil)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline-gw"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		p, ok := g.table.Load().Lookup(tok)
		if !ok {
			g.fail(r.Context(), method, rule, ReasonUnknownToken, nil)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline-gw", error="invalid_token"`)
			http.Error(w, "the bearer token is not a configured credential", http.StatusUnauthorized)
			return
		}
		if !rule.Allows(p.Role) {
			g.fail(r.Context(), method, rule, ReasonWrongRole, &p)
			http.Error(w, r.URL.Path+" needs a token of "+rule.String()+"; this token is of "+p.String(), http.StatusForbidden)
			return
		}
		if !g.limit.allow(p) {
			g.fail(r.Context(), method, rule, ReasonRateLimited, &p)
			http.Error(w, p.String()+" is over its rate limit; retry later", http.StatusTooManyRequests)
			return
		}
		h.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}
