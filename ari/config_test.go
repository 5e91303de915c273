package ari

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := Config{URL: "http://127.0.0.1:8088/ari", Username: "gw", Password: "secret", Application: "hotline"}
		c.SetDefaults()
		return c
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"https", func(c *Config) { c.URL = "https://pbx.example:8089/ari" }, ""},
		{"empty url", func(c *Config) { c.URL = "" }, "ari.url: required"},
		{"bad url", func(c *Config) { c.URL = "htp:/x" }, `ari.url: "htp:/x" is not an http(s) URL`},
		{"no host", func(c *Config) { c.URL = "http:///ari" }, "ari.url:"},
		{"bad ws url", func(c *Config) { c.WebsocketURL = "http://x/ari/events" }, "ari.websocket_url:"},
		{"no username", func(c *Config) { c.Username = "" }, "ari.username: required"},
		{"no password", func(c *Config) { c.Password = "" }, "ari.password: required"},
		{"no application", func(c *Config) { c.Application = "" }, "ari.application: required"},
		{"bad application", func(c *Config) { c.Application = "a&b" }, "ari.application:"},
		{"request timeout", func(c *Config) { c.RequestTimeout = -1 }, "ari.request_timeout:"},
		{"dial timeout", func(c *Config) { c.DialTimeout = -time.Second }, "ari.dial_timeout:"},
		{"reconnect order", func(c *Config) { c.ReconnectMin, c.ReconnectMax = 3*time.Second, time.Second }, "ari.reconnect_max:"},
		{"queue size", func(c *Config) { c.QueueSize = -5 }, "ari.queue_size:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{URL: "https://pbx.example:8089/ari/", Application: "hotline"}
	c.SetDefaults()
	if c.RequestTimeout != 3*time.Second || c.DialTimeout != 3*time.Second || c.ReconnectMin != 100*time.Millisecond ||
		c.ReconnectMax != 2*time.Second || c.QueueSize != 64 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.WebsocketURL != "wss://pbx.example:8089/ari/events" {
		t.Fatalf("WebsocketURL = %q", c.WebsocketURL)
	}
	u, err := c.websocketURL()
	if err != nil || u != "wss://pbx.example:8089/ari/events?app=hotline&subscribeAll=false" {
		t.Fatalf("websocketURL = %q, %v", u, err)
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{cfg: Config{ReconnectMin: 100 * time.Millisecond, ReconnectMax: 2 * time.Second}}
	for n := 1; n < 40; n++ {
		ceiling := min(100*time.Millisecond<<min(n-1, 10), 2*time.Second)
		for range 50 {
			if d := c.backoff(n); d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", n, d, ceiling)
			}
		}
	}
}
