package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"gopkg.in/yaml.v3"

	"github.com/hotline12345/hotline-gw/gateway/ticket"
)

// The ARI keep-alive, the ticket dead-letter knobs and the stall threshold
// are read from the file, defaulted in one place and validated by name.
func TestKnobsReadDefaultedAndValidated(t *testing.T) {
	clearSecretEnv(t)
	d := Default()
	if d.ARI.PingInterval.D() != 2*time.Second || d.ARI.ReadTimeout.D() != 6*time.Second || d.Health.StallAfter.D() != 15*time.Second {
		t.Errorf("defaults ping %v read %v stall %v", d.ARI.PingInterval, d.ARI.ReadTimeout, d.Health.StallAfter)
	}
	var o ticket.Options
	d.Tickets.Apply(&o)
	if !slices.Equal(o.DeadLetterCodes, ticket.DefaultDeadLetterCodes) || o.MaxAttempts != 20 || o.RetryMax != time.Minute ||
		o.MaxAge != 72*time.Hour || o.DeadLetterMaxAge != 720*time.Hour {
		t.Errorf("default ticket options %+v", o)
	}

	cfg, err := Parse(strings.NewReader(`
ari: {username: u, password: p, ping_interval: 1s, read_timeout: 3s}
lines: [{number: "12345", name: main, skill: general}]
tickets: {retry_max: 30s, dead_letter_codes: [InvalidArgument, Internal], max_attempts: -1, max_age: -1s, dead_letter_max_age: 24h}
health: {stall_after: 5s}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tickets.Apply(&o)
	if cfg.ARI.PingInterval.D() != time.Second || cfg.ARI.ReadTimeout.D() != 3*time.Second || cfg.Health.StallAfter.D() != 5*time.Second {
		t.Errorf("read ping %v read %v stall %v", cfg.ARI.PingInterval, cfg.ARI.ReadTimeout, cfg.Health.StallAfter)
	}
	if !slices.Equal(o.DeadLetterCodes, []codes.Code{codes.InvalidArgument, codes.Internal}) || o.MaxAttempts != -1 ||
		o.RetryMax != 30*time.Second || o.MaxAge >= 0 || o.DeadLetterMaxAge != 24*time.Hour {
		t.Errorf("ticket options %+v", o)
	}

	for _, tc := range []struct{ name, field string }{
		{"ari: {ping_interval: 4s, read_timeout: 6s}", "ari.read_timeout"},
		{"ari: {ping_interval: 0s}", "ari.ping_interval"},
		{"tickets: {dead_letter_codes: [Invalid_Argument]}", "tickets.dead_letter_codes"},
		{"tickets: {dead_letter_codes: [OK]}", "tickets.dead_letter_codes"},
		{"tickets: {max_attempts: 0}", "tickets.max_attempts"},
		{"tickets: {retry_max: 0s}", "tickets.retry_max"},
		{"tickets: {max_age: 0s}", "tickets.max_age"},
		{"tickets: {dead_letter_max_age: 0s}", "tickets.dead_letter_max_age"},
		{"health: {stall_after: 100ms}", "health.stall_after"},
	} {
		c := valid()
		if err := yamlInto(c, tc.name); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: Validate = %v, want an error naming %s", tc.name, err, tc.field)
		}
	}
}

// yamlInto decodes a YAML fragment over c (strictly, without validating).
func yamlInto(c *Config, s string) error {
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	return dec.Decode(c)
}
