package app

import (
	"io"
	"log/slog"
	"strings"

	"github.com/hotline12345/hotline-gw/gateway/config"
)

// NewLogger returns the slog logger the log section asks for (level and
// text or JSON format), writing to w.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OneLine joins a multi-error into one line for the operator.
func OneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// LoadConfig reads and validates the configuration file at path (every
// section, the transfer section included).
func LoadConfig(path string) (*config.Config, error) { return config.Load(path) }
