package outbound

import (
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/gateway/number"
	"github.com/hotline12345/hotline-gw/internal/conf"
)

// Config is the `outbound:` section: calls the hotline places to citizens (follow-ups 回访
// and call-backs): ring the agent first, then the citizen.
type Config struct {
	// DialTemplate is the citizen's dial string; "{number}" is replaced by
	// the validated digits only, e.g. "PJSIP/{number}@citizen".
	DialTemplate string `yaml:"dial_template"`
	// CallerID is presented to the citizen (the hotline's number).
	CallerID string `yaml:"caller_id"`
	// Line counts outbound calls when a request names none; default the main line.
	Line string `yaml:"line"`
	// CitizenRingTimeout is how long the citizen's phone rings.
	CitizenRingTimeout conf.Duration `yaml:"citizen_ring_timeout"`
	// Rate, Burst and MaxConcurrent limit outbound calls per gateway so that
	// campaigns never starve inbound calls.
	Rate          float64 `yaml:"rate"`
	Burst         int     `yaml:"burst"`
	MaxConcurrent int     `yaml:"max_concurrent"`
	// Numbers is the policy for citizens' numbers (allowed and refused prefixes).
	Numbers number.Config `yaml:"numbers"`
	// CallbackClaimTTL: a claimed call-back task returns to the list after this.
	CallbackClaimTTL conf.Duration `yaml:"callback_claim_ttl"`
}

// DefaultConfig is the section's defaults.
func DefaultConfig() Config {
	return Config{
		DialTemplate:       "PJSIP/{number}@citizen",
		CallerID:           "12345",
		CitizenRingTimeout: conf.Duration(30 * time.Second),
		Rate:               2,
		Burst:              2,
		MaxConcurrent:      20,
		CallbackClaimTTL:   conf.Duration(30 * time.Minute),
	}
}

// Validate returns an error per bad field, named by its YAML path; lines
// are the configured line numbers.
func (c *Config) Validate(lines map[string]bool) []error {
	var e conf.Errors
	bad := e.Bad
	o := c
	if err := number.CheckTemplate(o.DialTemplate); err != nil {
		bad("outbound.dial_template", "%v", err)
	}
	if o.CallerID == "" || len(o.CallerID) > 20 || strings.Trim(o.CallerID, "0123456789") != "" {
		bad("outbound.caller_id", "%q must be 1-20 digits", o.CallerID)
	}
	if o.Line != "" {
		if !lines[o.Line] {
			bad("outbound.line", "%q is not a configured line", o.Line)
		}
	}
	if o.CitizenRingTimeout < conf.Duration(5*time.Second) || o.CitizenRingTimeout > conf.Duration(3*time.Minute) {
		bad("outbound.citizen_ring_timeout", "%s must be between 5s and 3m", o.CitizenRingTimeout.D())
	}
	if o.Rate <= 0 || o.Rate > 100 {
		bad("outbound.rate", "%v must be between 0 and 100 calls/s", o.Rate)
	}
	if o.Burst < 1 || o.Burst > 1000 {
		bad("outbound.burst", "%d must be between 1 and 1000", o.Burst)
	}
	if o.MaxConcurrent < 1 || o.MaxConcurrent > 10000 {
		bad("outbound.max_concurrent", "%d must be between 1 and 10000", o.MaxConcurrent)
	}
	if _, err := number.NewPolicy(o.Numbers); err != nil {
		bad("outbound.numbers", "%v", err)
	}
	if o.CallbackClaimTTL < conf.Duration(time.Minute) {
		bad("outbound.callback_claim_ttl", "must be at least 1m")
	}
	return e.List()
}
