package ari

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by [Config.SetDefaults].
const (
	DefaultRequestTimeout = 3 * time.Second
	DefaultDialTimeout    = 3 * time.Second
	DefaultReconnectMin   = 100 * time.Millisecond
	DefaultReconnectMax   = 2 * time.Second
	DefaultQueueSize      = 64
	DefaultPingInterval   = 2 * time.Second
	DefaultReadTimeout    = 6 * time.Second
	DefaultMaxInflight    = 128
)

// Config describes the connection to Asterisk's ARI. The daemon fills it from
// its YAML configuration (section "ari"), then calls SetDefaults and Validate.
type Config struct {
	// URL is the root of the ARI REST API, e.g. http://127.0.0.1:8088/ari.
	URL string `yaml:"url"`
	// WebsocketURL is the ARI events endpoint. When empty it is derived from
	// URL: scheme http→ws, https→wss, path + "/events".
	WebsocketURL string `yaml:"websocket_url"`
	// Username and Password authenticate against ari.conf.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Application is the Stasis application name.
	Application string `yaml:"application"`
	// RequestTimeout bounds every REST request (default 3s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// DialTimeout bounds the TCP/websocket connection set-up (default 3s).
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReconnectMin and ReconnectMax bound the exponential reconnection
	// backoff (defaults 100ms and 2s).
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// PingInterval is how often a ping is sent on the event websocket when
	// nothing else was read (default 2s).
	PingInterval time.Duration `yaml:"ping_interval"`
	// ReadTimeout: a websocket from which nothing (no event, no pong) was
	// read for that long is taken as half-open: it is closed, the client is
	// not ready and reconnects (default 6s; at least twice PingInterval).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxInflight bounds the REST requests sent to Asterisk at once
	// (default 128, the transport's connections per host); a request waits
	// for a slot at most until its context is done.
	MaxInflight int `yaml:"max_inflight"`
	// QueueSize is the capacity of each owner's mailbox (default 64, the
	// daemon's ari.queue_size default too).
	QueueSize int `yaml:"queue_size"`
	// DisallowEvents are event types Asterisk is asked not to send to the
	// application (PUT /applications/{app}/eventFilter); default
	// DefaultDisallowedEvents. Set to an empty non-nil slice to receive all.
	DisallowEvents []string `yaml:"disallow_events"`
	// TLS is the client configuration for an https:// URL and a wss://
	// websocket (REST and events alike); nil: verified by the system's
	// roots under the URL's host name. Unused for http:// and ws://.
	TLS *tls.Config `yaml:"-"`
}

// DefaultDisallowedEvents are the event types the gateway never uses: about
// four in five of the events of a routed call (ChannelVarset alone is half).
var DefaultDisallowedEvents = []string{
	"ChannelVarset", "ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine",
	"ChannelEnteredBridge", "ChannelLeftBridge", "BridgeCreated", "BridgeDestroyed",
	"BridgeMerged", "BridgeVideoSourceChanged", "BridgeBlindTransfer", "BridgeAttendedTransfer",
	"ChannelTalkingStarted", "ChannelTalkingFinished", "ChannelHold", "ChannelUnhold",
	"ChannelUserevent", "ChannelToneDetected", "DeviceStateChanged", "EndpointStateChange",
	"ContactStatusChange", "PeerStatusChange", "TextMessageReceived", "PlaybackStarted",
	"PlaybackContinuing", "RecordingStarted",
}

// SetDefaults fills zero fields with their defaults, including WebsocketURL
// when it can be derived from URL.
func (c *Config) SetDefaults() {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = max(DefaultReadTimeout, 2*c.PingInterval)
	}
	if c.DisallowEvents == nil {
		c.DisallowEvents = DefaultDisallowedEvents
	}
	if c.WebsocketURL == "" {
		if ws, err := deriveWebsocketURL(c.URL); err == nil {
			c.WebsocketURL = ws
		}
	}
}

// Validate reports the first invalid field, naming it as in the YAML file.
func (c *Config) Validate() error {
	u, err := url.Parse(c.URL)
	if c.URL == "" {
		return errors.New("ari.url: required")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("ari.url: %q is not an http(s) URL", c.URL)
	}
	if c.WebsocketURL != "" {
		w, err := url.Parse(c.WebsocketURL)
		if err != nil || (w.Scheme != "ws" && w.Scheme != "wss") || w.Host == "" {
			return fmt.Errorf("ari.websocket_url: %q is not a ws(s) URL", c.WebsocketURL)
		}
	}
	if c.Username == "" {
		return errors.New("ari.username: required")
	}
	if c.Password == "" {
		return errors.New("ari.password: required")
	}
	if c.Application == "" {
		return errors.New("ari.application: required")
	}
	if strings.ContainsAny(c.Application, "/?#&=, ") {
		return fmt.Errorf("ari.application: %q contains a character not allowed in an application name", c.Application)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ari.request_timeout", c.RequestTimeout},
		{"ari.dial_timeout", c.DialTimeout},
		{"ari.reconnect_min", c.ReconnectMin},
		{"ari.reconnect_max", c.ReconnectMax},
		{"ari.ping_interval", c.PingInterval},
		{"ari.read_timeout", c.ReadTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: %v must be positive", d.name, d.v)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("ari.reconnect_max: %v is less than ari.reconnect_min %v", c.ReconnectMax, c.ReconnectMin)
	}
	if c.ReadTimeout < 2*c.PingInterval {
		return fmt.Errorf("ari.read_timeout: %v is less than twice ari.ping_interval %v", c.ReadTimeout, c.PingInterval)
	}
	if c.QueueSize <= 0 {
		return fmt.Errorf("ari.queue_size: %d must be positive", c.QueueSize)
	}
	if c.MaxInflight <= 0 || c.MaxInflight > 4096 {
		return fmt.Errorf("ari.max_inflight: %d must be between 1 and 4096", c.MaxInflight)
	}
	return nil
}

// websocketURL returns the events URL with the app and subscribeAll query
// parameters; WebsocketURL (or URL) must be valid.
func (c *Config) websocketURL() (string, error) {
	raw := c.WebsocketURL
	if raw == "" {
		var err error
		if raw, err = deriveWebsocketURL(c.URL); err != nil {
			return "", err
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("ari.websocket_url: %q: %w", raw, err)
	}
	q := u.Query()
	q.Set("app", c.Application)
	q.Set("subscribeAll", "false")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func deriveWebsocketURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("ari.url: %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("ari.url: %q is not an http(s) URL", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("ari.url: %q has no host", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/events"
	u.RawQuery = ""
	u.Fragment = ""
	return u.String(), nil
}
