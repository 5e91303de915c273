// Package config is the gateway's configuration file: a strict YAML
// decode (unknown keys are errors) over Default, secrets from files and the
// environment, and a Validate whose errors name the offending field by its
// YAML path. Each domain package owns its section (type, defaults,
// validation) — store, line, acd, ticket, transfer, outbound, gateway's
// survey — and this package embeds them: it imports them, never the reverse.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotline12345/hotline-gw/ari"
	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/gateway"
	"github.com/hotline12345/hotline-gw/gateway/acd"
	"github.com/hotline12345/hotline-gw/gateway/line"
	"github.com/hotline12345/hotline-gw/gateway/live"
	"github.com/hotline12345/hotline-gw/gateway/outbound"
	"github.com/hotline12345/hotline-gw/gateway/recording"
	"github.com/hotline12345/hotline-gw/gateway/store"
	"github.com/hotline12345/hotline-gw/gateway/ticket"
	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/internal/journal"
	"github.com/hotline12345/hotline-gw/tlsconf"
	"github.com/hotline12345/hotline-gw/transfer"
)

// The sections owned by the domain packages, by the names this package
// has always given them.
type (
	Duration     = conf.Duration
	Redis        = store.Config
	Spool        = journal.Config
	Line         = line.Config
	Numbering    = line.Numbering
	ACD          = acd.Config
	Group        = acd.Group
	Agent        = acd.Seat
	Tickets      = ticket.Config
	Transfer     = transfer.Config
	FeatureCodes = transfer.FeatureCodes
	Outbound     = outbound.Config
	Survey       = gateway.SurveyConfig
	Admission    = gateway.AdmissionConfig
	Live         = live.Config
	Supervisor   = gateway.SupervisorConfig
	Recordings   = recording.Config
)

// Config is the whole gateway configuration.
type Config struct {
	Log       Log       `yaml:"log"`
	Listen    Listen    `yaml:"listen"`
	ARI       ARI       `yaml:"ari"`
	Redis     Redis     `yaml:"redis"`
	Spool     Spool     `yaml:"spool"`
	Timezone  string    `yaml:"timezone"`
	Numbering Numbering `yaml:"numbering"`
	Lines     []Line    `yaml:"lines"`
	// AnswerTarget is the service level: calls answered by an agent within
	// this time count as "answered within target" (GB/T 33358: 15 s).
	AnswerTarget Duration `yaml:"answer_target"`
	ACD          ACD      `yaml:"acd"`
	Tickets      Tickets  `yaml:"tickets"`
	// Transfer is the one-key transfer to 110.
	Transfer Transfer `yaml:"transfer"`
	// From110 recognises calls the 110 platform transfers to 12345.
	From110 From110 `yaml:"from110"`
	// Outbound configures follow-up and call-back calls to citizens.
	Outbound Outbound `yaml:"outbound"`
	// Survey is the post-call satisfaction survey.
	Survey Survey `yaml:"survey"`
	// Admission refuses new calls with congestion while the gateway is
	// saturated.
	Admission Admission `yaml:"admission"`
	// Live is the wall screen's figures.
	Live Live `yaml:"live"`
	// Supervisor rings supervisors' phones for Monitor, Whisper and Barge.
	Supervisor Supervisor `yaml:"supervisor"`
	// Recordings is the retention of the calls' recordings.
	Recordings Recordings `yaml:"recordings"`
	// Instance names this gateway process (ticket delivery consumer, logs);
	// default: the host name.
	Instance string   `yaml:"instance"`
	Shutdown Shutdown `yaml:"shutdown"`
	// Auth holds the credentials of the roles other than agents (whose
	// tokens stay in acd.agents), the rate limit, the event-stream cap and
	// the reflection switch.
	Auth   auth.Config `yaml:"auth"`
	Health Health      `yaml:"health"`
}

// Health configures the liveness probe (/healthz) and the systemd watchdog.
type Health struct {
	// StallAfter: an event loop stuck in one step longer than this makes
	// /healthz answer 503 and stops the watchdog's WATCHDOG=1.
	StallAfter Duration `yaml:"stall_after"`
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
	// Pprof serves /debug/pprof/ on the HTTP listener, to supervisor
	// tokens only.
	Pprof bool `yaml:"pprof"`
	// GRPCTLS and HTTPTLS are the listeners' TLS. Unset on a loopback
	// address they are plaintext; off loopback they need cert_file and
	// key_file (plaintext is refused there).
	GRPCTLS tlsconf.Server `yaml:"grpc_tls"`
	HTTPTLS tlsconf.Server `yaml:"http_tls"`
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
	// MaxInflight bounds the REST requests sent to Asterisk at once.
	MaxInflight int `yaml:"max_inflight"`
	// TLS is used with an https:// URL (REST over https, events over wss).
	// An http:// URL must be on loopback (then unset is plaintext); another
	// host needs https:// (plaintext: true off loopback is refused).
	TLS tlsconf.Client `yaml:"tls"`
	// PingInterval: a websocket ping after that much silence.
	PingInterval Duration `yaml:"ping_interval"`
	// ReadTimeout: nothing read that long is a half-open websocket (not
	// ready, reconnect); at least twice PingInterval.
	ReadTimeout Duration `yaml:"read_timeout"`
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
			RequestTimeout: Duration(ari.DefaultRequestTimeout),
			QueueSize:      ari.DefaultQueueSize,
			MaxInflight:    ari.DefaultMaxInflight,
			PingInterval:   Duration(ari.DefaultPingInterval),
			ReadTimeout:    Duration(ari.DefaultReadTimeout),
		},
		Redis:        store.DefaultConfig(),
		Spool:        journal.DefaultConfig(),
		Timezone:     "Asia/Shanghai",
		AnswerTarget: Duration(15 * time.Second),
		ACD:          acd.DefaultConfig(),
		Tickets:      ticket.DefaultConfig(),
		Transfer:     transfer.DefaultConfig(),
		Outbound:     outbound.DefaultConfig(),
		Survey:       gateway.DefaultSurveyConfig(),
		Admission:    gateway.DefaultAdmissionConfig(),
		Live:         live.DefaultConfig(),
		Supervisor:   gateway.DefaultSupervisorConfig(),
		Recordings:   recording.DefaultConfig(),
		Shutdown:     Shutdown{DrainTimeout: Duration(30 * time.Second)},
		Auth:         auth.Default(),
		Health:       Health{StallAfter: Duration(15 * time.Second)},
	}
}

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config: %s does not exist (name the configuration file with -config FILE; the lab's is configs/gateway.example.yaml): %w", path, err)
	} else if err != nil {
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
	// A key the file sets to its zero value gets the transfer default, as
	// it always has.
	transfer.SetDefaults(&cfg.Transfer)
	if err := cfg.resolveSecrets(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// defaultTLS makes each unset TLS section plaintext where its addresses
// are all on loopback (the lab, peers on the same host); everything else
// keeps the TLS its section says, or TLS verified by the system's roots.
func (c *Config) defaultTLS() {
	c.Listen.GRPCTLS.DefaultLoopback(c.Listen.GRPC)
	c.Listen.HTTPTLS.DefaultLoopback(c.Listen.HTTP)
	c.Redis.TLS.DefaultLoopback(c.Redis.Addrs...)
	if c.Tickets.Sink != "" {
		c.Tickets.SinkTLS.DefaultLoopback(c.Tickets.Sink)
	}
	if c.Transfer.PoliceLink != "" {
		c.Transfer.PoliceLinkTLS.DefaultLoopback(c.Transfer.PoliceLink)
	}
	if u, err := url.Parse(c.ARI.URL); err == nil && u.Scheme == "http" {
		c.ARI.TLS.DefaultLoopback(u.Host)
		if u.Port() == "" {
			c.ARI.TLS.DefaultLoopback(net.JoinHostPort(u.Hostname(), "80"))
		}
	}
}

// loopbackAll reports whether every non-empty address is on loopback.
func loopbackAll(addrs []string) bool {
	for _, a := range addrs {
		if a != "" && !tlsconf.Loopback(a) {
			return false
		}
	}
	return true
}

func loopbackHost(host string) bool { return tlsconf.Loopback(net.JoinHostPort(host, "0")) }

// cleanYAMLError turns yaml.v3's multi-line type errors into one line.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s", strings.Join(te.Errors, "; "))
	}
	return err
}

func (c *Config) resolveSecrets() error {
	if err := conf.ReadSecret(&c.ARI.Password, c.ARI.PasswordFile, "ari.password_file"); err != nil {
		return err
	}
	if env := os.Getenv("HOTLINE_ARI_PASSWORD"); env != "" {
		c.ARI.Password = env
	}
	if err := c.Redis.ResolveSecrets(); err != nil {
		return err
	}
	if err := c.ACD.ResolveSecrets(); err != nil {
		return err
	}
	return c.Tickets.ResolveSecrets()
}

// Validate checks every field; the error names each bad field by its YAML
// path. It first makes each unset TLS section whose addresses are all on
// loopback plaintext (defaultTLS), so it sees the addresses in force.
func (c *Config) Validate() error {
	c.defaultTLS()
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
	if err := conf.CheckHostPort(c.Listen.HTTP); err != nil {
		bad("listen.http", "%v", err)
	}
	if err := conf.CheckHostPort(c.Listen.GRPC); err != nil {
		bad("listen.grpc", "%v", err)
	}
	for _, l := range []struct {
		field, addr string
		tls         tlsconf.Server
	}{{"listen.grpc_tls", c.Listen.GRPC, c.Listen.GRPCTLS}, {"listen.http_tls", c.Listen.HTTP, c.Listen.HTTPTLS}} {
		if err := l.tls.Validate(l.field); err != nil {
			errs = append(errs, err)
		} else if err := l.tls.CheckListen(l.field, l.addr); err != nil {
			errs = append(errs, err)
		}
	}
	// An explicit plaintext: true is for loopback only: off the host the
	// tokens and passwords these connections carry would cross the network
	// in clear.
	for _, cl := range []struct {
		field string
		tls   tlsconf.Client
		addrs []string
	}{{"redis.tls", c.Redis.TLS, c.Redis.Addrs}, {"tickets.sink_tls", c.Tickets.SinkTLS, []string{c.Tickets.Sink}},
		{"transfer.police_link_tls", c.Transfer.PoliceLinkTLS, []string{c.Transfer.PoliceLink}}} {
		if cl.tls.Plaintext && !loopbackAll(cl.addrs) {
			bad(cl.field+".plaintext", "%v is not on loopback; connections off the host need TLS (ca_file, or the system's roots)", cl.addrs)
		}
	}
	if u, err := url.Parse(c.ARI.URL); err == nil {
		switch {
		case u.Scheme == "http" && c.ARI.TLS.Plaintext && !loopbackHost(u.Hostname()):
			bad("ari.tls.plaintext", "ari.url %s is not on loopback; the ARI password would cross the network in clear: use an https:// url", c.ARI.URL)
		case u.Scheme == "http" && !c.ARI.TLS.Plaintext:
			bad("ari.tls", "ari.url is http://; use https:// for TLS (only a loopback http:// URL is plaintext)")
		case u.Scheme == "https" && c.ARI.TLS.Plaintext:
			bad("ari.tls.plaintext", "ari.url is https://")
		default:
			if err := c.ARI.TLS.Validate("ari.tls"); err != nil {
				errs = append(errs, err)
			}
		}
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
	if c.ARI.PingInterval <= 0 {
		bad("ari.ping_interval", "must be positive")
	}
	if c.ARI.ReadTimeout < 2*c.ARI.PingInterval {
		bad("ari.read_timeout", "%v is less than twice ari.ping_interval %v", c.ARI.ReadTimeout.D(), c.ARI.PingInterval.D())
	}
	if c.ARI.QueueSize < 8 {
		bad("ari.queue_size", "%d is too small (at least 8)", c.ARI.QueueSize)
	}
	if c.ARI.MaxInflight < 1 || c.ARI.MaxInflight > 4096 {
		bad("ari.max_inflight", "%d must be between 1 and 4096", c.ARI.MaxInflight)
	}
	errs = append(errs, c.Redis.Validate()...)
	errs = append(errs, c.Spool.Validate()...)
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		bad("timezone", "%q is not a known time zone", c.Timezone)
	}
	errs = append(errs, c.Numbering.Validate()...)
	errs = append(errs, line.Validate(c.Lines)...)
	skills, numbers := map[string]bool{}, map[string]bool{}
	for _, l := range c.Lines {
		skills[l.Skill], numbers[l.Number] = true, true
	}
	errs = append(errs, c.ACD.Validate(skills)...)
	errs = append(errs, c.Tickets.Validate()...)
	errs = append(errs, c.Outbound.Validate(numbers)...)
	errs = append(errs, c.Survey.Validate()...)
	errs = append(errs, c.Admission.Validate()...)
	if c.Admission.MaxARIInflight > c.ARI.MaxInflight {
		bad("admission.max_ari_inflight", "%d is above ari.max_inflight %d: it would never be reached", c.Admission.MaxARIInflight, c.ARI.MaxInflight)
	}
	errs = append(errs, c.Live.Validate()...)
	errs = append(errs, c.Supervisor.Validate()...)
	errs = append(errs, c.Recordings.Validate()...)
	if c.Instance != "" && (len(c.Instance) > 64 || strings.ContainsAny(c.Instance, " \t\n{}")) {
		bad("instance", "%q must be at most 64 characters without spaces or braces", c.Instance)
	}
	if c.AnswerTarget <= 0 {
		bad("answer_target", "must be positive")
	}
	if c.Shutdown.DrainTimeout < 0 {
		bad("shutdown.drain_timeout", "must not be negative")
	}
	if c.Health.StallAfter.D() < time.Second {
		bad("health.stall_after", "%v is less than 1s", c.Health.StallAfter.D())
	}
	if err := transfer.ValidateConfig(&c.Transfer); err != nil {
		errs = append(errs, err)
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	} else if _, err := c.Credentials(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Credentials returns every configured token with its role: the agents'
// (acd.agents) and the auth section's, read from their files and the
// environment now. Call it again on reload.
func (c *Config) Credentials() ([]auth.Credential, error) {
	agents := make([]auth.Credential, 0, len(c.ACD.Agents))
	for _, a := range c.ACD.Agents {
		agents = append(agents, auth.AgentCredential(a.Extension, a.Token))
	}
	creds, err := c.Auth.Credentials(agents)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return creds, nil
}

// Location returns the configured time zone (validated by Validate).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// ValidSkill reports whether s is a well-formed skill or group name.
func ValidSkill(s string) bool { return conf.ValidSkill(s) }
