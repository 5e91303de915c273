package live

import (
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

// Config is the `live:` section: the live figures of the wall screen and
// LiveService. Tokens of the read-only wall role are in auth.wall.
type Config struct {
	// RefreshInterval is how often each instance reads the figures from
	// Redis and pushes the changes to open streams (and the oldest-wait
	// gauge). The wall shows a change within about this much time.
	RefreshInterval conf.Duration `yaml:"refresh_interval"`
	// ConnectRateTarget is the connect rate under which the wall turns red
	// (GB/T 33358: 接通率 ≥ 95%).
	ConnectRateTarget float64 `yaml:"connect_rate_target"`
}

// DefaultConfig is the section's defaults.
func DefaultConfig() Config {
	return Config{RefreshInterval: conf.Duration(500 * time.Millisecond), ConnectRateTarget: 0.95}
}

// Validate returns an error per bad field, named by its YAML path.
func (c *Config) Validate() []error {
	var e conf.Errors
	if c.RefreshInterval < conf.Duration(100*time.Millisecond) || c.RefreshInterval > conf.Duration(10*time.Second) {
		e.Bad("live.refresh_interval", "%s must be between 100ms and 10s", c.RefreshInterval.D())
	}
	if !(c.ConnectRateTarget > 0 && c.ConnectRateTarget <= 1) {
		e.Bad("live.connect_rate_target", "%v must be above 0 and at most 1", c.ConnectRateTarget)
	}
	return e.List()
}
