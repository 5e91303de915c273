package configs_test

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hotline12345/hotline-gw/gateway/config"
)

const example = "gateway.example.yaml"

// TestExampleDocumentsEveryKey walks the configuration struct (every
// field with a yaml tag, into nested sections and list items) and fails on
// any key that configs/gateway.example.yaml neither sets nor shows as a
// commented-out line ("# master_name: mymaster" at the key's indentation):
// the README promises the example documents every key.
func TestExampleDocumentsEveryKey(t *testing.T) {
	want := keyPaths(reflect.TypeFor[config.Config](), "")
	if len(want) < 50 {
		t.Fatalf("walked only %d keys of config.Config; the walk is broken", len(want))
	}
	have := map[string]bool{}
	collectPaths(t, exampleNode(t, true), "", have)
	var missing []string
	for _, p := range want {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s does not document %d keys (set them or show them commented out, with a comment):\n  %s",
			example, len(missing), strings.Join(missing, "\n  "))
	}
	// And nothing in it (commented out or not) is a key the gateway does
	// not know.
	known := map[string]bool{}
	for _, p := range want {
		known[p] = true
	}
	for p := range have {
		if !known[p] && !isMapEntry(p, want) {
			t.Errorf("%s shows %s, which is no configuration key", example, p)
		}
	}
}

// TestExampleUncommentedDecodes: the commented-out keys, uncommented, are
// well-typed keys of the configuration (strict decoding, no validation:
// some of them are alternatives to what the example sets).
func TestExampleUncommentedDecodes(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(uncomment(data)))
	dec.KnownFields(true)
	cfg := config.Default()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s with its commented-out keys uncommented: %v", example, err)
	}
}

// TestExampleRunsAsIs: the example, as shipped, loads and validates.
func TestExampleRunsAsIs(t *testing.T) {
	if _, err := config.Load(example); err != nil {
		t.Fatalf("config.Load(%s): %v", example, err)
	}
}

var unmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// keyPaths lists the YAML paths of t's fields: "ari.url",
// "acd.groups[].skill". Maps, lists of scalars and types that decode
// themselves (Duration) are leaves.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		path := prefix + name
		if strings.Contains(opts, "inline") {
			path = strings.TrimSuffix(prefix, ".")
		}
		switch {
		case reflect.PointerTo(ft).Implements(unmarshaler):
			out = append(out, path)
		case ft.Kind() == reflect.Struct:
			if path != strings.TrimSuffix(prefix, ".") {
				out = append(out, path)
			}
			out = append(out, keyPaths(ft, path+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, path)
			out = append(out, keyPaths(ft.Elem(), path+"[].")...)
		default:
			out = append(out, path)
		}
	}
	return out
}

// isMapEntry reports whether p is below a leaf key (a map's entries:
// survey.keys.1).
func isMapEntry(p string, keys []string) bool {
	return slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(p, k+".") })
}

// collectPaths records the paths of every mapping key under n.
func collectPaths(t *testing.T, n *yaml.Node, prefix string, into map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectPaths(t, c, prefix, into)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := prefix + n.Content[i].Value
			into[p] = true
			collectPaths(t, n.Content[i+1], p+".", into)
		}
	case yaml.SequenceNode:
		p := strings.TrimSuffix(prefix, ".") + "[]."
		for _, c := range n.Content {
			collectPaths(t, c, p, into)
		}
	}
}

// commentedKey is a comment line holding a YAML key (or a list item that
// starts with one): "  # master_name: mymaster   # Sentinel".
var commentedKey = regexp.MustCompile(`^(\s*)# ?(\s*(?:- )?(?:[a-z0-9_]+:(?:\s|$)|\{[a-z0-9_]+:))`)

// uncomment turns commented-out keys into keys, keeping the indentation.
func uncomment(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if m := commentedKey.FindStringSubmatchIndex(l); m != nil {
			lines[i] = l[m[2]:m[3]] + l[m[4]:]
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

func exampleNode(t *testing.T, withCommented bool) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if withCommented {
		data = uncomment(data)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatalf("%s (commented-out keys uncommented): %v", example, err)
	}
	return &n
}

func TestUncommentKeepsIndentation(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  # master_name: mymaster    # Sentinel", "  master_name: mymaster    # Sentinel"},
		{"    # - {extension: \"1005\", token_file: /x}", "    - {extension: \"1005\", token_file: /x}"},
		{"# Unknown keys are errors; every key left out", "# Unknown keys are errors; every key left out"},
		{"  # production: a recorded prompt", "  production: a recorded prompt"},
		{"# lab only", "# lab only"},
		{"    #   queue_timeout: 300s", "      queue_timeout: 300s"},
	} {
		if got := string(uncomment([]byte(tc.in))); got != tc.want {
			t.Errorf("uncomment(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
