package gateway

import (
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

// SurveyConfig is the `survey:` section: the post-call satisfaction survey: when the agent hangs up first
// on an answered inbound call, the caller is asked to rate it by keypad.
type SurveyConfig struct {
	Enabled bool `yaml:"enabled"`
	// Prompt asks for the rating, e.g. "sound:custom/survey" ("press 1 if
	// satisfied, 2 if not").
	Prompt string `yaml:"prompt"`
	// Keys maps a digit to a result: "satisfied" or "unsatisfied".
	Keys map[string]string `yaml:"keys"`
	// Timeout is how long to wait for a key after the prompt.
	Timeout conf.Duration `yaml:"timeout"`
	// Thanks is played after a key, before hanging up.
	Thanks string `yaml:"thanks"`
}

// DefaultSurveyConfig is the section's defaults.
func DefaultSurveyConfig() SurveyConfig {
	return SurveyConfig{
		Prompt:  "sound:beep",
		Keys:    map[string]string{"1": "satisfied", "2": "unsatisfied"},
		Timeout: conf.Duration(8 * time.Second),
		Thanks:  "sound:auth-thankyou",
	}
}

// Validate returns an error per bad field, named by its YAML path.
func (c *SurveyConfig) Validate() []error {
	var e conf.Errors
	bad := e.Bad
	s := c
	if s.Enabled {
		for field, uri := range map[string]string{"survey.prompt": s.Prompt, "survey.thanks": s.Thanks} {
			if !conf.MediaURI(uri) {
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
		if s.Timeout < conf.Duration(time.Second) || s.Timeout > conf.Duration(time.Minute) {
			bad("survey.timeout", "%s must be between 1s and 1m", s.Timeout.D())
		}
	}
	return e.List()
}
