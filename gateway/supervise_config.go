package gateway

import (
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

// SupervisorConfig is the `supervisor:` section: how a supervisor's phone
// is rung for Monitor, Whisper and Barge.
type SupervisorConfig struct {
	// Endpoint is the supervisor phone's dial string; {ext} is replaced by
	// the supervisor's extension, e.g. "PJSIP/supervisor{ext}".
	Endpoint string `yaml:"endpoint"`
	// RingTimeout is how long the supervisor's phone rings.
	RingTimeout conf.Duration `yaml:"ring_timeout"`
}

// DefaultSupervisorConfig is the section's defaults.
func DefaultSupervisorConfig() SupervisorConfig {
	return SupervisorConfig{Endpoint: "PJSIP/supervisor{ext}", RingTimeout: conf.Duration(20 * time.Second)}
}

// Validate returns an error per bad field, named by its YAML path.
func (c *SupervisorConfig) Validate() []error {
	var e conf.Errors
	if !strings.Contains(c.Endpoint, "{ext}") || !strings.Contains(c.Endpoint, "/") {
		e.Bad("supervisor.endpoint", "%q must be a dial string with {ext}, e.g. PJSIP/supervisor{ext}", c.Endpoint)
	}
	if c.RingTimeout < conf.Duration(time.Second) || c.RingTimeout > conf.Duration(2*time.Minute) {
		e.Bad("supervisor.ring_timeout", "%s must be between 1s and 2m", c.RingTimeout.D())
	}
	return e.List()
}
