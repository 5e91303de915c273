package transfer

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hotline12345/hotline-gw/internal/conf"
	"github.com/hotline12345/hotline-gw/tlsconf"
)

// Caller ID policies for the call to 110.
const (
	CallerIDCaller  = "caller"  // present the citizen's number (falls back to the hotline's when it is not a plain number)
	CallerIDHotline = "hotline" // present the hotline's number
)

// Config is the `transfer:` section: one-key transfers. The gateway's
// configuration embeds it; ValidateConfig's errors name fields by their
// YAML path, prefixed with "transfer.". Defaults: SetDefaults.
type Config struct {
	// Target is the dial string of the 110 platform, e.g. "PJSIP/police110"
	// or, with TargetAllowAt, "PJSIP/110@police-trunk". It is the only
	// endpoint the transfer ever dials: nothing from a request reaches it.
	Target string `yaml:"target"`
	// TargetAllowAt permits one "@" in Target's resource (exten@endpoint).
	TargetAllowAt bool `yaml:"target_allow_at"`
	// CallerID is "caller" or "hotline".
	CallerID string `yaml:"caller_id"`
	// HotlineNumber is presented with CallerID "hotline", and as the
	// fallback when the caller's number is withheld or not a plain number.
	HotlineNumber string `yaml:"hotline_number"`
	// App is the Stasis application the 110 leg enters on answer; empty
	// means the ARI client's application ("hotline-gw").
	App string `yaml:"app"`
	// MOHClass is the music-on-hold class played to the caller while 110 is
	// dialled; empty means the channel's default.
	MOHClass string `yaml:"moh_class"`
	// FailPrompt is played to the agent when 110 is busy, does not answer or
	// fails (the caller is back with the agent).
	FailPrompt string `yaml:"fail_prompt"`
	// TransferHeader, when set and Target is a PJSIP endpoint, adds a SIP
	// header carrying the transfer ID to the INVITE to 110, so the 110
	// platform can fetch the case data (the record). Empty: no header.
	TransferHeader string `yaml:"transfer_header"`

	// RequestTimeout bounds the Requested state (the originate request).
	RequestTimeout conf.Duration `yaml:"request_timeout"`
	// DialTimeout bounds the Dialing state: 110 must ring (SIP 180) by then.
	DialTimeout conf.Duration `yaml:"dial_timeout"`
	// RingTimeout bounds the Ringing state: 110 must answer by then.
	RingTimeout conf.Duration `yaml:"ring_timeout"`
	// ThreePartyMax bounds the ThreeParty state; when it expires the agent
	// leaves (as with Complete) and the caller stays with 110.
	ThreePartyMax conf.Duration `yaml:"three_party_max"`

	// Codes are the DTMF feature codes the agent presses on the phone.
	Codes FeatureCodes `yaml:"dtmf_codes"`
	// InterDigit is the longest pause between the digits of a feature code.
	InterDigit conf.Duration `yaml:"dtmf_inter_digit"`
	// NoteMaxRunes bounds the length of a transfer note.
	NoteMaxRunes int `yaml:"note_max_runes"`
	// MaxPerCall bounds the transfers of one call (so that a ticket and a
	// call's records cannot grow without bound); the next is refused.
	MaxPerCall int `yaml:"max_per_call"`
	// PoliceLink is the 110 platform's PoliceLink gRPC address; when set,
	// every change of a transfer record is pushed to it.
	PoliceLink      string `yaml:"police_link"`
	PoliceLinkToken string `yaml:"police_link_token"`
	// PoliceLinkTLS secures the connection to PoliceLink; unset, it is
	// plaintext for a loopback address and TLS (system roots) otherwise.
	PoliceLinkTLS tlsconf.Client `yaml:"police_link_tls"`
	// PoliceWebhook pushes final transfer records to the 110 platform as
	// signed HTTP POSTs (beside or instead of PoliceLink).
	PoliceWebhook WebhookConfig `yaml:"police_webhook"`
}

// FeatureCodes are the DTMF sequences of the transfer features. Each is 2-4
// of 0-9 * #, all distinct and none a prefix of another.
type FeatureCodes struct {
	Blind      string `yaml:"blind"`
	ThreeParty string `yaml:"three_party"`
	Complete   string `yaml:"complete"`
	Cancel     string `yaml:"cancel"`
}

// DefaultConfig returns the defaults; Target must still be checked (it has
// a default, "PJSIP/police110", matching the lab).
func DefaultConfig() Config {
	c := Config{}
	SetDefaults(&c)
	return c
}

// SetDefaults fills zero fields with their defaults.
func SetDefaults(c *Config) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defD := func(d *conf.Duration, v time.Duration) {
		if *d == 0 {
			*d = conf.Duration(v)
		}
	}
	def(&c.Target, "PJSIP/police110")
	def(&c.CallerID, CallerIDCaller)
	def(&c.HotlineNumber, "12345")
	def(&c.FailPrompt, "sound:beeperr")
	defD(&c.RequestTimeout, 5*time.Second)
	defD(&c.DialTimeout, 10*time.Second)
	defD(&c.RingTimeout, 30*time.Second)
	defD(&c.ThreePartyMax, 2*time.Hour)
	def(&c.Codes.Blind, "*1")
	def(&c.Codes.ThreeParty, "*2")
	def(&c.Codes.Complete, "*3")
	def(&c.Codes.Cancel, "*0")
	defD(&c.InterDigit, 2*time.Second)
	if c.NoteMaxRunes == 0 {
		c.NoteMaxRunes = 500
	}
	if c.MaxPerCall == 0 {
		c.MaxPerCall = 8
	}
	c.PoliceWebhook.setDefaults()
}

// Validate checks the configuration; every error names its field.
func ValidateConfig(c *Config) error {
	var errs []error
	field := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("transfer.%s: %w", name, err))
		}
	}
	field("target", ValidateDialString(c.Target, c.TargetAllowAt))
	if c.PoliceLink != "" {
		if _, port, err := net.SplitHostPort(c.PoliceLink); err != nil || port == "" {
			field("police_link", fmt.Errorf("%q is not host:port", c.PoliceLink))
		}
		if err := c.PoliceLinkTLS.Validate("transfer.police_link_tls"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.PoliceWebhook.validate(); err != nil {
		errs = append(errs, err)
	}
	switch c.CallerID {
	case CallerIDCaller, CallerIDHotline:
	default:
		field("caller_id", fmt.Errorf("must be %q or %q, not %q", CallerIDCaller, CallerIDHotline, c.CallerID))
	}
	if !isPhoneNumber(c.HotlineNumber) {
		field("hotline_number", fmt.Errorf("%q is not a phone number (digits, optional leading +, at most 20)", c.HotlineNumber))
	}
	if c.App != "" && !isToken(c.App, 64, "-_.") {
		field("app", fmt.Errorf("%q is not a Stasis application name (letters, digits, - _ .)", c.App))
	}
	if c.MOHClass != "" && !isToken(c.MOHClass, 64, "-_.") {
		field("moh_class", fmt.Errorf("%q is not a music-on-hold class (letters, digits, - _ .)", c.MOHClass))
	}
	if !validMediaURI(c.FailPrompt) {
		field("fail_prompt", fmt.Errorf("%q is not a media URI like \"sound:beeperr\"", c.FailPrompt))
	}
	if c.TransferHeader != "" && (!isToken(c.TransferHeader, 64, "-") || !strings.HasPrefix(strings.ToUpper(c.TransferHeader), "X-")) {
		field("transfer_header", fmt.Errorf("%q is not a private SIP header name (X-..., letters, digits, -)", c.TransferHeader))
	}
	for _, d := range []struct {
		name string
		v    conf.Duration
		max  time.Duration
	}{
		{"request_timeout", c.RequestTimeout, time.Minute},
		{"dial_timeout", c.DialTimeout, 2 * time.Minute},
		{"ring_timeout", c.RingTimeout, 5 * time.Minute},
		{"three_party_max", c.ThreePartyMax, 24 * time.Hour},
		{"dtmf_inter_digit", c.InterDigit, 10 * time.Second},
	} {
		if d.v.D() <= 0 || d.v.D() > d.max {
			field(d.name, fmt.Errorf("%s is out of range (0, %s]", d.v.D(), d.max))
		}
	}
	field("dtmf_codes", ValidateCodes(c.Codes))
	if c.NoteMaxRunes < 1 || c.NoteMaxRunes > 4000 {
		field("note_max_runes", fmt.Errorf("%d is out of range [1, 4000]", c.NoteMaxRunes))
	}
	if c.MaxPerCall < 1 || c.MaxPerCall > 100 {
		field("max_per_call", fmt.Errorf("%d is out of range [1, 100]", c.MaxPerCall))
	}
	return errors.Join(errs...)
}

// ValidateDialString checks a configured dial string strictly: exactly
// "Tech/resource", Tech of letters and digits, resource of letters, digits
// and - _ . + ; with allowAt, one "@" followed by an endpoint name. Nothing
// that changes Dial's meaning is accepted: no "&" (parallel dial), ","
// (options), "/" beyond the tech separator, "@" (unless allowed), "(", ")",
// "$", "{", "}", ":", quotes, spaces or control characters.
func ValidateDialString(s string, allowAt bool) error {
	if s == "" {
		return errors.New("empty dial string")
	}
	if len(s) > 128 {
		return fmt.Errorf("dial string is longer than 128 bytes")
	}
	tech, res, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("dial string %q is not Tech/resource", s)
	}
	if tech == "" || !isAlpha(tech[0]) || !isToken(tech, 16, "") {
		return fmt.Errorf("dial string %q: technology %q must be letters and digits, starting with a letter", s, tech)
	}
	if res == "" {
		return fmt.Errorf("dial string %q: empty resource", s)
	}
	name, host, hasAt := strings.Cut(res, "@")
	if hasAt && !allowAt {
		return fmt.Errorf("dial string %q: \"@\" is not allowed (set target_allow_at for exten@endpoint)", s)
	}
	for i := 0; i < len(res); i++ {
		b := res[i]
		if b == '@' {
			continue
		}
		if !isAlnum(b) && !strings.ContainsRune("-_.+", rune(b)) {
			return fmt.Errorf("dial string %q: character %q is not allowed in the resource", s, rune(b))
		}
	}
	if name == "" || (hasAt && (host == "" || strings.Contains(host, "@"))) {
		return fmt.Errorf("dial string %q: resource must be name or exten@endpoint", s)
	}
	return nil
}

// ValidateCodes checks the feature codes.
func ValidateCodes(fc FeatureCodes) error {
	codes := []struct{ name, code string }{
		{"blind", fc.Blind}, {"three_party", fc.ThreeParty}, {"complete", fc.Complete}, {"cancel", fc.Cancel},
	}
	for _, c := range codes {
		if n := len(c.code); n < 2 || n > 4 {
			return fmt.Errorf("%s: %q must be 2 to 4 DTMF digits", c.name, c.code)
		}
		for i := 0; i < len(c.code); i++ {
			if !isDTMF(c.code[i]) {
				return fmt.Errorf("%s: %q: %q is not a DTMF digit (0-9 * #)", c.name, c.code, rune(c.code[i]))
			}
		}
	}
	for i, a := range codes {
		for j, b := range codes {
			if i == j {
				continue
			}
			if a.code == b.code {
				return fmt.Errorf("%s and %s are both %q", a.name, b.name, a.code)
			}
			if strings.HasPrefix(b.code, a.code) {
				return fmt.Errorf("%s %q is a prefix of %s %q (it would always win)", a.name, a.code, b.name, b.code)
			}
		}
	}
	return nil
}

// ValidateNote returns the note trimmed of surrounding spaces, or an error
// (wrapping ErrInvalid) if it is not valid UTF-8, is longer than maxRunes or
// contains control or bidirectional-override characters.
func ValidateNote(note string, maxRunes int) (string, error) {
	note = strings.TrimSpace(note)
	if !utf8.ValidString(note) {
		return "", fmt.Errorf("%w: note is not valid UTF-8", ErrInvalid)
	}
	if n := utf8.RuneCountInString(note); n > maxRunes {
		return "", fmt.Errorf("%w: note has %d characters, at most %d are allowed", ErrInvalid, n, maxRunes)
	}
	for i, r := range note {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", fmt.Errorf("%w: note contains control character %U at byte %d (line breaks and tabs are not allowed)", ErrInvalid, r, i)
		}
		if (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f {
			return "", fmt.Errorf("%w: note contains bidirectional control character %U", ErrInvalid, r)
		}
	}
	return note, nil
}

func isAlpha(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isAlnum(b byte) bool { return isAlpha(b) || isDigit(b) }
func isDTMF(b byte) bool  { return isDigit(b) || b == '*' || b == '#' }

// isToken reports whether s is 1..max bytes of letters, digits and extra.
func isToken(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune(extra, rune(s[i])) {
			return false
		}
	}
	return true
}

// isPhoneNumber: 1-20 digits with an optional leading "+".
func isPhoneNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// validMediaURI accepts "sound:name" with name of letters, digits, - _ /.
func validMediaURI(s string) bool {
	name, ok := strings.CutPrefix(s, "sound:")
	if !ok || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return false
	}
	return isToken(name, 128, "-_/")
}
