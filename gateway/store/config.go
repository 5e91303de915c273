package store

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

// Config is the `redis:` section: the store for counts, agents, queues and
// the ticket outbox. One address is a single node; several addresses are a
// Cluster; a MasterName selects Sentinel (the addresses are then the
// sentinels).
type Config struct {
	Addrs        []string `yaml:"addrs"`
	MasterName   string   `yaml:"master_name"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	DB           int      `yaml:"db"`
	// KeyPrefix starts every key; keys carry a hash tag so multi-key
	// operations work on Cluster.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds each Redis command.
	Timeout conf.Duration `yaml:"timeout"`
	// PendingLimit bounds the count operations held in memory while Redis is
	// unreachable; past it they are dropped and counted.
	PendingLimit int `yaml:"pending_limit"`
	// TLS secures the connections to Redis (and to Sentinel); unset, it is
	// plaintext when every address is on loopback and TLS (system roots)
	// otherwise.
	TLS tlsconf.Client `yaml:"tls"`
	// InstanceLease is the TTL of each gateway instance's heartbeat in
	// Redis (renewed every third of it): the reaper writes the stub ticket
	// of a call that ended unobserved only once its owner's lease lapsed.
	InstanceLease conf.Duration `yaml:"instance_lease"`
}

// Defaults of the redis: section that the packages using Redis share
// (gateway/count's Counter falls back to them for zero Options).
const (
	DefaultTimeout      = 2 * time.Second
	DefaultPendingLimit = 100000
)

// DefaultConfig is the section's defaults: the lab's Redis.
func DefaultConfig() Config {
	return Config{
		Addrs:         []string{"127.0.0.1:6379"},
		KeyPrefix:     "hl",
		Timeout:       conf.Duration(DefaultTimeout),
		PendingLimit:  DefaultPendingLimit,
		InstanceLease: conf.Duration(15 * time.Second),
	}
}

// ResolveSecrets reads redis.password_file, then HOTLINE_REDIS_PASSWORD.
func (c *Config) ResolveSecrets() error {
	if err := conf.ReadSecret(&c.Password, c.PasswordFile, "redis.password_file"); err != nil {
		return err
	}
	if env := os.Getenv("HOTLINE_REDIS_PASSWORD"); env != "" {
		c.Password = env
	}
	return nil
}

// Validate returns an error per bad field, named by its YAML path.
func (c *Config) Validate() []error {
	var e conf.Errors
	if len(c.Addrs) == 0 {
		e.Bad("redis.addrs", "at least one address is required")
	}
	for i, a := range c.Addrs {
		if err := conf.CheckHostPort(a); err != nil {
			e.Bad(fmt.Sprintf("redis.addrs[%d]", i), "%v", err)
		}
	}
	if c.KeyPrefix == "" || strings.ContainsAny(c.KeyPrefix, "{} ") {
		e.Bad("redis.key_prefix", "%q must be non-empty, without braces or spaces", c.KeyPrefix)
	}
	if c.Timeout <= 0 {
		e.Bad("redis.timeout", "must be positive")
	}
	if c.InstanceLease < conf.Duration(time.Second) {
		e.Bad("redis.instance_lease", "must be at least 1s")
	}
	if c.PendingLimit < 0 {
		e.Bad("redis.pending_limit", "must not be negative")
	}
	if err := c.TLS.Validate("redis.tls"); err != nil {
		e.Add(err)
	}
	return e.List()
}
