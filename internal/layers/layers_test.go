// Package layers holds the test that keeps the module's dependencies
// pointing one way: every package has a layer, and a package may import
// only packages of lower layers (higher numbers). A new package must be
// given its layer here.
package layers

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/hotline12345/hotline-gw"

// layer of each package, top (0) to bottom. Prefixes end in "/..." and
// cover a subtree.
var layer = map[string]int{
	"cmd/...":                   0, // flags and signals
	"bench":                     0,
	"test/...":                  0, // end-to-end tests and their helpers
	"configs":                   0, // the example configuration's test
	"deploy":                    0, // dashboards, rules and package files; their tests
	"app":                       1, // wiring and lifecycle
	"edge":                      2, // the gRPC servers
	"httpapi":                   2, // HTTP/JSON and SSE over the gRPC services
	"gateway/config":            2, // embeds every domain's section
	"gateway/ticket/sinkserver": 2, // the reference TicketSink's server
	"gateway":                   3, // call owners, routing, resync, drain
	"gateway/live":              3, // the wall's figures: reads the domain packages' Redis state
	"transfer":                  4, // domain packages: never import each other
	"gateway/acd":               4,
	"gateway/callback":          4,
	"gateway/count":             4,
	"gateway/line":              4,
	"gateway/outbound":          4,
	"gateway/report":            4,
	"gateway/recording":         4, // the recordings' index and retention sweep
	"gateway/ticket":            4,
	"ari":                       5, // adapters: Asterisk, Redis, number rules
	"gateway/store":             5,
	"gateway/number":            5,
	"metrics":                   6, // leaves
	"dialplan":                  5, // the contract with the dialplan
	"auth":                      5, // roles, tokens and the interceptors
	"tlsconf":                   7,
	"buildinfo":                 7,
	"sdnotify":                  7,
	"internal/conf":             6,
	"internal/randid":           6,
	"internal/journal":          5,
	"internal/backoff":          6,
	"internal/layers":           6,
	"api/...":                   6,
	"web/...":                   6, // the pages (embedded assets)
}

func layerOf(pkg string) (int, bool) {
	if n, ok := layer[pkg]; ok {
		return n, true
	}
	best, n, found := "", 0, false
	for k, v := range layer {
		prefix, ok := strings.CutSuffix(k, "/...")
		if ok && (pkg == prefix || strings.HasPrefix(pkg, prefix+"/")) && len(prefix) > len(best) {
			best, n, found = prefix, v, true
		}
	}
	return n, found
}

func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func TestDependenciesPointDown(t *testing.T) {
	cmd := exec.Command(goTool(t), "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr.String())
	}
	var bad []string
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		from, ok := strings.CutPrefix(fields[0], module+"/")
		if !ok {
			continue // the standard library and modules we use
		}
		seen++
		lf, ok := layerOf(from)
		if !ok {
			bad = append(bad, from+": no layer; give it one in internal/layers")
			continue
		}
		for _, imp := range fields[1:] {
			to, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			lt, ok := layerOf(to)
			if !ok {
				continue // reported as its own line
			}
			if lt <= lf {
				bad = append(bad, from+" (layer "+itoa(lf)+") imports "+to+" (layer "+itoa(lt)+"): an arrow that does not point down")
			}
		}
	}
	if seen < 20 {
		t.Fatalf("go list listed only %d packages of the module:\n%s", seen, out)
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

func TestLayerTableCatchesAnUpwardArrow(t *testing.T) {
	// The same rule as above on a graph with the arrows this layout removed.
	for _, edge := range [][2]string{
		{"transfer", "gateway/config"},
		{"gateway/store", "gateway/config"},
		{"gateway", "edge"},
		{"gateway/acd", "gateway/count"},
	} {
		lf, _ := layerOf(edge[0])
		lt, _ := layerOf(edge[1])
		if lt > lf {
			t.Errorf("%s → %s would pass (layers %d → %d)", edge[0], edge[1], lf, lt)
		}
	}
	if n, ok := layerOf("test/e2e"); !ok || n != 0 {
		t.Errorf("test/e2e: layer %d %t, want 0 via test/...", n, ok)
	}
	if _, ok := layerOf("newpkg"); ok {
		t.Error("a package missing from the table has a layer")
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
