package httpapi

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hotline12345/hotline-gw/api/openapi"
)

var update = flag.Bool("update", false, "rewrite api/openapi/hotline.yaml")

const docPath = "../api/openapi/hotline.yaml"

// RedoclyCLI is the pinned linter of the document.
const RedoclyCLI = "@redocly/cli@2.77.0"

// The committed document is what OpenAPI() generates from today's
// descriptors and policy: a new RPC without a regenerated document fails.
func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	got, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(docPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, openapi.Document) {
		t.Fatalf("api/openapi/hotline.yaml is not the generated document; run go test ./httpapi -run TestOpenAPIDocumentIsCurrent -update")
	}
}

// Every route the handler serves is in the document with its method, and
// the document names no route that is not served.
func TestOpenAPIDocumentHasEveryServedRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, rt := range Routes() {
		served[rt.Path] = true
		ops, ok := doc.Paths[rt.Path]
		if !ok {
			t.Errorf("%s %s is served but not in the document", rt.Method, rt.Path)
			continue
		}
		if _, ok := ops[strings.ToLower(rt.Method)]; !ok || len(ops) != 1 {
			t.Errorf("%s: the document has %v, want only %s", rt.Path, ops, rt.Method)
		}
	}
	for p := range doc.Paths {
		if !served[p] {
			t.Errorf("the document names %s, which is not served", p)
		}
	}
	if len(doc.Paths) < 14 {
		t.Errorf("%d paths; want every RPC of the four services", len(doc.Paths))
	}
}

// The document lints clean with Redocly's recommended rules (npx from the
// npm registry; the test fails when npx is missing: lab/deps.sh).
func TestOpenAPIDocumentLintsClean(t *testing.T) {
	npx, err := exec.LookPath("npx")
	if err != nil {
		t.Fatalf("npx not found (install node and npm: lab/deps.sh): %v", err)
	}
	abs, err := filepath.Abs(docPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npx, "--yes", RedoclyCLI, "lint", "--format=stylish", abs)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	cmd.Dir = t.TempDir()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s lint (%v):\n%s", RedoclyCLI, time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("lint failed: %v", err)
	}
	if regexp.MustCompile(`You have \d+ warnings?`).Match(out) || !bytes.Contains(out, []byte("Your API description is valid")) {
		t.Errorf("lint is not clean")
	}
}
