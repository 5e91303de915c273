package app

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/metrics"
)

// LiveSettings are the settings a reload (SIGHUP) applies while calls run;
// every other setting is read at start only, and a reload that changes one
// names it in its log line as not applied. README's "Reloading the
// configuration" lists the same.
var LiveSettings = []string{
	"log.level",
	"acd.agents (seats and their tokens)",
	"auth.supervisors, auth.police110, auth.ticket_system (tokens, token files, variables)",
	"auth.rate_limit, auth.max_event_streams_per_agent",
	"lines[].name, lines[].greeting, lines[].record (the set of lines, skills and merges: restart)",
	"numbering.strip_prefixes",
	"listen.grpc_tls, listen.http_tls certificate files (re-read from the same paths)",
	"shutdown.drain_timeout",
	"health.stall_after",
}

// ErrReloadRefused wraps every reason a reload is refused.
var ErrReloadRefused = errors.New("configuration reload refused")

// Reload re-reads the configuration file at path and applies what can
// change live (LiveSettings): tokens, seats, line names, log level, rate
// limits, certificates. A file that does not load or validate is refused
// with one log line naming the problem and
// hotline_config_reloads_total{result="refused"}; the configuration in
// force stays. Changed settings that need a restart are logged as not
// applied. Calls in progress are not touched. Safe to call at any time,
// from any goroutine; reloads run one at a time.
func (a *App) Reload(path string) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	next, err := config.Load(path)
	if err != nil {
		return a.refuse(err)
	}
	return a.apply(next)
}

func (a *App) refuse(err error) error {
	err = fmt.Errorf("%w: %w", ErrReloadRefused, err)
	a.m.Config.Reloads.WithLabelValues(metrics.ReloadRefused).Inc()
	a.log.Error("configuration reload refused; the configuration in force stays", "err", OneLine(err))
	return err
}

// apply puts next's live settings in force. Everything that can fail is
// checked before anything changes, except the certificates, which are
// re-read (and swapped) first: a certificate that does not load refuses
// the whole reload.
func (a *App) apply(next *config.Config) error {
	creds, err := next.Credentials()
	if err != nil {
		return a.refuse(err)
	}
	for _, st := range []interface{ Reload() error }{a.grpcTLS, a.httpTLS} {
		if st == nil {
			continue
		}
		if err := st.Reload(); err != nil {
			return a.refuse(err)
		}
	}
	if err := a.guard.SetLimits(next.Auth.RateLimit, next.Auth.MaxEventStreamsPerAgent); err != nil {
		return a.refuse(err)
	}
	if err := a.guard.Reload(creds); err != nil { // validated above: does not fail
		return a.refuse(err)
	}
	var notApplied []string
	if err := a.plan.Update(next.Lines, next.Numbering); err != nil {
		notApplied = append(notApplied, "lines ("+err.Error()+")")
	}
	if a.level != nil {
		var lvl slog.Level
		_ = lvl.UnmarshalText([]byte(next.Log.Level)) // validated
		a.level.Set(lvl)
	} else if next.Log.Level != a.live.Load().Log.Level {
		notApplied = append(notApplied, "log.level (this logger's level is fixed)")
	}
	a.live.Store(next)
	notApplied = append(notApplied, RestartOnly(a.cfg, next)...)
	a.m.Config.Reloads.WithLabelValues(metrics.ReloadOK).Inc()
	a.m.Config.LastSuccess.SetToCurrentTime()
	if len(notApplied) > 0 {
		a.log.Warn("configuration reloaded; changed settings that need a restart were NOT applied",
			"not_applied", strings.Join(notApplied, ", "), "credentials", len(creds), "log_level", next.Log.Level)
	} else {
		a.log.Info("configuration reloaded", "credentials", len(creds), "log_level", next.Log.Level)
	}
	return nil
}

// RestartOnly returns the YAML paths of the settings that differ between
// the configuration the process started with and next, leaving out the
// live ones (LiveSettings): what a reload cannot apply.
func RestartOnly(started, next *config.Config) []string {
	a, b := *started, *next
	for _, c := range []*config.Config{&a, &b} {
		c.Log.Level = ""
		c.ACD.Agents = nil
		c.Auth.Supervisors, c.Auth.Police110, c.Auth.TicketSystem = nil, nil, nil
		c.Auth.Inspectors = nil
		c.Auth.RateLimit, c.Auth.MaxEventStreamsPerAgent = config.Default().Auth.RateLimit, 0
		c.Numbering.StripPrefixes = nil
		c.Shutdown.DrainTimeout = 0
		c.Health.StallAfter = 0
	}
	// The lines' live fields, when the lines keep their structure (else
	// "lines" is reported with its reason by the caller and here).
	if len(a.Lines) == len(b.Lines) {
		a.Lines, b.Lines = clearLive(a.Lines), clearLive(b.Lines)
	}
	var out []string
	diff(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	return out
}

func clearLive(ls []config.Line) []config.Line {
	out := append([]config.Line(nil), ls...)
	for i := range out {
		out[i].Name, out[i].Greeting, out[i].Record = "", "", false
	}
	return out
}

// diff appends the YAML path of every leaf where a and b differ; structs
// are walked by their yaml tags, anything else compared whole.
func diff(a, b reflect.Value, path string, out *[]string) {
	if a.Kind() != reflect.Struct || !hasYAMLFields(a.Type()) {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
		return
	}
	for i := range a.NumField() {
		f := a.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		p := name
		if path != "" {
			p = path + "." + name
		}
		diff(a.Field(i), b.Field(i), p, out)
	}
}

func hasYAMLFields(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("yaml") != "" {
			return true
		}
	}
	return false
}
