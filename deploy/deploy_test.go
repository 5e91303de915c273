package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"

	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/metrics"
	"github.com/hotline12345/hotline-gw/transfer"
)

const (
	rulesFile     = "prometheus/hotline-gw.rules.yml"
	rulesTestFile = "prometheus/hotline-gw.rules.test.yml"
	dashboardFile = "grafana/hotline-gw.json"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus; lab/deps.sh installs it): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, "check", "rules", "hotline-gw.rules.yml")
}

func TestPromtoolTestRules(t *testing.T) {
	promtool(t, "test", "rules", "hotline-gw.rules.test.yml")
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// describer is a Registerer that only records the metric names its
// collectors describe: metrics.New on it yields the gateway's exposition
// without running anything.
type describer struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return false }

// gatewayMetrics are the names the gateway exports: every collector of
// package metrics, and the Go and process collectors main registers.
func gatewayMetrics(t *testing.T) map[string]bool {
	d := &describer{names: map[string]bool{}}
	metrics.New(d)
	d.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if !d.names["hotline_calls_total"] || len(d.names) < 30 {
		t.Fatalf("described only %d metrics: %v", len(d.names), d.names)
	}
	return d.names
}

var (
	stringLit = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords  = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
		"group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left when strings, label matchers, ranges and grouping
// clauses are removed, other than functions, aggregations and keywords.
func metricNames(expr string) []string {
	e := stringLit.ReplaceAllString(expr, `""`)
	e = matchers.ReplaceAllString(e, "")
	e = ranges.ReplaceAllString(e, "")
	e = grouping.ReplaceAllString(e, "")
	var out []string
	for _, loc := range ident.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.') {
			continue // the exponent of 1e9
		}
		rest := strings.TrimLeft(e[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || slices.Contains(keywords, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesParser(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (line) (rate(hotline_calls_total{direction="inbound"}[5m])) * 60`, []string{"hotline_calls_total"}},
		{`(time() - hb_seconds > 30) and hb_seconds > 0`, []string{"hb_seconds", "hb_seconds"}},
		{`histogram_quantile(0.9, sum by (le) (rate(x_bucket{a=~"b|c"}[5m])))`, []string{"x_bucket"}},
		{`a:b:rate15m < 0.95 and sum(increase(c_total[15m])) >= 2e1`, []string{"a:b:rate15m", "c_total"}},
		{`max(q) > 100 unless on (instance) up{job="x by (y)"} == 0`, []string{"q", "up"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestEveryNamedMetricExists: every metric a dashboard panel or a rule
// names is one the gateway exports (histograms with their _bucket, _sum
// and _count), a recording rule of the rules file, or Prometheus's own up.
func TestEveryNamedMetricExists(t *testing.T) {
	exported := gatewayMetrics(t)
	rf := loadRules(t)
	recorded := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	known := func(n string) bool {
		if exported[n] || recorded[n] || n == "up" {
			return true
		}
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && exported[b] {
				return true
			}
		}
		return false
	}
	used := map[string]bool{}
	check := func(where, expr string) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !known(n) {
				t.Errorf("%s: %q is not a metric of the gateway (nor a recording rule)", where, n)
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			check(rulesFile+": "+r.Record+r.Alert, r.Expr)
		}
	}
	d := loadDashboard(t)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			check(dashboardFile+": "+p.Title, tg.Expr)
		}
	}
	// What the dashboard and the alerts are for is really there.
	for _, n := range []string{"hotline_calls_total", "hotline_queue_waiting", "hotline_agents",
		"hotline_transfers_total", "hotline_ticket_backlog", "hotline_tickets_total",
		"hotline_ticket_delivery_seconds_bucket", "hotline_ari_connected", "hotline_connect_ratio:rate15m",
		"hotline_event_loop_heartbeat_timestamp_seconds", "hotline_count_dropped_total", "hotline_build_info",
		"hotline_calls_shed_total"} {
		if !used[n] {
			t.Errorf("no panel or rule uses %s", n)
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d metrics named, all exported: %s", len(names), strings.Join(names, " "))
}

// TestEveryAlertIsTested: each alert has a promtool case in which it fires.
func TestEveryAlertIsTested(t *testing.T) {
	data, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &tf); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: promtool cases firing %v, not firing %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
			if r.Labels["severity"] != "critical" && r.Labels["severity"] != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs a summary and a description", r.Alert)
			}
		}
	}
	for _, a := range []string{"HotlineARIDown", "HotlineEventLoopStalled", "HotlineTicketBacklogGrowing",
		"HotlineCountsDropped", "HotlineConnectRateLow", "HotlineTicketDeadLetters", "HotlineCallsShed"} {
		if !fires[a] {
			t.Errorf("alert %s missing or untested", a)
		}
	}
	if n < 6 {
		t.Fatalf("only %d alerts", n)
	}
}

// TestDashboardShape: panel IDs are unique, every panel queries the
// dashboard's Prometheus variable, and the dashboard can be imported
// under a fixed UID.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "hotline-gw" {
		t.Errorf("uid %q", d.UID)
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Name != "datasource" || d.Templating.List[0].Query != "prometheus" {
		t.Errorf("templating %+v: want a Prometheus datasource variable", d.Templating.List)
	}
	ids := map[int]string{}
	panels := 0
	for _, p := range d.Panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		panels++
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	if panels < 15 {
		t.Errorf("%d panels", panels)
	}
}

// TestPackagedConfigValidates: the /etc/hotline-gw/gateway.yaml the package
// installs is valid once its ARI password file exists, and holds no secret.
func TestPackagedConfigValidates(t *testing.T) {
	const packaged = "debian/gateway.yaml"
	data, err := os.ReadFile(packaged)
	if err != nil {
		t.Fatal(err)
	}
	body := string(data)
	for _, secret := range []string{"hotline-lab", "lab-token", "password: ", "token: "} {
		if strings.Contains(body, secret) {
			t.Errorf("%s holds %q: secrets belong in *_file or the environment", packaged, secret)
		}
	}
	const pwFile = "/etc/hotline-gw/ari-password"
	if !strings.Contains(body, "password_file: "+pwFile) {
		t.Fatalf("%s does not read the ARI password from %s", packaged, pwFile)
	}
	pw := filepath.Join(t.TempDir(), "ari-password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOTLINE_ARI_PASSWORD", "")
	cfg, err := config.Parse(strings.NewReader(strings.Replace(body, pwFile, pw, 1)))
	if err != nil {
		t.Fatalf("%s: %v", packaged, err)
	}
	transfer.SetDefaults(&cfg.Transfer)
	if err := transfer.ValidateConfig(&cfg.Transfer); err != nil {
		t.Fatalf("%s: %v", packaged, err)
	}
	if cfg.ARI.Password != "s3cret" || cfg.Log.Format != "json" {
		t.Fatalf("password %q, log format %q", cfg.ARI.Password, cfg.Log.Format)
	}
}
