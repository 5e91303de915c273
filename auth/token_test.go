package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"
)

func TestParseAuthorization(t *testing.T) {
	const tok = "abcdefghijklmnop-123"
	for _, tc := range []struct {
		name string
		vals []string
		want string
		err  error
	}{
		{"bearer", []string{"Bearer " + tok}, tok, nil},
		{"scheme case and spaces", []string{"  bearer   " + tok + "  "}, tok, nil},
		{"none", nil, "", ErrNoToken},
		{"empty", []string{""}, "", ErrNoToken},
		{"two values", []string{"Bearer " + tok, "Bearer " + tok}, "", ErrMalformedToken},
		{"basic", []string{"Basic " + tok}, "", ErrMalformedToken},
		{"bare token", []string{tok}, "", ErrMalformedToken},
		{"space inside", []string{"Bearer abc def"}, "", ErrMalformedToken},
		{"control byte", []string{"Bearer abc\x01def"}, "", ErrMalformedToken},
		{"too long", []string{"Bearer " + strings.Repeat("x", MaxTokenLen+1)}, "", ErrMalformedToken},
	} {
		md := metadata.MD{}
		for _, v := range tc.vals {
			md.Append("authorization", v)
		}
		got, err := ParseAuthorization(md)
		if got != tc.want || err != tc.err {
			t.Errorf("%s: (%q, %v), want (%q, %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestNewTableRefusesBadCredentials(t *testing.T) {
	good := "a-good-token-0123456789"
	for _, tc := range []struct {
		name  string
		creds []Credential
		want  string
	}{
		{"short token", []Credential{AgentCredential("1001", "short")}, "agent 1001 token: must be at least 16"},
		{"token with space", []Credential{AgentCredential("1001", "with a space inside it")}, "printable ASCII"},
		{"bad extension", []Credential{AgentCredential("10a1", good)}, `agent "10a1": extension`},
		{"bad name", []Credential{{Role: RoleSupervisor, Name: "duty desk", Token: good}}, `supervisor "duty desk": name`},
		{"unknown role", []Credential{{Role: "root", Name: "x", Token: good}}, `unknown role "root"`},
		{"same holder twice", []Credential{AgentCredential("1001", good), AgentCredential("1001", good+"x")}, "agent 1001: configured twice"},
		{"one token two roles", []Credential{AgentCredential("1001", good), {Role: RoleSupervisor, Name: "boss", Token: good}}, "supervisor boss token: the same as the token of agent 1001"},
	} {
		_, err := NewTable(tc.creds)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
			continue
		}
		for _, c := range tc.creds {
			if len(c.Token) >= 8 && strings.Contains(err.Error(), c.Token) {
				t.Errorf("%s: the error echoes a token: %v", tc.name, err)
			}
		}
	}
}

func TestTableLookup(t *testing.T) {
	tb, err := NewTable(testCreds)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range testCreds {
		p, ok := tb.Lookup(c.Token)
		if !ok || p.Role != c.Role || p.Name != c.Name {
			t.Errorf("Lookup(%s's token) = %+v, %v", c.Name, p, ok)
		}
		if c.Role == RoleAgent && p.Extension != c.Name {
			t.Errorf("agent %s: Extension %q", c.Name, p.Extension)
		}
		if _, ok := tb.Lookup(c.Token[:len(c.Token)-1]); ok {
			t.Errorf("a prefix of %s's token authenticates", c.Name)
		}
	}
}

// FuzzParseAuthorization: any metadata value parses without panicking; a
// token it returns is well-formed and round-trips; an error never carries
// the value.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abcdefghijklmnop", "bearer  x ", "Basic abc", "", "Bearer", "Bearer \x00", "Bearer " + strings.Repeat("z", 600)} {
		f.Add(s, false)
	}
	f.Add("Bearer abcdefghijklmnop", true)
	f.Fuzz(func(t *testing.T, v string, twice bool) {
		md := metadata.MD{}
		md.Append("authorization", v)
		if twice {
			md.Append("authorization", v)
		}
		tok, err := ParseAuthorization(md)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q with error %v", tok, err)
			}
			// Only the two fixed errors: neither can carry the value.
			if err != ErrNoToken && err != ErrMalformedToken {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if twice {
			t.Fatal("two values accepted")
		}
		if len(tok) == 0 || len(tok) > MaxTokenLen || !printable(tok) {
			t.Fatalf("accepted malformed token %q", tok)
		}
		again, err := ParseAuthorization(metadata.Pairs("authorization", "Bearer "+tok))
		if err != nil || again != tok {
			t.Fatalf("round trip of %q: %q, %v", tok, again, err)
		}
	})
}

// FuzzTableLookup: only the configured tokens authenticate.
func FuzzTableLookup(f *testing.F) {
	tb, err := NewTable(testCreds)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range testCreds {
		f.Add(c.Token)
	}
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		p, ok := tb.Lookup(tok)
		configured := false
		for _, c := range testCreds {
			if c.Token == tok {
				configured = true
				if p.Role != c.Role || p.Name != c.Name {
					t.Fatalf("token of %s looked up as %+v", c.Name, p)
				}
			}
		}
		if ok != configured {
			t.Fatalf("Lookup(%q) ok=%v, configured=%v", tok, ok, configured)
		}
	})
}

func FuzzMaskNumber(f *testing.F) {
	for _, s := range []string{"13800138000", "075512345678", "12345", "", "+8613800138000", "号码"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		if !utf8.ValidString(n) {
			return
		}
		m := MaskNumber(n)
		if utf8.RuneCountInString(m) != utf8.RuneCountInString(n) {
			t.Fatalf("MaskNumber(%q) = %q changes the length", n, m)
		}
		if r := []rune(n); len(r) >= 7 && m == n && strings.Trim(n, "*") != "" {
			t.Fatalf("MaskNumber(%q) masked nothing", n)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sup.token")
	if err := os.WriteFile(file, []byte("supervisor-from-file-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTLINE_TEST_POLICE_TOKEN", "police-from-env-000000001")
	valid := func() Config {
		c := Default()
		c.Supervisors = []Secret{{Name: "duty-desk", TokenFile: file}, {Name: "admin", Token: "admin-inline-token-00001"}}
		c.Police110 = []Secret{{Name: "110-platform", TokenEnv: "HOTLINE_TEST_POLICE_TOKEN"}}
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no token", func(c *Config) { c.Supervisors[1].Token = "" }, "auth.supervisors[1].token: required"},
		{"two sources", func(c *Config) { c.Supervisors[1].TokenEnv = "X" }, "auth.supervisors[1].token: set exactly one"},
		{"missing file", func(c *Config) { c.Supervisors[0].TokenFile = filepath.Join(dir, "nope") }, "auth.supervisors[0].token_file:"},
		{"unset env", func(c *Config) { c.Police110[0].TokenEnv = "HOTLINE_TEST_UNSET_VARIABLE" }, "auth.police110[0].token_env: environment variable HOTLINE_TEST_UNSET_VARIABLE is not set"},
		{"short token", func(c *Config) { c.Supervisors[1].Token = "short" }, "auth.supervisors[1].token: must be at least 16"},
		{"bad name", func(c *Config) { c.Police110[0].Name = "" }, "auth.police110[0].name:"},
		{"duplicate name", func(c *Config) { c.Supervisors[1].Name = "duty-desk" }, `auth.supervisors[1].name: "duty-desk" duplicates supervisors[0]`},
		{"same token two roles", func(c *Config) {
			c.TicketSystem = []Secret{{Name: "tickets", Token: "admin-inline-token-00001"}}
		}, "ticket_system tickets token: the same as the token of supervisor admin"},
		{"negative rate", func(c *Config) { c.RateLimit.PerSecond = -1 }, "auth.rate_limit.per_second:"},
		{"rate without burst", func(c *Config) { c.RateLimit.Burst = 0 }, "auth.rate_limit.burst:"},
		{"negative stream cap", func(c *Config) { c.MaxEventStreamsPerAgent = -1 }, "auth.max_event_streams_per_agent:"},
	} {
		c := valid()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "admin-inline-token-00001") {
			t.Errorf("%s: the error echoes a token: %v", tc.name, err)
		}
	}

	creds, err := valid().Credentials([]Credential{AgentCredential("1001", "agent-1001-token-aaaaaaaa")})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 4 {
		t.Fatalf("Credentials: %d, want 4 (1 agent, 2 supervisors, 1 police110)", len(creds))
	}
	tb, _ := NewTable(creds)
	if p, ok := tb.Lookup("supervisor-from-file-0001"); !ok || p.Name != "duty-desk" {
		t.Errorf("token from file: %+v %v", p, ok)
	}
	if p, ok := tb.Lookup("police-from-env-000000001"); !ok || p.Role != RolePolice110 {
		t.Errorf("token from env: %+v %v", p, ok)
	}
	if _, err := valid().Credentials([]Credential{AgentCredential("1001", "admin-inline-token-00001")}); err == nil {
		t.Error("an agent token equal to a supervisor token was accepted")
	}
	// A rotated file is read again on the next Credentials (reload).
	if err := os.WriteFile(file, []byte("supervisor-rotated-00002"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err = valid().Credentials(nil)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ = NewTable(creds)
	if _, ok := tb.Lookup("supervisor-rotated-00002"); !ok {
		t.Error("rotated token file not read again")
	}
	if Default().Reflection {
		t.Error("reflection is on by default")
	}
}
