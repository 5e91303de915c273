package recording

import (
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
)

// Config is the `recordings:` section: how long the calls' recordings
// (lines with record: true) are kept in Asterisk's stored recordings.
// Who may fetch them: auth.supervisors and auth.inspectors.
type Config struct {
	// Retention is the age after which a recording the gateway made is
	// deleted from Asterisk ("90d", "2160h"); 0 keeps every recording.
	Retention conf.Duration `yaml:"retention"`
	// SweepInterval is how often the retention sweep lists the stored
	// recordings.
	SweepInterval conf.Duration `yaml:"sweep_interval"`
}

// DefaultConfig is the section's defaults: keep recordings forever, sweep
// hourly once a retention is set.
func DefaultConfig() Config {
	return Config{Retention: 0, SweepInterval: conf.Duration(time.Hour)}
}

// Validate returns an error per bad field, named by its YAML path.
func (c *Config) Validate() []error {
	var e conf.Errors
	if c.Retention < 0 {
		e.Bad("recordings.retention", "%s must not be negative (0 keeps recordings forever)", c.Retention.D())
	} else if c.Retention > 0 && c.Retention < conf.Duration(time.Second) {
		e.Bad("recordings.retention", "%s is under 1s (0 keeps recordings forever)", c.Retention.D())
	}
	if c.SweepInterval < conf.Duration(time.Second) || c.SweepInterval > conf.Duration(24*time.Hour) {
		e.Bad("recordings.sweep_interval", "%s must be between 1s and 24h", c.SweepInterval.D())
	}
	return e.List()
}
