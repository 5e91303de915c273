package auth

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Principal is whom a request's token authenticates.
type Principal struct {
	Role Role
	// Name is the holder: the extension for agents, the configured name
	// for the other roles.
	Name string
	// Extension is the agent's extension; empty for other roles.
	Extension string
}

// String is "agent 1001", "supervisor duty-desk".
func (p Principal) String() string { return string(p.Role) + " " + p.Name }

type principalKey struct{}

// NewContext returns ctx carrying p. The interceptors call it; tests of
// servers that read the principal may too.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the interceptors authenticated.
// It is absent for public methods and outside a guarded server.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// AgentExtension returns the extension of the agent whose token the
// request carries; ok is false for any other role or no principal.
func AgentExtension(ctx context.Context) (ext string, ok bool) {
	p, ok := FromContext(ctx)
	if !ok || p.Role != RoleAgent {
		return "", false
	}
	return p.Extension, true
}

// Require returns the request's principal if its role is one of roles,
// or the status error the interceptor would have returned. Servers use it
// as a second line behind the interceptors and to branch by role.
func Require(ctx context.Context, roles ...Role) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, ErrNoToken.Error())
	}
	if !slices.Contains(roles, p.Role) {
		return Principal{}, status.Errorf(codes.PermissionDenied, "%s may not do this; it needs %s", p, Rule{Roles: roles})
	}
	return p, nil
}

// Agents adapts the context's principal to the gateway's Authenticator
// interface (Caller(ctx) (ext string, err error)), so the Call and Transfer
// servers can drop the acd token check once the interceptors run.
type Agents struct{}

// Caller returns the authenticated agent's extension, Unauthenticated when
// there is no principal and PermissionDenied for a principal of another role.
func (Agents) Caller(ctx context.Context) (string, error) {
	p, err := Require(ctx, RoleAgent)
	if err != nil {
		return "", err
	}
	return p.Extension, nil
}
