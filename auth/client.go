package auth

import (
	"context"
	"errors"
)

// Bearer is the per-RPC credential of the gateway's outgoing connections
// (ticket sink, PoliceLink): it sends "authorization: Bearer <Token>" and,
// unless AllowPlaintext, refuses to send it over a connection without
// transport security, so a token never crosses the network in the clear by
// accident. Use with grpc.WithPerRPCCredentials.
type Bearer struct {
	Token string
	// AllowPlaintext permits the token over plaintext (the lab on loopback),
	// matching the connection's explicit plaintext: true.
	AllowPlaintext bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	if b.Token == "" {
		return nil, errors.New("auth: bearer credential without a token")
	}
	return map[string]string{"authorization": "Bearer " + b.Token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b Bearer) RequireTransportSecurity() bool { return !b.AllowPlaintext }
