package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/hotline-gw/auth"
	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

// secretEnv are the variables resolveSecrets reads; tests clear them so that
// the environment of the machine running the tests cannot change a result.
var secretEnv = []string{"HOTLINE_ARI_PASSWORD", "HOTLINE_REDIS_PASSWORD", "HOTLINE_TICKET_SINK_TOKEN"}

func clearSecretEnv(t *testing.T) {
	t.Helper()
	for _, k := range secretEnv {
		t.Setenv(k, "")
	}
}

// valid returns a configuration that passes Validate and exercises every
// section: merged lines, groups with each overflow kind, agents, a sink.
func valid() *Config {
	c := Default()
	c.ARI.Username = "hotline"
	c.ARI.Password = "secret"
	c.Instance = "gw-test-1"
	c.Numbering.StripPrefixes = []string{"+86", "0086", "86", "0739"}
	c.Lines = []Line{
		{Number: "12345", Name: "12345 hotline", Skill: "general", Greeting: "sound:hello-world", Record: true},
		{Number: "12333", Name: "renshe", Skill: "renshe", MergedInto: "12345"},
		{Number: "12315", Name: "shichang", Skill: "shichang", MergedInto: "12345", Greeting: "recording:welcome"},
	}
	c.ACD.Groups = []Group{
		{Skill: "general", QueueTimeout: Duration(time.Minute), Overflow: "message", OverflowMessage: "sound:vm-sorry"},
		{Skill: "renshe", QueueTimeout: Duration(30 * time.Second), Overflow: "group", OverflowGroup: "general"},
		{Skill: "shichang", QueueTimeout: Duration(30 * time.Second), Overflow: "hangup"},
	}
	c.ACD.Agents = []Agent{
		{Extension: "1001", Token: "token-1001-abcdefgh"},
		{Extension: "1002", Token: "token-1002-abcdefgh"},
	}
	c.Tickets.Sink = "tickets.example:7443"
	c.Tickets.Token = "sink-token"
	return &c
}

func TestValidBaseline(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid() does not validate: %v", err)
	}
}

// knownBugs skips TestValidate cases that fail because of a reported bug in
// non-test code; delete the entry with the fix.
var knownBugs = map[string]string{}

// TestValidate mutates valid() one field at a time; each error must name the
// offending field by its YAML path.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string // substring of the error; "" = valid
	}{
		// log, listen, ari, redis, timezone, numbering.
		{"bad log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: "verbose" is not one of`},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of`},
		{"listen http no port", func(c *Config) { c.Listen.HTTP = "127.0.0.1" }, `listen.http: "127.0.0.1" is not host:port`},
		{"listen grpc empty", func(c *Config) { c.Listen.GRPC = "" }, `listen.grpc: "" is not host:port`},
		{"listen all interfaces needs tls", func(c *Config) { c.Listen.HTTP = ":9108" }, "listen.http_tls: set cert_file and key_file, or plaintext: true"},
		{"plaintext grpc off loopback refused", func(c *Config) {
			c.Listen.GRPC, c.Listen.GRPCTLS = "0.0.0.0:50051", tlsconf.Server{Plaintext: true}
		}, "listen.grpc_tls.plaintext: the listener 0.0.0.0:50051 is not on loopback"},
		{"grpc tls files missing", func(c *Config) {
			c.Listen.GRPCTLS = tlsconf.Server{CertFile: "/nonexistent/gw.crt", KeyFile: "/nonexistent/gw.key"}
		}, "listen.grpc_tls.cert_file:"},
		{"ari http off loopback needs explicit plaintext", func(c *Config) { c.ARI.URL = "http://pbx.example:8088/ari" }, "ari.tls: ari.url is http://"},
		{"ari http off loopback explicit plaintext refused", func(c *Config) {
			c.ARI.URL, c.ARI.TLS = "http://pbx.example:8088/ari", tlsconf.Client{Plaintext: true}
		}, "ari.tls.plaintext: ari.url http://pbx.example:8088/ari is not on loopback"},
		{"ari http loopback explicit plaintext", func(c *Config) {
			c.ARI.URL, c.ARI.TLS = "http://[::1]:8088/ari", tlsconf.Client{Plaintext: true}
		}, ""},
		{"redis plaintext off loopback refused", func(c *Config) {
			c.Redis.Addrs, c.Redis.TLS = []string{"127.0.0.1:6379", "10.0.0.2:6379"}, tlsconf.Client{Plaintext: true}
		}, "redis.tls.plaintext: [127.0.0.1:6379 10.0.0.2:6379] is not on loopback"},
		{"redis plaintext loopback", func(c *Config) {
			c.Redis.Addrs, c.Redis.TLS = []string{"localhost:6379"}, tlsconf.Client{Plaintext: true}
		}, ""},
		{"ticket sink plaintext off loopback refused", func(c *Config) {
			c.Tickets.Sink, c.Tickets.SinkTLS = "tickets.example:7443", tlsconf.Client{Plaintext: true}
		}, "tickets.sink_tls.plaintext: [tickets.example:7443] is not on loopback"},
		{"police link plaintext off loopback refused", func(c *Config) {
			c.Transfer.PoliceLink, c.Transfer.PoliceLinkTLS = "110.example:7443", tlsconf.Client{Plaintext: true}
		}, "transfer.police_link_tls.plaintext: [110.example:7443] is not on loopback"},
		{"ari https with plaintext", func(c *Config) {
			c.ARI.URL, c.ARI.TLS = "https://pbx.example:8089/ari", tlsconf.Client{Plaintext: true}
		}, "ari.tls.plaintext: ari.url is https://"},
		{"ari https system roots", func(c *Config) { c.ARI.URL = "https://pbx.example:8089/ari" }, ""},
		{"redis tls ca missing", func(c *Config) {
			c.Redis.Addrs, c.Redis.TLS = []string{"redis.example:6380"}, tlsconf.Client{CAFile: "/nonexistent/ca.crt"}
		}, "redis.tls.ca_file:"},
		{"tickets sink tls half a client cert", func(c *Config) {
			c.Tickets.Sink, c.Tickets.SinkTLS = "tickets.example:7443", tlsconf.Client{CertFile: "/x.crt"}
		}, "tickets.sink_tls.key_file: required with cert_file"},
		{"police link tls bad version", func(c *Config) {
			c.Transfer.PoliceLink, c.Transfer.PoliceLinkTLS = "110.example:7443", tlsconf.Client{MinVersion: "1.1"}
		}, "transfer.police_link_tls.min_version:"},
		{"auth supervisor token too short", func(c *Config) {
			c.Auth.Supervisors = []auth.Secret{{Name: "duty", Token: "short"}}
		}, "auth.supervisors[0].token: must be at least 16 characters"},
		{"auth token shared with an agent", func(c *Config) {
			c.ACD.Agents = []Agent{{Extension: "1001", Token: "the-same-token-0123456789"}}
			c.Auth.Police110 = []auth.Secret{{Name: "110", Token: "the-same-token-0123456789"}}
		}, "the same as the token of"},
		{"missing ari.password", func(c *Config) { c.ARI.Password = "" }, "ari.password: required"},
		{"missing ari.username", func(c *Config) { c.ARI.Username = "" }, "ari.username: required"},
		{"ari.url without scheme", func(c *Config) { c.ARI.URL = "127.0.0.1:8088/ari" }, `ari.url: "127.0.0.1:8088/ari" is not an http(s) URL`},
		{"ari.url ws scheme", func(c *Config) { c.ARI.URL = "ws://127.0.0.1:8088/ari" }, `ari.url: "ws://127.0.0.1:8088/ari"`},
		{"ari.url without host", func(c *Config) { c.ARI.URL = "http:///ari" }, `ari.url: "http:///ari"`},
		{"ari.url https", func(c *Config) { c.ARI.URL = "https://pbx.example/ari" }, ""},
		{"ari.application with comma", func(c *Config) { c.ARI.Application = "a,b" }, `ari.application: "a,b"`},
		{"ari.request_timeout zero", func(c *Config) { c.ARI.RequestTimeout = 0 }, "ari.request_timeout: must be positive"},
		{"ari.queue_size small", func(c *Config) { c.ARI.QueueSize = 7 }, "ari.queue_size: 7 is too small"},
		{"redis no addrs", func(c *Config) { c.Redis.Addrs = nil }, "redis.addrs: at least one address"},
		{"redis bad addr", func(c *Config) { c.Redis.Addrs = []string{"a:1", "redis"} }, `redis.addrs[1]: "redis" is not host:port`},
		{"redis key prefix braces", func(c *Config) { c.Redis.KeyPrefix = "{hl}" }, `redis.key_prefix: "{hl}"`},
		{"redis negative pending", func(c *Config) { c.Redis.PendingLimit = -1 }, "redis.pending_limit: must not be negative"},
		{"bad timezone", func(c *Config) { c.Timezone = "Mars/Olympus_Mons" }, `timezone: "Mars/Olympus_Mons" is not a known time zone`},
		{"empty timezone", func(c *Config) { c.Timezone = "" }, `timezone: "" is not a known time zone`},
		{"bad strip prefix", func(c *Config) { c.Numbering.StripPrefixes = []string{"86", "0x739"} }, `numbering.strip_prefixes[1]: "0x739" must be digits`},
		{"empty strip prefix", func(c *Config) { c.Numbering.StripPrefixes = []string{""} }, `numbering.strip_prefixes[0]: "" must be digits`},
		{"instance with space", func(c *Config) { c.Instance = "gw 1" }, `instance: "gw 1"`},
		{"answer target zero", func(c *Config) { c.AnswerTarget = 0 }, "answer_target: must be positive"},

		// lines.
		{"empty lines", func(c *Config) { c.Lines = nil }, "lines: at least one line is required"},
		{"line number missing", func(c *Config) { c.Lines[0].Number = ""; c.Lines[1].MergedInto, c.Lines[2].MergedInto = "", "" }, "lines[0].number: required"},
		{"line number not digits", func(c *Config) { c.Lines[2].Number = "12-315" }, `lines[2].number: "12-315" must be digits only`},
		{"line number too long", func(c *Config) { c.Lines[2].Number = strings.Repeat("1", 21) }, "lines[2].number:"},
		{"duplicate line number", func(c *Config) { c.Lines[2].Number = "12333" }, `lines[2].number: "12333" duplicates lines[1]`},
		{"line name missing", func(c *Config) { c.Lines[1].Name = "" }, "lines[1].name: required"},
		{"bad skill", func(c *Config) { c.Lines[1].Skill = "Ren She" }, `lines[1].skill: "Ren She" must be 1-32 of a-z`},
		{"empty skill", func(c *Config) { c.Lines[0].Skill = "" }, `lines[0].skill: "" must be`},
		{"long skill", func(c *Config) { c.Lines[0].Skill = strings.Repeat("a", 33) }, "lines[0].skill:"},
		{"bad greeting URI", func(c *Config) { c.Lines[0].Greeting = "/var/lib/asterisk/sounds/hello.wav" }, `lines[0].greeting: "/var/lib/asterisk/sounds/hello.wav" must be an ARI media URI`},
		{"merged_into unknown", func(c *Config) { c.Lines[1].MergedInto = "99999" }, `lines[1].merged_into: "99999" is not a configured line`},
		{"merged_into a merged line", func(c *Config) { c.Lines[2].MergedInto = "12333" }, `lines[2].merged_into: "12333" is itself merged; merge into a main line`},
		{"merged_into itself", func(c *Config) { c.Lines[2].MergedInto = "12315" }, "lines[2].merged_into: a line cannot merge into itself"},
		{"no main line", func(c *Config) {
			// Whichever way every line is merged, some merged_into points at a
			// merged line, and the error names it.
			c.Lines[0].MergedInto = "12333"
		}, `lines[0].merged_into: "12333" is itself merged`},

		// acd.
		{"agent_endpoint without {ext}", func(c *Config) { c.ACD.AgentEndpoint = "PJSIP/agent" }, `acd.agent_endpoint: "PJSIP/agent" must be a dial string`},
		{"agent_endpoint {ext} twice", func(c *Config) { c.ACD.AgentEndpoint = "PJSIP/{ext}{ext}" }, "acd.agent_endpoint:"},
		{"agent_endpoint with &", func(c *Config) { c.ACD.AgentEndpoint = "PJSIP/agent{ext}&PJSIP/backup" }, `acd.agent_endpoint: "PJSIP/agent{ext}&PJSIP/backup"`},
		{"agent_endpoint without tech", func(c *Config) { c.ACD.AgentEndpoint = "agent{ext}" }, "acd.agent_endpoint:"},
		{"agent_endpoint at trunk", func(c *Config) { c.ACD.AgentEndpoint = "PJSIP/{ext}@agents" }, ""},
		{"ring_timeout too short", func(c *Config) { c.ACD.RingTimeout = Duration(500 * time.Millisecond) }, "acd.ring_timeout: 500ms must be between 1s and 5m"},
		{"ring_timeout too long", func(c *Config) { c.ACD.RingTimeout = Duration(6 * time.Minute) }, "acd.ring_timeout: 6m0s must be between"},
		{"poll_interval too short", func(c *Config) { c.ACD.PollInterval = Duration(time.Millisecond) }, "acd.poll_interval:"},
		{"moh_class empty", func(c *Config) { c.ACD.MOHClass = "" }, `acd.moh_class: ""`},
		{"group of unknown skill", func(c *Config) { c.ACD.Groups[2].Skill = "falv" }, `acd.groups[2].skill: "falv" is no line's skill`},
		{"duplicate group", func(c *Config) { c.ACD.Groups[2].Skill = "renshe" }, `acd.groups[2].skill: "renshe" duplicates acd.groups[1]`},
		{"negative queue_timeout", func(c *Config) { c.ACD.Groups[0].QueueTimeout = Duration(-time.Second) }, "acd.groups[0].queue_timeout: must not be negative"},
		{"unknown overflow kind", func(c *Config) { c.ACD.Groups[2].Overflow = "voicemail" }, `acd.groups[2].overflow: "voicemail" is not one of group, message, hangup`},
		{"overflow empty means hangup", func(c *Config) { c.ACD.Groups[2].Overflow = "" }, ""},
		{"overflow group without group", func(c *Config) { c.ACD.Groups[1].OverflowGroup = "" }, `acd.groups[1].overflow_group: "" must be another line's skill`},
		{"overflow group unknown", func(c *Config) { c.ACD.Groups[1].OverflowGroup = "nobody" }, `acd.groups[1].overflow_group: "nobody"`},
		{"overflow group into itself", func(c *Config) { c.ACD.Groups[1].OverflowGroup = "renshe" }, `acd.groups[1].overflow_group: "renshe" must be another line's skill`},
		{"overflow message missing", func(c *Config) { c.ACD.Groups[0].OverflowMessage = "" }, `acd.groups[0].overflow_message: "" must be an ARI media URI`},
		{"overflow message not a URI", func(c *Config) { c.ACD.Groups[0].OverflowMessage = "sorry.wav" }, `acd.groups[0].overflow_message: "sorry.wav"`},
		{"agent extension not digits", func(c *Config) { c.ACD.Agents[0].Extension = "10a1" }, `acd.agents[0].extension: "10a1" must be 2-8 digits`},
		{"agent extension too short", func(c *Config) { c.ACD.Agents[0].Extension = "1" }, `acd.agents[0].extension: "1" must be 2-8 digits`},
		{"duplicate agent extension", func(c *Config) { c.ACD.Agents[1].Extension = "1001" }, `acd.agents[1].extension: "1001" duplicates acd.agents[0]`},
		{"short token", func(c *Config) { c.ACD.Agents[1].Token = "short" }, "acd.agents[1].token: must be at least 16 characters"},
		{"token with space", func(c *Config) { c.ACD.Agents[1].Token = "token with spaces inside" }, "acd.agents[1].token:"},

		// tickets, shutdown.
		{"tickets.sink not host:port", func(c *Config) { c.Tickets.Sink = "tickets.example" }, `tickets.sink: "tickets.example" is not host:port`},
		{"tickets.sink URL", func(c *Config) { c.Tickets.Sink = "grpc://tickets.example:7443" }, "tickets.sink:"},
		{"tickets.sink empty keeps outbox", func(c *Config) { c.Tickets.Sink = "" }, ""},
		{"tickets.timeout zero", func(c *Config) { c.Tickets.Timeout = 0 }, "tickets.timeout: must be positive"},
		{"tickets.workers zero", func(c *Config) { c.Tickets.Workers = 0 }, "tickets.workers: 0 must be between 1 and 256"},
		{"tickets.workers too many", func(c *Config) { c.Tickets.Workers = 257 }, "tickets.workers: 257 must be between 1 and 256"},
		{"tickets.workers max", func(c *Config) { c.Tickets.Workers = 256 }, ""},
		{"tickets.batch_size zero", func(c *Config) { c.Tickets.BatchSize = 0 }, "tickets.batch_size: 0 must be between 1 and 1000"},
		{"tickets.batch_size one", func(c *Config) { c.Tickets.BatchSize = 1 }, ""},
		{"tickets.batch_linger negative", func(c *Config) { c.Tickets.BatchLinger = conf.Duration(-time.Millisecond) }, "tickets.batch_linger: -1ms must be between 0 and 1s"},
		{"tickets.batch_linger zero", func(c *Config) { c.Tickets.BatchLinger = 0 }, ""},
		{"negative drain timeout", func(c *Config) { c.Shutdown.DrainTimeout = Duration(-time.Second) }, "shutdown.drain_timeout: must not be negative"},
		{"zero drain timeout", func(c *Config) { c.Shutdown.DrainTimeout = 0 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := knownBugs[tc.name]; ok {
				t.Skip("known bug: " + why)
			}
			c := valid()
			tc.mutate(c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v; want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate:\n%v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

// TestValidateReportsEveryField: one bad field does not hide another.
func TestValidateReportsEveryField(t *testing.T) {
	c := valid()
	c.Log.Level = "loud"
	c.Tickets.Workers = 0
	c.ACD.Agents[0].Token = ""
	err := c.Validate()
	for _, want := range []string{"log.level:", "tickets.workers:", "acd.agents[0].token:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want it to contain %q", err, want)
		}
	}
}

// validYAML is valid() as a file.
const validYAML = `
ari:
  username: hotline
  password: secret
instance: gw-test-1
lines:
  - {number: "12345", name: main, skill: general}
  - {number: "12333", name: renshe, skill: renshe, merged_into: "12345"}
acd:
  agents:
    - {extension: "1001", token: token-1001-abcdefgh}
`

// TestParse covers what only decoding and secret resolution can get wrong.
func TestParse(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join("testdata", "ari_password")
	missing := filepath.Join(dir, "no-such-file")
	for _, tc := range []struct {
		name  string
		doc   string
		env   map[string]string
		want  string             // error substring; "" = success
		check func(*Config) bool // on success
	}{
		{name: "valid", doc: validYAML},
		{name: "unknown top-level key", doc: validYAML + "bogus: 1\n", want: "field bogus not found"},
		{name: "unknown nested key", doc: "ari:\n  username: u\n  pasword: x\n", want: "line 3: field pasword not found in type config.ARI"},
		{name: "misspelt list key", doc: "lines:\n  - {number: \"12345\", name: m, skil: general}\n", want: "field skil not found"},
		{name: "wrong type", doc: "ari:\n  queue_size: many\n", want: "line 2: cannot unmarshal !!str `many` into int"},
		{name: "duration without unit", doc: validYAML + "answer_target: 15\n", want: `"15" is not a duration`},
		{name: "duration not a scalar", doc: validYAML + "answer_target: [1]\n", want: "duration must be a string"},
		{name: "missing password", doc: strings.Replace(validYAML, "  password: secret\n", "", 1), want: "ari.password: required"},
		{name: "password and password_file", doc: strings.Replace(validYAML, "password: secret", "password: secret\n  password_file: "+pwFile, 1),
			want: "ari.password_file: set either the secret or its file, not both"},
		{name: "password_file read and trimmed", doc: strings.Replace(validYAML, "password: secret", "password_file: "+pwFile, 1),
			check: func(c *Config) bool { return c.ARI.Password == "from-file-secret" }},
		{name: "password_file missing", doc: strings.Replace(validYAML, "password: secret", "password_file: "+missing, 1),
			want: "ari.password_file: open " + missing},
		{name: "env HOTLINE_ARI_PASSWORD overrides inline", doc: validYAML, env: map[string]string{"HOTLINE_ARI_PASSWORD": "from-env"},
			check: func(c *Config) bool { return c.ARI.Password == "from-env" }},
		{name: "env HOTLINE_ARI_PASSWORD overrides file", doc: strings.Replace(validYAML, "password: secret", "password_file: "+pwFile, 1),
			env: map[string]string{"HOTLINE_ARI_PASSWORD": "from-env"}, check: func(c *Config) bool { return c.ARI.Password == "from-env" }},
		{name: "env HOTLINE_ARI_PASSWORD replaces a missing password", doc: strings.Replace(validYAML, "  password: secret\n", "", 1),
			env: map[string]string{"HOTLINE_ARI_PASSWORD": "from-env"}, check: func(c *Config) bool { return c.ARI.Password == "from-env" }},
		{name: "redis password_file and password", doc: validYAML + "redis:\n  password: x\n  password_file: " + pwFile + "\n",
			want: "redis.password_file: set either"},
		{name: "agent token_file", doc: strings.Replace(validYAML, "token: token-1001-abcdefgh", "token_file: "+filepath.Join("testdata", "agent_token"), 1),
			check: func(c *Config) bool { return c.ACD.Agents[0].Token == "agent-token-from-file-0001" }},
		{name: "agent token and token_file", doc: strings.Replace(validYAML, "token: token-1001-abcdefgh", "token: token-1001-abcdefgh, token_file: x", 1),
			want: "acd.agents[0].token_file: set either"},
		{name: "ticket token env", doc: validYAML, env: map[string]string{"HOTLINE_TICKET_SINK_TOKEN": "tok"},
			check: func(c *Config) bool { return c.Tickets.Token == "tok" }},
		{name: "validation errors come through Parse", doc: validYAML + "tickets:\n  workers: 0\n", want: "tickets.workers: 0 must be between 1 and 256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearSecretEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := Parse(strings.NewReader(tc.doc))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Parse: %v; want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tc.check != nil && !tc.check(cfg) {
				t.Fatalf("Parse: unexpected result %+v", cfg)
			}
		})
	}
}

// TestDefaultsForOmittedKeys: a file that sets only what has no default
// gets Default() for everything else, also inside sections it does set.
func TestDefaultsForOmittedKeys(t *testing.T) {
	clearSecretEnv(t)
	cfg, err := Load(filepath.Join("testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.ARI.Username, want.ARI.Password = "hotline", "pw"
	want.Lines = []Line{{Number: "12345", Name: "main", Skill: "general"}}
	host, _ := os.Hostname()
	want.Instance = host
	// Every address is on loopback: the unset TLS sections are plaintext.
	want.Listen.GRPCTLS.Plaintext, want.Listen.HTTPTLS.Plaintext = true, true
	want.ARI.TLS.Plaintext, want.Redis.TLS.Plaintext = true, true
	if !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("Load(minimal.yaml) =\n%+v\nwant\n%+v", *cfg, want)
	}

	// Sections present but empty (only comments under them) keep their defaults.
	cfg, err = Parse(strings.NewReader(validYAML + "tickets:\nshutdown:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tickets.Workers != 16 || cfg.Shutdown.DrainTimeout != Duration(30*time.Second) {
		t.Fatalf("empty sections lost their defaults: tickets %+v shutdown %+v", cfg.Tickets, cfg.Shutdown)
	}

	// An empty file is decoded as "nothing set": only the required fields fail.
	_, err = Parse(strings.NewReader(""))
	if err == nil || !strings.Contains(err.Error(), "ari.password: required") || strings.Contains(err.Error(), "ari.url") {
		t.Fatalf("Parse(empty): %v; want only the fields without defaults reported", err)
	}
}

func TestDefaultValidatesWithRequiredFields(t *testing.T) {
	c := Default()
	c.ARI.Username, c.ARI.Password = "u", "p"
	c.Lines = []Line{{Number: "12345", Name: "main", Skill: "general"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() plus the required fields: %v", err)
	}
}

func TestExampleConfig(t *testing.T) {
	clearSecretEnv(t)
	cfg, err := Load(filepath.Join("..", "..", "configs", "gateway.example.yaml"))
	if err != nil {
		t.Fatalf("configs/gateway.example.yaml: %v", err)
	}
	if got := len(cfg.Lines); got != 4 {
		t.Errorf("example lines: %d, want 4", got)
	}
	if cfg.Lines[0].Number != "12345" || cfg.Lines[0].MergedInto != "" {
		t.Errorf("example's first line: %+v, want the main line 12345", cfg.Lines[0])
	}
	for _, l := range cfg.Lines[1:] {
		if l.MergedInto != "12345" {
			t.Errorf("example line %s merged into %q, want 12345", l.Number, l.MergedInto)
		}
	}
	if cfg.Location().String() != "Asia/Shanghai" {
		t.Errorf("example location %v", cfg.Location())
	}
	// Keys the example leaves out take their defaults.
	if cfg.ACD.AgentEndpoint != "PJSIP/agent{ext}" || cfg.Tickets.Workers != 16 {
		t.Errorf("example ACD/tickets defaults not applied: %+v %+v", cfg.ACD, cfg.Tickets)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate after Load: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Fatalf("Load(absent): %v", err)
	}
}

func TestGroupFor(t *testing.T) {
	c := valid()
	if g := c.ACD.GroupFor("renshe"); g.Overflow != "group" || g.OverflowGroup != "general" {
		t.Errorf("GroupFor(renshe) = %+v", g)
	}
	if g := c.ACD.GroupFor("nogroup"); !reflect.DeepEqual(g, Group{Skill: "nogroup"}) {
		t.Errorf("GroupFor(nogroup) = %+v, want the zero policy", g)
	}
}
