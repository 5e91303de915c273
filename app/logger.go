package app

import (
	"io"
	"log/slog"
	"strings"

	"github.com/hotline12345/hotline-gw/gateway/config"
	"github.com/hotline12345/hotline-gw/transfer"
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

// LoadConfig reads and validates the configuration file at path.
func LoadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	transfer.SetDefaults(&cfg.Transfer)
	if err := transfer.ValidateConfig(&cfg.Transfer); err != nil {
		return nil, err
	}
	return cfg, nil
}
