package auth

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/reflection"
)

// Config is the gateway's "auth" section. Agents' tokens stay where they
// are (acd.agents[].token, token_file); this section adds the other roles,
// the limits and the reflection switch.
//
//	auth:
//	  supervisors:
//	    - {name: duty-desk, token_file: /etc/hotline/supervisor.token}
//	  police110:
//	    - {name: 110-platform, token_env: HOTLINE_POLICE110_TOKEN}
//	  ticket_system: []
//	  wall:
//	    - {name: hall-screen, token_file: /etc/hotline/wall.token}
//	  inspectors:
//	    - {name: qc-1, token_file: /etc/hotline/qc-1.token}
//	  rate_limit: {per_second: 20, burst: 40}
//	  max_event_streams_per_agent: 2
//	  reflection: false
type Config struct {
	Supervisors  []Secret `yaml:"supervisors"`
	Police110    []Secret `yaml:"police110"`
	TicketSystem []Secret `yaml:"ticket_system"`
	// Wall are the read-only tokens of wall screens (/wall, LiveService).
	Wall []Secret `yaml:"wall"`
	// Inspectors are the read-only tokens of quality inspectors (质检):
	// the calls' recordings (GET /recordings/{ticket_id}) only.
	Inspectors []Secret `yaml:"inspectors"`
	// RateLimit applies to each token separately.
	RateLimit RateLimit `yaml:"rate_limit"`
	// MaxEventStreamsPerAgent bounds AgentService.StreamEvents streams open
	// at once per extension (a desktop and a reconnect overlapping); 0:
	// unlimited.
	MaxEventStreamsPerAgent int `yaml:"max_event_streams_per_agent"`
	// Reflection registers gRPC server reflection (for grpcurl), callable by
	// supervisors only. Off by default; the lab's example config turns it on.
	Reflection bool `yaml:"reflection"`
}

// Secret is one holder's token, given in exactly one of three ways.
type Secret struct {
	Name string `yaml:"name"`
	// Token is the value itself (tests, the lab).
	Token string `yaml:"token"`
	// TokenFile is read (and trimmed) at start and at every reload.
	TokenFile string `yaml:"token_file"`
	// TokenEnv names an environment variable holding the token.
	TokenEnv string `yaml:"token_env"`
}

// Default is the section's configuration for every key a file leaves out.
func Default() Config {
	return Config{
		RateLimit:               RateLimit{PerSecond: 20, Burst: 40},
		MaxEventStreamsPerAgent: 2,
		Reflection:              false,
	}
}

// FieldPrefix is the YAML path of the section, used in error messages.
const FieldPrefix = "auth"

// Validate checks every field and that each secret resolves to a
// well-formed token (files exist and are readable, variables are set);
// errors name the field by its YAML path, never the token.
func (c Config) Validate() error {
	_, err := c.credentials(os.Getenv)
	return err
}

// Credentials resolves the section's secrets (reading files and the
// environment now) and appends them to agents, the agents' credentials
// (AgentCredential for each acd.agents entry). Call it at start and again
// on reload, then NewGuard or Guard.Reload with the result.
func (c Config) Credentials(agents []Credential) ([]Credential, error) {
	creds, err := c.credentials(os.Getenv)
	if err != nil {
		return nil, err
	}
	all := append(append([]Credential(nil), agents...), creds...)
	if _, err := NewTable(all); err != nil {
		return nil, err
	}
	return all, nil
}

func (c Config) credentials(getenv func(string) string) ([]Credential, error) {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", FieldPrefix, field, fmt.Sprintf(format, a...)))
	}
	var out []Credential
	seen := map[[2]string]string{}
	for _, grp := range []struct {
		key  string
		role Role
		list []Secret
	}{{"supervisors", RoleSupervisor, c.Supervisors}, {"police110", RolePolice110, c.Police110}, {"ticket_system", RoleTicketSystem, c.TicketSystem}, {"wall", RoleWall, c.Wall}, {"inspectors", RoleInspector, c.Inspectors}} {
		for i, s := range grp.list {
			f := fmt.Sprintf("%s[%d]", grp.key, i)
			if !validName(s.Name) {
				bad(f+".name", "%q must be 1-64 of a-z A-Z 0-9 . _ -", s.Name)
				continue
			}
			if prev, dup := seen[[2]string{grp.key, s.Name}]; dup {
				bad(f+".name", "%q duplicates %s", s.Name, prev)
				continue
			}
			seen[[2]string{grp.key, s.Name}] = f
			tok, err := s.resolve(getenv)
			if err != nil {
				bad(f+"."+err.field, "%v", err.err)
				continue
			}
			if err := CheckToken(tok); err != nil {
				bad(f+".token", "%v", err)
				continue
			}
			out = append(out, Credential{Role: grp.role, Name: s.Name, Token: tok})
		}
	}
	if err := c.RateLimit.validate("rate_limit"); err != nil {
		errs = append(errs, fmt.Errorf("%s.%w", FieldPrefix, err))
	}
	if c.MaxEventStreamsPerAgent < 0 {
		bad("max_event_streams_per_agent", "must not be negative")
	}
	if len(errs) == 0 {
		if _, err := NewTable(out); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", FieldPrefix, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

type secretError struct {
	field string
	err   error
}

func (s Secret) resolve(getenv func(string) string) (string, *secretError) {
	n := 0
	for _, v := range []string{s.Token, s.TokenFile, s.TokenEnv} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return "", &secretError{"token", errors.New("required (token, token_file or token_env)")}
	case n > 1:
		return "", &secretError{"token", errors.New("set exactly one of token, token_file, token_env")}
	case s.TokenFile != "":
		b, err := os.ReadFile(s.TokenFile)
		if err != nil {
			return "", &secretError{"token_file", err}
		}
		return strings.TrimSpace(string(b)), nil
	case s.TokenEnv != "":
		v := getenv(s.TokenEnv)
		if v == "" {
			return "", &secretError{"token_env", fmt.Errorf("environment variable %s is not set", s.TokenEnv)}
		}
		return strings.TrimSpace(v), nil
	}
	return s.Token, nil
}

// Options returns guard options for this section; the caller adds the
// registerer and logger.
func (c Config) Options() Options {
	return Options{RateLimit: c.RateLimit, MaxEventStreamsPerAgent: c.MaxEventStreamsPerAgent}
}

// RegisterReflection registers server reflection on s when on, and
// reports whether it did. Reflection's methods need a supervisor token
// (DefaultPolicy).
func RegisterReflection(s reflection.GRPCServer, on bool) bool {
	if !on {
		return false
	}
	reflection.Register(s)
	return true
}
