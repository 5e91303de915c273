// Package conf holds the small pieces every configuration section shares:
// the YAML Duration, the field error that names a key by its YAML path,
// secrets read from files, and common checks. It imports nothing of the
// gateway, so every domain package may own its section with it.
package conf

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as "15s", "2m".
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like \"15s\"", n.Line)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like \"15s\" or \"90d\"", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration is time.ParseDuration that also takes a whole number of
// days, "90d" (retention periods).
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" && len(days) <= 5 {
		n := 0
		for _, c := range days {
			n = n*10 + int(c-'0')
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Errors collects field errors: "<path>: <what is wrong>".
type Errors struct{ errs []error }

// Bad records that field is wrong.
func (e *Errors) Bad(field, format string, a ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
}

// Add records errors found elsewhere.
func (e *Errors) Add(errs ...error) {
	for _, err := range errs {
		if err != nil {
			e.errs = append(e.errs, err)
		}
	}
}

// List returns the errors recorded.
func (e *Errors) List() []error { return e.errs }

// Err joins the errors recorded (nil when there is none).
func (e *Errors) Err() error { return errors.Join(e.errs...) }

// ReadSecret sets *dst from file (trimmed) when file is set; setting both
// the secret and its file is an error naming field.
func ReadSecret(dst *string, file, field string) error {
	if file == "" {
		return nil
	}
	if *dst != "" {
		return fmt.Errorf("%s: set either the secret or its file, not both", field)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	*dst = strings.TrimSpace(string(b))
	return nil
}

// CheckHostPort checks that addr is host:port with a port.
func CheckHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", addr)
	}
	return nil
}

// ValidSkill reports whether s is a well-formed skill or group name: 1-32
// of a-z, 0-9, _ or -.
func ValidSkill(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// MediaURI reports whether s is an ARI media URI (sound:… or recording:…).
func MediaURI(s string) bool {
	return strings.HasPrefix(s, "sound:") || strings.HasPrefix(s, "recording:")
}

// PlayURI reports whether s is a media URI or one of ARI's spoken forms
// (digits:, number:, characters:), e.g. for queue announcements.
func PlayURI(s string) bool {
	for _, p := range []string{"digits:", "number:", "characters:"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest != ""
		}
	}
	return MediaURI(s)
}
