package ticket

import (
	"os"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

// Config is the `tickets:` section: the hand-off of one ticket per call to
// the ticket system.
type Config struct {
	// Sink is the TicketSink's gRPC address; empty keeps tickets in the
	// outbox (Redis) until a sink is configured.
	Sink      string        `yaml:"sink"`
	Token     string        `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
	Timeout   conf.Duration `yaml:"timeout"`
	Workers   int           `yaml:"workers"`
	// BatchSize is the most tickets per SubmitTickets call (1: one
	// SubmitTicket per ticket); BatchLinger how long a batch waits to fill.
	BatchSize   int           `yaml:"batch_size"`
	BatchLinger conf.Duration `yaml:"batch_linger"`
	// SinkTLS secures the connection to the sink; unset, it is plaintext
	// for a loopback sink and TLS (system roots) otherwise.
	SinkTLS tlsconf.Client `yaml:"sink_tls"`
	// RetryMax caps the delay before a refused ticket is submitted again
	// (Options.RetryMax).
	RetryMax conf.Duration `yaml:"retry_max"`
	// DeadLetterCodes are the gRPC code names (as grpc-go spells them:
	// "InvalidArgument") that move a ticket to the dead letters at once.
	DeadLetterCodes []string `yaml:"dead_letter_codes"`
	// MaxAttempts dead-letters a ticket after that many refusals; -1: never.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge dead-letters a ticket not delivered within it; negative: never.
	MaxAge conf.Duration `yaml:"max_age"`
	// DeadLetterMaxAge trims dead letters older than it; negative: never.
	DeadLetterMaxAge conf.Duration `yaml:"dead_letter_max_age"`
	// DispositionWindow holds the ticket of a call answered by an agent
	// this long after the call, for the agent's disposition
	// (DispositionService); 0: a disposition only while the call lasts.
	DispositionWindow conf.Duration `yaml:"disposition_window"`
}

// The section's defaults, in one place: DefaultConfig (the tickets:
// section gateway/config starts from) and NewDeliverer (for an Options
// field left zero) both use them.
const (
	DefaultTimeout          = 5 * time.Second // per SubmitTicket
	DefaultWorkers          = 16
	DefaultRetryMax         = time.Minute
	DefaultMaxAttempts      = 20
	DefaultMaxAge           = 72 * time.Hour
	DefaultDeadLetterMaxAge = 30 * 24 * time.Hour
	// MaxDispositionWindow bounds tickets.disposition_window (default 0).
	MaxDispositionWindow = 10 * time.Minute
)

// DefaultConfig is the section's defaults.
func DefaultConfig() Config {
	names := make([]string, 0, len(DefaultDeadLetterCodes))
	for _, c := range DefaultDeadLetterCodes {
		names = append(names, c.String())
	}
	return Config{Timeout: conf.Duration(DefaultTimeout), Workers: DefaultWorkers,
		BatchSize: DefaultSendBatch, BatchLinger: conf.Duration(DefaultSendLinger),
		RetryMax: conf.Duration(DefaultRetryMax), DeadLetterCodes: names, MaxAttempts: DefaultMaxAttempts,
		MaxAge: conf.Duration(DefaultMaxAge), DeadLetterMaxAge: conf.Duration(DefaultDeadLetterMaxAge)}
}

// codeByName maps grpc-go's code names (codes.Code.String) to codes.
func codeByName(name string) (codes.Code, bool) {
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}

// Codes returns DeadLetterCodes as gRPC codes (Validate has checked them);
// an empty list is an empty, non-nil slice: no code dead-letters at once.
func (c *Config) Codes() []codes.Code {
	out := make([]codes.Code, 0, len(c.DeadLetterCodes))
	for _, n := range c.DeadLetterCodes {
		if code, ok := codeByName(n); ok {
			out = append(out, code)
		}
	}
	return out
}

// Apply copies the section's delivery knobs into o.
func (c *Config) Apply(o *Options) {
	o.Workers = c.Workers
	o.SendBatch = c.BatchSize
	o.SendLinger = c.BatchLinger.D()
	if o.SendLinger == 0 {
		o.SendLinger = -1 // configured 0: never wait for a batch to fill
	}
	o.RetryMax = c.RetryMax.D()
	o.DeadLetterCodes = c.Codes()
	o.MaxAttempts = c.MaxAttempts
	o.MaxAge = c.MaxAge.D()
	o.DeadLetterMaxAge = c.DeadLetterMaxAge.D()
}

// ResolveSecrets reads tickets.token_file, then HOTLINE_TICKET_SINK_TOKEN.
func (c *Config) ResolveSecrets() error {
	if err := conf.ReadSecret(&c.Token, c.TokenFile, "tickets.token_file"); err != nil {
		return err
	}
	if env := os.Getenv("HOTLINE_TICKET_SINK_TOKEN"); env != "" {
		c.Token = env
	}
	return nil
}

// Validate returns an error per bad field, named by its YAML path.
func (c *Config) Validate() []error {
	var e conf.Errors
	bad := e.Bad
	t := c
	if t.Sink != "" {
		if err := conf.CheckHostPort(t.Sink); err != nil {
			bad("tickets.sink", "%v", err)
		}
		if err := t.SinkTLS.Validate("tickets.sink_tls"); err != nil {
			e.Add(err)
		}
	}
	if t.Timeout <= 0 {
		bad("tickets.timeout", "must be positive")
	}
	if t.Workers < 1 || t.Workers > 256 {
		bad("tickets.workers", "%d must be between 1 and 256", t.Workers)
	}
	if t.BatchSize < 1 || t.BatchSize > 1000 {
		bad("tickets.batch_size", "%d must be between 1 and 1000", t.BatchSize)
	}
	if t.BatchLinger < 0 || t.BatchLinger.D() > time.Second {
		bad("tickets.batch_linger", "%s must be between 0 and 1s", t.BatchLinger.D())
	}
	if t.RetryMax <= 0 {
		bad("tickets.retry_max", "must be positive")
	}
	for i, n := range t.DeadLetterCodes {
		if c, ok := codeByName(n); !ok || c == codes.OK {
			bad("tickets.dead_letter_codes", "[%d] %q is not a gRPC code name other than OK (InvalidArgument, FailedPrecondition...)", i, n)
		}
	}
	if t.MaxAttempts == 0 || t.MaxAttempts < -1 {
		bad("tickets.max_attempts", "%d must be positive, or -1 for never", t.MaxAttempts)
	}
	if t.MaxAge == 0 {
		bad("tickets.max_age", "must not be zero (negative: never)")
	}
	if t.DispositionWindow < 0 || t.DispositionWindow.D() > MaxDispositionWindow {
		bad("tickets.disposition_window", "%s must be between 0 and %s", t.DispositionWindow.D(), MaxDispositionWindow)
	}
	if t.DeadLetterMaxAge == 0 {
		bad("tickets.dead_letter_max_age", "must not be zero (negative: never)")
	}
	return e.List()
}
