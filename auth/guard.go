package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Reasons of hotline_auth_failures_total.
const (
	ReasonMissingToken   = "missing_token"
	ReasonMalformedToken = "malformed_token"
	ReasonUnknownToken   = "unknown_token"
	ReasonWrongRole      = "wrong_role"
	ReasonNoPolicy       = "no_policy"
	ReasonRateLimited    = "rate_limited"
	ReasonStreamCap      = "stream_cap"
)

// Options configure a Guard.
type Options struct {
	// Policy defaults to DefaultPolicy().
	Policy Policy
	// RateLimit bounds requests (and stream opens) per token; zero: off.
	RateLimit RateLimit
	// MaxEventStreamsPerAgent bounds the concurrent streams of methods whose
	// rule is an EventStream, per agent extension; zero: unlimited.
	MaxEventStreamsPerAgent int
	// Registerer receives the guard's collectors; required.
	Registerer prometheus.Registerer
	// Log defaults to slog.Default().
	Log *slog.Logger
	// Now is the clock of the rate limiter; default time.Now.
	Now func() time.Time
}

// Guard enforces a Policy on a gRPC server. Its token table can be
// replaced at any time (Reload) without disturbing requests in flight.
type Guard struct {
	policy  Policy
	table   atomic.Pointer[Table]
	limit   *limiter
	streams *streamCap
	log     *slog.Logger

	failures *prometheus.CounterVec
	open     prometheus.Gauge
}

// NewGuard returns a guard over creds (see NewTable).
func NewGuard(creds []Credential, o Options) (*Guard, error) {
	if o.Policy == nil {
		o.Policy = DefaultPolicy()
	}
	if err := o.Policy.Check(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if err := o.RateLimit.validate("rate_limit"); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if o.MaxEventStreamsPerAgent < 0 {
		return nil, errors.New("auth: max_event_streams_per_agent: must not be negative")
	}
	if o.Registerer == nil {
		return nil, errors.New("auth: Options.Registerer is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t, err := NewTable(creds)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	f := promauto.With(o.Registerer)
	g := &Guard{
		policy:  o.Policy,
		limit:   newLimiter(o.RateLimit, o.Now),
		streams: &streamCap{max: o.MaxEventStreamsPerAgent, open: map[string]int{}},
		log:     o.Log,
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_auth_failures_total",
			Help: "gRPC requests refused by authentication, authorisation or limits, by the role the method requires (\"public\" never fails) and reason.",
		}, []string{"role", "reason"}),
		open: f.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_auth_event_streams",
			Help: "Agent event streams open now.",
		}),
	}
	g.table.Store(t)
	return g, nil
}

// Reload replaces the token table atomically. On an error the old table
// stays in force. Rate-limit buckets of holders that remain are kept.
func (g *Guard) Reload(creds []Credential) error {
	t, err := NewTable(creds)
	if err != nil {
		return fmt.Errorf("auth reload: %w", err)
	}
	g.table.Store(t)
	g.limit.retain(t)
	g.log.Info("auth: credentials reloaded", "credentials", t.Len())
	return nil
}

// SetLimits replaces the per-token rate limit and the cap on event streams
// per agent (a reload). Streams already open stay open; the cap applies to
// the next ones. On an error nothing changes.
func (g *Guard) SetLimits(rl RateLimit, maxEventStreamsPerAgent int) error {
	if err := rl.validate("rate_limit"); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if maxEventStreamsPerAgent < 0 {
		return errors.New("auth: max_event_streams_per_agent: must not be negative")
	}
	g.limit.set(rl)
	g.streams.setLimit(maxEventStreamsPerAgent)
	return nil
}

// ServerOptions are the interceptors to pass to grpc.NewServer. They
// chain: other interceptors given with grpc.ChainUnaryInterceptor run after
// these, with the principal in the context.
func (g *Guard) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(g.UnaryInterceptor()), grpc.ChainStreamInterceptor(g.StreamInterceptor())}
}

// UnaryInterceptor enforces the policy on unary RPCs.
func (g *Guard) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, _, err := g.admit(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor enforces the policy on streaming RPCs, and the cap on
// an agent's concurrent event streams.
func (g *Guard) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, rule, err := g.admit(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if p, ok := FromContext(ctx); ok && rule.EventStream && p.Role == RoleAgent {
			if !g.streams.acquire(p.Extension) {
				g.fail(ctx, info.FullMethod, rule, ReasonStreamCap, &p)
				return status.Errorf(codes.ResourceExhausted, "%s already has %d event streams open (the most allowed); close one first", p, g.streams.limit())
			}
			g.open.Inc()
			defer func() {
				g.streams.release(p.Extension)
				g.open.Dec()
			}()
		}
		return handler(srv, &guardedStream{ServerStream: ss, ctx: ctx})
	}
}

// admit authenticates and authorises one request and returns ctx with its
// principal (none for public methods).
func (g *Guard) admit(ctx context.Context, method string) (context.Context, Rule, error) {
	rule, ok := g.policy[method]
	if !ok {
		g.fail(ctx, method, rule, ReasonNoPolicy, nil)
		return nil, rule, status.Errorf(codes.PermissionDenied, "method %s has no access policy", method)
	}
	if rule.Public {
		return ctx, rule, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	tok, err := ParseAuthorization(md)
	if err != nil {
		reason := ReasonMalformedToken
		if errors.Is(err, ErrNoToken) {
			reason = ReasonMissingToken
		}
		g.fail(ctx, method, rule, reason, nil)
		return nil, rule, status.Errorf(codes.Unauthenticated, "%s needs a token of %s: %v", method, rule, err)
	}
	p, ok := g.table.Load().Lookup(tok)
	if !ok {
		g.fail(ctx, method, rule, ReasonUnknownToken, nil)
		return nil, rule, status.Errorf(codes.Unauthenticated, "%s: the bearer token is not a configured credential", method)
	}
	if !rule.Allows(p.Role) {
		g.fail(ctx, method, rule, ReasonWrongRole, &p)
		return nil, rule, status.Errorf(codes.PermissionDenied, "%s needs a token of %s; this token is of %s", method, rule, p)
	}
	if !g.limit.allow(p) {
		g.fail(ctx, method, rule, ReasonRateLimited, &p)
		rl := g.limit.limits()
		return nil, rule, status.Errorf(codes.ResourceExhausted, "%s is over its rate limit of %g requests/s (burst %d); retry later", p, rl.PerSecond, rl.Burst)
	}
	return NewContext(ctx, p), rule, nil
}

// fail counts and logs a refusal. p is the principal when it is known.
func (g *Guard) fail(ctx context.Context, method string, rule Rule, reason string, p *Principal) {
	role := "none"
	switch {
	case len(rule.Roles) == 1:
		role = string(rule.Roles[0])
	case len(rule.Roles) > 1:
		role = "shared"
	}
	g.failures.WithLabelValues(role, reason).Inc()
	attrs := []any{"method", method, "reason", reason}
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		attrs = append(attrs, "peer", pr.Addr.String())
	}
	if p != nil {
		attrs = append(attrs, "principal", p.String())
	}
	g.log.Warn("auth: request refused", attrs...)
}

// guardedStream carries the authenticated context to the handler.
type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *guardedStream) Context() context.Context { return s.ctx }

// streamCap counts open event streams per extension.
type streamCap struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func (c *streamCap) acquire(ext string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.open[ext] >= c.max {
		return false
	}
	c.open[ext]++
	return true
}

func (c *streamCap) limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

func (c *streamCap) setLimit(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = n
}

func (c *streamCap) release(ext string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[ext] <= 1 {
		delete(c.open, ext)
		return
	}
	c.open[ext]--
}
