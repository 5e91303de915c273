package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/metadata"
)

// Token rules: at least MinTokenLen and at most MaxTokenLen printable ASCII
// characters without spaces, so a token fits an HTTP/2 header unchanged.
const (
	MinTokenLen = 16
	MaxTokenLen = 512
)

// Credential is one configured token and whom it authenticates.
type Credential struct {
	Role Role
	// Name identifies the holder in logs and errors: the agent's extension
	// for RoleAgent, a configured name ("duty-desk", "110-platform") otherwise.
	Name  string
	Token string
}

// AgentCredential is the credential of the agent at extension ext.
func AgentCredential(ext, token string) Credential {
	return Credential{Role: RoleAgent, Name: ext, Token: token}
}

// Errors of ParseAuthorization. Their messages never contain the token.
var (
	ErrNoToken        = errors.New("missing credentials: send metadata \"authorization: Bearer <token>\"")
	ErrMalformedToken = errors.New("malformed authorization metadata: want exactly one \"authorization: Bearer <token>\"")
)

// ParseAuthorization returns the bearer token of the incoming metadata.
// It accepts exactly one "authorization" value of the form "Bearer <token>"
// (scheme case-insensitive, spaces around the token ignored) with a token
// that CheckToken accepts in form; anything else is ErrNoToken (no value) or
// ErrMalformedToken.
func ParseAuthorization(md metadata.MD) (string, error) {
	vals := md.Get("authorization")
	switch len(vals) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", ErrMalformedToken
	}
	v := strings.TrimSpace(vals[0])
	if v == "" {
		return "", ErrNoToken
	}
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrMalformedToken
	}
	tok := strings.TrimSpace(rest)
	if tok == "" || len(tok) > MaxTokenLen || !printable(tok) {
		return "", ErrMalformedToken
	}
	return tok, nil
}

// CheckToken reports why tok is not acceptable as a configured token.
func CheckToken(tok string) error {
	switch {
	case len(tok) < MinTokenLen:
		return fmt.Errorf("must be at least %d characters", MinTokenLen)
	case len(tok) > MaxTokenLen:
		return fmt.Errorf("must be at most %d characters", MaxTokenLen)
	case !printable(tok):
		return errors.New("must be printable ASCII without spaces")
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// validExtension mirrors acd.ValidExtension: 2-8 digits.
func validExtension(ext string) bool {
	if len(ext) < 2 || len(ext) > 8 {
		return false
	}
	return strings.Trim(ext, "0123456789") == ""
}

// validName is a holder name: 1-64 of a-z A-Z 0-9 . _ -.
func validName(n string) bool {
	if len(n) == 0 || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

type entry struct {
	sum [sha256.Size]byte
	p   Principal
}

// Table is an immutable set of credentials. Lookups compare the SHA-256 of
// the presented token with every entry in constant time, without stopping
// at a match, so neither the position nor the length of a token leaks.
type Table struct {
	entries []entry
}

// NewTable checks and indexes creds: known roles, agents named by a valid
// extension, other holders by a valid name, well-formed tokens, no token
// used twice and no holder named twice within a role. Errors name the
// credential by role and holder, never by token.
func NewTable(creds []Credential) (*Table, error) {
	t := &Table{entries: make([]entry, 0, len(creds))}
	byToken := make(map[[sha256.Size]byte]Principal, len(creds))
	byName := make(map[Principal]bool, len(creds))
	var errs []error
	for _, c := range creds {
		p := Principal{Role: c.Role, Name: c.Name}
		switch {
		case !c.Role.Valid():
			errs = append(errs, fmt.Errorf("credential %q: unknown role %q", c.Name, c.Role))
			continue
		case c.Role == RoleAgent && !validExtension(c.Name):
			errs = append(errs, fmt.Errorf("agent %q: extension must be 2-8 digits", c.Name))
			continue
		case c.Role != RoleAgent && !validName(c.Name):
			errs = append(errs, fmt.Errorf("%s %q: name must be 1-64 of a-z A-Z 0-9 . _ -", c.Role, c.Name))
			continue
		}
		if c.Role == RoleAgent {
			p.Extension = c.Name
		}
		if err := CheckToken(c.Token); err != nil {
			errs = append(errs, fmt.Errorf("%s token: %w", p, err))
			continue
		}
		if byName[p] {
			errs = append(errs, fmt.Errorf("%s: configured twice", p))
			continue
		}
		sum := sha256.Sum256([]byte(c.Token))
		if other, dup := byToken[sum]; dup {
			errs = append(errs, fmt.Errorf("%s token: the same as the token of %s", p, other))
			continue
		}
		byName[p] = true
		byToken[sum] = p
		t.entries = append(t.entries, entry{sum: sum, p: p})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the principal whose token tok is.
func (t *Table) Lookup(tok string) (Principal, bool) {
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(t.entries[i].sum[:], sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return t.entries[found].p, true
}

// Len is the number of credentials.
func (t *Table) Len() int { return len(t.entries) }
