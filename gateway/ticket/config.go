package ticket

import (
	"os"
	"time"

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
	// SinkTLS secures the connection to the sink; unset, it is plaintext
	// for a loopback sink and TLS (system roots) otherwise.
	SinkTLS tlsconf.Client `yaml:"sink_tls"`
}

// DefaultConfig is the section's defaults.
func DefaultConfig() Config {
	return Config{Timeout: conf.Duration(5 * time.Second), Workers: 16}
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
	return e.List()
}
