package app

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/hotline12345/hotline-gw/gateway/config"
)

// NewLogger returns the slog logger the log section asks for (level and
// text or JSON format), writing to w. Its level can change while it runs:
// an App built with it applies log.level on reload.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	lv := &slog.LevelVar{}
	_ = lv.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(levelHandler{h: h, level: lv})
}

// levelHandler is the root handler of NewLogger's logger: it exposes the
// level variable the handler below it reads at every record. Loggers
// derived with With or WithGroup share the variable.
type levelHandler struct {
	h     slog.Handler
	level *slog.LevelVar
}

func (l levelHandler) Enabled(ctx context.Context, lvl slog.Level) bool { return l.h.Enabled(ctx, lvl) }
func (l levelHandler) Handle(ctx context.Context, r slog.Record) error  { return l.h.Handle(ctx, r) }
func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{h: l.h.WithAttrs(as), level: l.level}
}
func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{h: l.h.WithGroup(name), level: l.level}
}

// levelOf returns the level variable of a logger built by NewLogger, or
// nil for any other logger (its level is fixed).
func levelOf(log *slog.Logger) *slog.LevelVar {
	if lh, ok := log.Handler().(levelHandler); ok {
		return lh.level
	}
	return nil
}

// OneLine joins a multi-error into one line for the operator.
func OneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// LoadConfig reads and validates the configuration file at path (every
// section, the transfer section included).
func LoadConfig(path string) (*config.Config, error) { return config.Load(path) }
