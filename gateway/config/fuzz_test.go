package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse: arbitrary bytes never panic Parse; a configuration Parse
// accepts always passes Validate, and written back as YAML it parses to the
// same configuration.
func FuzzParse(f *testing.F) {
	for _, k := range secretEnv {
		f.Setenv(k, "")
	}
	seeds := []string{"", "{}", "~", "[]", "- 1", validYAML, validYAML + "bogus: 1\n",
		"lines: [{number: \"12345\", name: m, skill: s, merged_into: \"12345\"}]",
		"answer_target: 15\n", "acd: {groups: [{skill: a, overflow: group}]}\n",
		"numbering: {strip_prefixes: [\"+\", \"\"]}\n", "tickets: {workers: 99999999999999999999}\n",
		"ari: &a {username: u}\nredis: *a\n", "---\n---\n"}
	for _, p := range []string{filepath.Join("..", "..", "configs", "gateway.example.yaml"), filepath.Join("testdata", "minimal.yaml")} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		// Secret files name arbitrary paths (/dev/zero...): keep the fuzzer
		// off the file system.
		var probe Config
		if yaml.Unmarshal(data, &probe) == nil && (probe.ARI.PasswordFile != "" ||
			probe.Redis.PasswordFile != "" || probe.Tickets.TokenFile != "" || hasTokenFile(probe.ACD.Agents)) {
			return
		}
		cfg, err := Parse(bytes.NewReader(data))
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a configuration with error %v", err)
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("Parse: empty error message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a configuration Validate rejects: %v\n%s", err, data)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("re-Parse of the marshalled configuration: %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
		out2, err := yaml.Marshal(again)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the configuration:\n%s\n%s", out, out2)
		}
	})
}

func hasTokenFile(agents []Agent) bool {
	for _, a := range agents {
		if a.TokenFile != "" {
			return true
		}
	}
	return false
}
