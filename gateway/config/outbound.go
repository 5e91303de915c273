package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/gateway/number"
)

// Outbound configures calls the hotline places to citizens (follow-ups 回访
// and call-backs): ring the agent first, then the citizen.
type Outbound struct {
	// DialTemplate is the citizen's dial string; "{number}" is replaced by
	// the validated digits only, e.g. "PJSIP/{number}@citizen".
	DialTemplate string `yaml:"dial_template"`
	// CallerID is presented to the citizen (the hotline's number).
	CallerID string `yaml:"caller_id"`
	// Line counts outbound calls when a request names none; default the main line.
	Line string `yaml:"line"`
	// CitizenRingTimeout is how long the citizen's phone rings.
	CitizenRingTimeout Duration `yaml:"citizen_ring_timeout"`
	// Rate, Burst and MaxConcurrent limit outbound calls per gateway so that
	// campaigns never starve inbound calls.
	Rate          float64 `yaml:"rate"`
	Burst         int     `yaml:"burst"`
	MaxConcurrent int     `yaml:"max_concurrent"`
	// Numbers is the policy for citizens' numbers (allowed and refused prefixes).
	Numbers number.Config `yaml:"numbers"`
	// CallbackClaimTTL: a claimed call-back task returns to the list after this.
	CallbackClaimTTL Duration `yaml:"callback_claim_ttl"`
}

// Survey is the post-call satisfaction survey: when the agent hangs up first
// on an answered inbound call, the caller is asked to rate it by keypad.
type Survey struct {
	Enabled bool `yaml:"enabled"`
	// Prompt asks for the rating, e.g. "sound:custom/survey" ("press 1 if
	// satisfied, 2 if not").
	Prompt string `yaml:"prompt"`
	// Keys maps a digit to a result: "satisfied" or "unsatisfied".
	Keys map[string]string `yaml:"keys"`
	// Timeout is how long to wait for a key after the prompt.
	Timeout Duration `yaml:"timeout"`
	// Thanks is played after a key, before hanging up.
	Thanks string `yaml:"thanks"`
}

func defaultOutbound() Outbound {
	return Outbound{
		DialTemplate:       "PJSIP/{number}@citizen",
		CallerID:           "12345",
		CitizenRingTimeout: Duration(30 * time.Second),
		Rate:               2,
		Burst:              2,
		MaxConcurrent:      20,
		CallbackClaimTTL:   Duration(30 * time.Minute),
	}
}

func defaultSurvey() Survey {
	return Survey{
		Prompt:  "sound:beep",
		Keys:    map[string]string{"1": "satisfied", "2": "unsatisfied"},
		Timeout: Duration(8 * time.Second),
		Thanks:  "sound:auth-thankyou",
	}
}

func (c *Config) validateOutbound() []error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	o := c.Outbound
	if err := number.CheckTemplate(o.DialTemplate); err != nil {
		bad("outbound.dial_template", "%v", err)
	}
	if o.CallerID == "" || len(o.CallerID) > 20 || strings.Trim(o.CallerID, "0123456789") != "" {
		bad("outbound.caller_id", "%q must be 1-20 digits", o.CallerID)
	}
	if o.Line != "" {
		found := false
		for _, l := range c.Lines {
			found = found || l.Number == o.Line
		}
		if !found {
			bad("outbound.line", "%q is not a configured line", o.Line)
		}
	}
	if o.CitizenRingTimeout < Duration(5*time.Second) || o.CitizenRingTimeout > Duration(3*time.Minute) {
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
	if o.CallbackClaimTTL < Duration(time.Minute) {
		bad("outbound.callback_claim_ttl", "must be at least 1m")
	}
	s := c.Survey
	if s.Enabled {
		for field, uri := range map[string]string{"survey.prompt": s.Prompt, "survey.thanks": s.Thanks} {
			if !strings.HasPrefix(uri, "sound:") && !strings.HasPrefix(uri, "recording:") {
				bad(field, "%q must be an ARI media URI (sound:…)", uri)
			}
		}
		if len(s.Keys) == 0 {
			bad("survey.keys", "at least one key is required")
		}
		for k, v := range s.Keys {
			if len(k) != 1 || !strings.Contains("0123456789*#", k) {
				bad("survey.keys", "%q is not one DTMF digit", k)
			}
			if v != "satisfied" && v != "unsatisfied" {
				bad("survey.keys["+k+"]", "%q must be satisfied or unsatisfied", v)
			}
		}
		if s.Timeout < Duration(time.Second) || s.Timeout > Duration(time.Minute) {
			bad("survey.timeout", "%s must be between 1s and 1m", s.Timeout.D())
		}
	}
	return errs
}
