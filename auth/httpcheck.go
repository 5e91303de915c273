package auth

import (
	"errors"
	"net/http"

	"google.golang.org/grpc/metadata"
)

// Refusal is why an HTTP request was refused: the status to answer, a
// stable reason code (the reasons of hotline_auth_failures_total) a page
// can translate, and a message that never contains the token.
type Refusal struct {
	Status  int
	Reason  string
	Message string
}

// TokenFromRequest returns the bearer token of r: its Authorization
// header ("Bearer <token>") or, when the header is absent and cookie is
// not "", the value of that cookie (a browser's EventSource cannot send
// headers). An absent token is ErrNoToken, a malformed one
// ErrMalformedToken.
func TokenFromRequest(r *http.Request, cookie string) (string, error) {
	if vals := r.Header.Values("Authorization"); len(vals) > 0 || cookie == "" {
		return ParseAuthorization(metadata.MD{"authorization": vals})
	}
	c, err := r.Cookie(cookie)
	if err != nil || c.Value == "" {
		return "", ErrNoToken
	}
	return ParseAuthorization(metadata.MD{"authorization": {"Bearer " + c.Value}})
}

// AuthorizeHTTP checks the token of an HTTP request (TokenFromRequest with
// cookie) against rule, with the same table, rate limit and failure
// counting as the gRPC interceptors. It returns the principal, or why the
// request is refused: 401 missing/malformed/unknown token, 403 wrong role,
// 429 rate limited.
func (g *Guard) AuthorizeHTTP(r *http.Request, cookie string, rule Rule) (Principal, *Refusal) {
	method := "HTTP " + r.Method + " " + r.URL.Path
	tok, err := TokenFromRequest(r, cookie)
	if err != nil {
		reason := ReasonMalformedToken
		if errors.Is(err, ErrNoToken) {
			reason = ReasonMissingToken
		}
		g.fail(r.Context(), method, rule, reason, nil)
		return Principal{}, &Refusal{http.StatusUnauthorized, reason, r.URL.Path + " needs a token of " + rule.String() + ": " + err.Error()}
	}
	p, ok := g.table.Load().Lookup(tok)
	if !ok {
		g.fail(r.Context(), method, rule, ReasonUnknownToken, nil)
		return Principal{}, &Refusal{http.StatusUnauthorized, ReasonUnknownToken, "the bearer token is not a configured credential"}
	}
	if !rule.Allows(p.Role) {
		g.fail(r.Context(), method, rule, ReasonWrongRole, &p)
		return Principal{}, &Refusal{http.StatusForbidden, ReasonWrongRole, r.URL.Path + " needs a token of " + rule.String() + "; this token is of " + p.String()}
	}
	if !g.limit.allow(p) {
		g.fail(r.Context(), method, rule, ReasonRateLimited, &p)
		return Principal{}, &Refusal{http.StatusTooManyRequests, ReasonRateLimited, p.String() + " is over its rate limit; retry later"}
	}
	return p, nil
}
