// Package config holds the gateway's configuration: a strict YAML file
// (unknown keys are errors), defaults in one place (Default) and a Validate
// whose errors name the offending field by its YAML path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole gateway configuration.
type Config struct {
	Log       Log       `yaml:"log"`
	Listen    Listen    `yaml:"listen"`
	ARI       ARI       `yaml:"ari"`
	Redis     Redis     `yaml:"redis"`
	Timezone  string    `yaml:"timezone"`
	Numbering Numbering `yaml:"numbering"`
	Lines     []Line    `yaml:"lines"`
	// AnswerTarget is the service level: calls answered by an agent within
	// this time count as "answered within target" (GB/T 33358: 15 s).
	AnswerTarget Duration `yaml:"answer_target"`
	ACD          ACD      `yaml:"acd"`
	Tickets      Tickets  `yaml:"tickets"`
	// Transfer is the one-key transfer to 110 (validated by package transfer).
	Transfer Transfer `yaml:"transfer"`
	// From110 recognises calls the 110 platform transfers to 12345.
	From110 From110 `yaml:"from110"`
	// Outbound configures follow-up and call-back calls to citizens.
	Outbound Outbound `yaml:"outbound"`
	// Survey is the post-call satisfaction survey.
	Survey Survey `yaml:"survey"`
	// Instance names this gateway process (ticket delivery consumer, logs);
	// default: the host name.
	Instance string   `yaml:"instance"`
	Shutdown Shutdown `yaml:"shutdown"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text, json
}

// Listen holds the addresses the gateway serves on.
type Listen struct {
	HTTP string `yaml:"http"` // /metrics, /healthz, /readyz
	GRPC string `yaml:"grpc"`
	// Pprof serves /debug/pprof/ on the HTTP listener (keep it on loopback).
	Pprof bool `yaml:"pprof"`
}

// ARI is the connection to Asterisk's REST interface.
type ARI struct {
	URL            string   `yaml:"url"`
	Username       string   `yaml:"username"`
	Password       string   `yaml:"password"`
	PasswordFile   string   `yaml:"password_file"`
	Application    string   `yaml:"application"`
	RequestTimeout Duration `yaml:"request_timeout"`
	QueueSize      int      `yaml:"queue_size"`
}

// Redis is the store for counts, agents, queues and the ticket outbox.
// One address is a single node; several addresses are a Cluster; a
// MasterName selects Sentinel (the addresses are then the sentinels).
type Redis struct {
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
	Timeout Duration `yaml:"timeout"`
	// PendingLimit bounds the count operations held in memory while Redis is
	// unreachable; past it they are dropped and counted.
	PendingLimit int `yaml:"pending_limit"`
}

// Numbering normalises dialled numbers (DNIS) to a line number.
type Numbering struct {
	// StripPrefixes are removed, in order and repeatedly, from the front of
	// a dialled number before it is matched against the lines, e.g. "+86",
	// "0086", "86", "0739". A prefix is stripped only if something remains.
	StripPrefixes []string `yaml:"strip_prefixes"`
}

// Line is a hotline number citizens dial.
type Line struct {
	Number string `yaml:"number"`
	Name   string `yaml:"name"`
	// Skill is the skill group whose agents answer this line.
	Skill string `yaml:"skill"`
	// MergedInto names the main line that answers this one (12333 → 12345);
	// empty for the main line itself.
	MergedInto string `yaml:"merged_into"`
	// Greeting is an ARI media URI played after answer, e.g. "sound:hello-world".
	Greeting string `yaml:"greeting"`
	// Record: answered calls on this line are recorded (质检), the
	// recording's name goes on the ticket.
	Record bool `yaml:"record"`
}

// Shutdown bounds the two-phase shutdown.
type Shutdown struct {
	// DrainTimeout is how long live calls may continue after intake stops.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	return Config{
		Log:    Log{Level: "info", Format: "text"},
		Listen: Listen{HTTP: "127.0.0.1:9108", GRPC: "127.0.0.1:50051"},
		ARI: ARI{
			URL:            "http://127.0.0.1:8088/ari",
			Application:    "hotline-gw",
			RequestTimeout: Duration(3 * time.Second),
			QueueSize:      64,
		},
		Redis: Redis{
			Addrs:        []string{"127.0.0.1:6379"},
			KeyPrefix:    "hl",
			Timeout:      Duration(2 * time.Second),
			PendingLimit: 100000,
		},
		Timezone:     "Asia/Shanghai",
		AnswerTarget: Duration(15 * time.Second),
		ACD:          defaultACD(),
		Tickets:      defaultTickets(),
		Outbound:     defaultOutbound(),
		Survey:       defaultSurvey(),
		Shutdown:     Shutdown{DrainTimeout: Duration(30 * time.Second)},
	}
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	cfg, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML strictly over the defaults, resolves secret files and
// validates the result.
func Parse(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, cleanYAMLError(err)
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	if err := cfg.resolveSecrets(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// cleanYAMLError turns yaml.v3's multi-line type errors into one line.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s", strings.Join(te.Errors, "; "))
	}
	return err
}

func (c *Config) resolveSecrets() error {
	if err := readSecret(&c.ARI.Password, c.ARI.PasswordFile, "ari.password_file"); err != nil {
		return err
	}
	if env := os.Getenv("HOTLINE_ARI_PASSWORD"); env != "" {
		c.ARI.Password = env
	}
	if err := readSecret(&c.Redis.Password, c.Redis.PasswordFile, "redis.password_file"); err != nil {
		return err
	}
	if env := os.Getenv("HOTLINE_REDIS_PASSWORD"); env != "" {
		c.Redis.Password = env
	}
	return c.resolveRoutingSecrets()
}

func readSecret(dst *string, file, field string) error {
	if file == "" {
		return nil
	}
	if *dst != "" {
		return fmt.Errorf("%s: set either the secret or its file, not both", field)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	*dst = strings.TrimSpace(string(b))
	return nil
}

// Validate checks every field; the error names each bad field by its YAML path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if err := checkHostPort(c.Listen.HTTP); err != nil {
		bad("listen.http", "%v", err)
	}
	if err := checkHostPort(c.Listen.GRPC); err != nil {
		bad("listen.grpc", "%v", err)
	}
	if u, err := url.Parse(c.ARI.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("ari.url", "%q is not an http(s) URL", c.ARI.URL)
	}
	if c.ARI.Username == "" {
		bad("ari.username", "required")
	}
	if c.ARI.Password == "" {
		bad("ari.password", "required (or ari.password_file, or HOTLINE_ARI_PASSWORD)")
	}
	if c.ARI.Application == "" || strings.ContainsAny(c.ARI.Application, ",/?&# ") {
		bad("ari.application", "%q must be a non-empty name without , / ? & # or spaces", c.ARI.Application)
	}
	if c.ARI.RequestTimeout <= 0 {
		bad("ari.request_timeout", "must be positive")
	}
	if c.ARI.QueueSize < 8 {
		bad("ari.queue_size", "%d is too small (at least 8)", c.ARI.QueueSize)
	}
	if len(c.Redis.Addrs) == 0 {
		bad("redis.addrs", "at least one address is required")
	}
	for i, a := range c.Redis.Addrs {
		if err := checkHostPort(a); err != nil {
			bad(fmt.Sprintf("redis.addrs[%d]", i), "%v", err)
		}
	}
	if c.Redis.KeyPrefix == "" || strings.ContainsAny(c.Redis.KeyPrefix, "{} ") {
		bad("redis.key_prefix", "%q must be non-empty, without braces or spaces", c.Redis.KeyPrefix)
	}
	if c.Redis.Timeout <= 0 {
		bad("redis.timeout", "must be positive")
	}
	if c.Redis.PendingLimit < 0 {
		bad("redis.pending_limit", "must not be negative")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		bad("timezone", "%q is not a known time zone", c.Timezone)
	}
	for i, p := range c.Numbering.StripPrefixes {
		if q := strings.TrimPrefix(p, "+"); q == "" || strings.Trim(q, "0123456789") != "" {
			bad(fmt.Sprintf("numbering.strip_prefixes[%d]", i), "%q must be digits with an optional leading +", p)
		}
	}
	errs = append(errs, c.validateLines()...)
	errs = append(errs, c.validateRouting()...)
	errs = append(errs, c.validateOutbound()...)
	if c.Instance != "" && (len(c.Instance) > 64 || strings.ContainsAny(c.Instance, " \t\n{}")) {
		bad("instance", "%q must be at most 64 characters without spaces or braces", c.Instance)
	}
	if c.AnswerTarget <= 0 {
		bad("answer_target", "must be positive")
	}
	if c.Shutdown.DrainTimeout < 0 {
		bad("shutdown.drain_timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

func (c *Config) validateLines() []error {
	var errs []error
	if len(c.Lines) == 0 {
		return []error{errors.New("lines: at least one line is required")}
	}
	seen := map[string]int{}
	mains := 0
	for i, l := range c.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		switch {
		case l.Number == "":
			errs = append(errs, fmt.Errorf("%s.number: required", f))
		case strings.Trim(l.Number, "0123456789") != "" || len(l.Number) > 20:
			errs = append(errs, fmt.Errorf("%s.number: %q must be digits only (at most 20)", f, l.Number))
		}
		if j, dup := seen[l.Number]; dup && l.Number != "" {
			errs = append(errs, fmt.Errorf("%s.number: %q duplicates lines[%d]", f, l.Number, j))
		}
		seen[l.Number] = i
		if l.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", f))
		}
		if !validSkill(l.Skill) {
			errs = append(errs, fmt.Errorf("%s.skill: %q must be 1-32 of a-z, 0-9, _ or -", f, l.Skill))
		}
		if l.MergedInto == "" {
			mains++
		}
		if l.Greeting != "" && !strings.HasPrefix(l.Greeting, "sound:") && !strings.HasPrefix(l.Greeting, "recording:") {
			errs = append(errs, fmt.Errorf("%s.greeting: %q must be an ARI media URI (sound:… or recording:…)", f, l.Greeting))
		}
	}
	for i, l := range c.Lines {
		if l.MergedInto == "" {
			continue
		}
		j, ok := seen[l.MergedInto]
		switch {
		case l.MergedInto == l.Number:
			errs = append(errs, fmt.Errorf("lines[%d].merged_into: a line cannot merge into itself", i))
		case !ok:
			errs = append(errs, fmt.Errorf("lines[%d].merged_into: %q is not a configured line", i, l.MergedInto))
		case c.Lines[j].MergedInto != "":
			errs = append(errs, fmt.Errorf("lines[%d].merged_into: %q is itself merged; merge into a main line", i, l.MergedInto))
		}
	}
	if mains == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("lines: no main line (every line has merged_into)"))
	}
	return errs
}

// ValidSkill reports whether s is a well-formed skill or group name.
func validSkill(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ValidSkill is exported for the packages that accept skills over gRPC.
func ValidSkill(s string) bool { return validSkill(s) }

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	_ = host
	if port == "" {
		return fmt.Errorf("%q has no port", addr)
	}
	return nil
}

// Location returns the configured time zone (validated by Validate).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Duration is a time.Duration written in YAML as "15s", "2m".
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like \"15s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like \"15s\"", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
