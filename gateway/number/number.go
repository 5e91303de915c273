// Package number validates and normalises citizens' telephone numbers: the
// numbers the hotline calls (follow-ups 回访 and call-backs of missed calls)
// and the caller numbers seen on inbound calls (for call-back tasks).
//
// Chinese numbering as used here:
//
//   - mobile: 11 digits with a mobile prefix of the national numbering
//     plan (mobilePrefixes: 13x, 145, 147, 15x but 154, 162, 165-167,
//     170-173, 175-178, 18x, 19x but 194, satellite 1349 and 17400-17405;
//     not the 140-144/146/148 IoT and 149 data-only ranges, nor unassigned
//     ones such as 154), optionally written with +86, 0086 or 86 in front,
//     or with a trunk 0 ("013800138000", as out-of-town mobiles are often
//     presented);
//   - fixed line: area code (0 + 2-3 digits: 010 and 02X are three digits
//     with the 0, the others four, e.g. 0739) + a 7-8 digit subscriber
//     number not starting 0 or 1; written as +86 739 ... the trunk 0 is
//     restored;
//   - a local fixed number written without area code (7-8 digits, not
//     starting 0 or 1) is in the home area (Shaoyang: 0739).
//
// The canonical dial form is the national form with the trunk 0 for fixed
// lines: "13800138000", "07395551234". E164 gives "+8613800138000",
// "+867395551234" for display.
//
// Input is folded first: full-width digits and signs (１３８…, ＋, （）) as
// agents paste them from Chinese text become ASCII, and common separators
// (spaces, the ideographic space, hyphens and dashes of either width, the
// middle dot ·, dots) are dropped.
//
// Only digits ever leave this package: a Number can only be made by a
// Policy, and its digits are checked again when a dial string is built.
package number

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors. Every refusal wraps one of them.
var (
	// ErrInvalidNumber: the input is not a well-formed Chinese telephone
	// number (empty, bad characters, wrong length, ...). Originate result
	// "invalid_number".
	ErrInvalidNumber = errors.New("invalid number")
	// ErrNotAllowed: a well-formed number the hotline must not call
	// (foreign, emergency, service or premium-rate, outside the allow
	// list). Originate result "rejected".
	ErrNotAllowed = errors.New("number not allowed")
)

// InvalidError is a malformed number; it wraps ErrInvalidNumber. The raw
// input is deliberately not part of the message (it may hold anything, up
// to an injection attempt); Reason says what is wrong.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return "invalid number: " + e.Reason }
func (e *InvalidError) Unwrap() error { return ErrInvalidNumber }

// NotAllowedError is a well-formed number that policy refuses; it wraps
// ErrNotAllowed. Digits are the parsed digits (never anything else).
type NotAllowedError struct {
	Digits string
	Reason string
}

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("number %s not allowed: %s", mask(e.Digits), e.Reason)
}
func (e *NotAllowedError) Unwrap() error { return ErrNotAllowed }

func invalid(format string, a ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, a...)}
}

func notAllowed(digits, format string, a ...any) error {
	return &NotAllowedError{Digits: digits, Reason: fmt.Sprintf(format, a...)}
}

// Kind is the kind of a number.
type Kind int

const (
	Mobile Kind = iota + 1
	Fixed
)

func (k Kind) String() string {
	switch k {
	case Mobile:
		return "mobile"
	case Fixed:
		return "fixed"
	}
	return "unknown"
}

// Number is a validated, normalised number. The zero Number is not valid
// (IsZero); DialString refuses it.
type Number struct {
	digits string // canonical national dial form
	kind   Kind
	area   string // fixed lines: area code with the trunk 0
}

// Digits returns the canonical dial form: "13800138000", "07395551234".
func (n Number) Digits() string { return n.digits }

// String returns the canonical dial form.
func (n Number) String() string { return n.digits }

// Kind returns Mobile or Fixed.
func (n Number) Kind() Kind { return n.kind }

// AreaCode returns the area code with its trunk 0 ("0739") of a fixed
// line, "" for a mobile.
func (n Number) AreaCode() string { return n.area }

// IsZero reports whether n is the zero Number.
func (n Number) IsZero() bool { return n.digits == "" }

// E164 returns the number in E.164 for display: "+8613800138000",
// "+867395551234".
func (n Number) E164() string {
	switch n.kind {
	case Mobile:
		return "+86" + n.digits
	case Fixed:
		return "+86" + n.digits[1:]
	}
	return ""
}

// Masked returns the number with its middle hidden ("138****8000"), for
// logs: citizens' numbers are personal data.
func (n Number) Masked() string { return mask(n.digits) }

// LogValue makes slog log the masked number.
func (n Number) LogValue() slog.Value { return slog.StringValue(n.Masked()) }

func mask(d string) string {
	if len(d) < 7 {
		return strings.Repeat("*", len(d))
	}
	return d[:3] + strings.Repeat("*", len(d)-7) + d[len(d)-4:]
}

// Config configures a Policy; the zero value is the default policy. It is
// meant to be embedded in the gateway configuration.
type Config struct {
	// HomeAreaCode is given to local fixed numbers written without area
	// code; default "0739" (Shaoyang).
	HomeAreaCode string `yaml:"home_area_code"`
	// AllowPrefixes: outbound calls go only to numbers whose canonical
	// form starts with one of these; default DefaultAllowPrefixes (mobiles
	// and Hunan's area codes). ["0", "1"] allows every domestic number.
	AllowPrefixes []string `yaml:"allow_prefixes"`
	// DenyPrefixes refuse numbers whose digits start with one of these
	// even if allowed (service, short and premium-rate numbers); default
	// DefaultDenyPrefixes. An entry is "PREFIX" or "PREFIX:LENGTH" (only
	// numbers of exactly LENGTH digits: "400:10" refuses 400 numbers but
	// not a local 7-digit number starting 400). Matched against the
	// canonical form, the national digits as written (before the home area
	// code is added: "9551234" is refused, not dialled as 0739-9551234) and
	// the subscriber part of fixed numbers ("0739-96123456").
	DenyPrefixes []string `yaml:"deny_prefixes"`
}

// DefaultHomeAreaCode is Shaoyang's area code.
const DefaultHomeAreaCode = "0739"

// DefaultAllowPrefixes returns the default allow list: mobiles ("1") and
// the area codes of Hunan province (0730-0739; 0743-0746).
func DefaultAllowPrefixes() []string {
	return []string{"1",
		"0730", "0731", "0732", "0733", "0734", "0735", "0736", "0737", "0738", "0739",
		"0743", "0744", "0745", "0746"}
}

// DefaultDenyPrefixes returns the default deny list: short codes and
// service numbers (10xxx carriers, 11x, 12xxx public services, 95xxx
// national and 96xxx local service numbers) and the 10-digit 400/800
// numbers.
func DefaultDenyPrefixes() []string {
	return []string{"10", "11", "12", "95", "96", "400:10", "800:10"}
}

// denyRule is a parsed deny entry; length 0 matches any length.
type denyRule struct {
	prefix string
	length int
}

func (r denyRule) String() string {
	if r.length == 0 {
		return r.prefix
	}
	return fmt.Sprintf("%s (%d digits)", r.prefix, r.length)
}

func parseDeny(e string) (denyRule, bool) {
	p, l, hasLen := strings.Cut(e, ":")
	if p == "" || !allDigits(p) || len(p) > 15 {
		return denyRule{}, false
	}
	if !hasLen {
		return denyRule{prefix: p}, true
	}
	n, err := strconv.Atoi(l)
	if err != nil || !allDigits(l) || n < len(p) || n > 15 {
		return denyRule{}, false
	}
	return denyRule{prefix: p, length: n}, true
}

// emergency are never called out, whatever the configuration: police,
// fire, ambulance, traffic police, GSM emergency.
func isEmergency(d string) bool {
	switch d {
	case "110", "119", "120", "122", "112", "999":
		return true
	}
	return false
}

// Policy validates numbers. Safe for concurrent use; immutable.
type Policy struct {
	home  string
	allow []string
	deny  []denyRule
}

// NewPolicy returns the policy of cfg, with defaults for empty fields.
func NewPolicy(cfg Config) (*Policy, error) {
	p := &Policy{home: cfg.HomeAreaCode, allow: slices.Clone(cfg.AllowPrefixes)}
	if p.home == "" {
		p.home = DefaultHomeAreaCode
	}
	if len(p.allow) == 0 {
		p.allow = DefaultAllowPrefixes()
	}
	deny := cfg.DenyPrefixes
	if len(deny) == 0 {
		deny = DefaultDenyPrefixes()
	}
	if !allDigits(p.home) || len(p.home) != areaLen(p.home) {
		return nil, fmt.Errorf("number policy: home_area_code %q is not an area code (0 + 2-3 digits, e.g. 0739)", p.home)
	}
	for i, a := range p.allow {
		if a == "" || !allDigits(a) || len(a) > 15 {
			return nil, fmt.Errorf("number policy: allow_prefixes[%d] %q must be 1-15 digits", i, a)
		}
	}
	for i, d := range deny {
		r, ok := parseDeny(d)
		if !ok {
			return nil, fmt.Errorf("number policy: deny_prefixes[%d] %q must be 1-15 digits, optionally :LENGTH (e.g. 400:10)", i, d)
		}
		p.deny = append(p.deny, r)
	}
	if !p.allowed(p.home + "2000000") {
		return nil, fmt.Errorf("number policy: home_area_code %s is not in allow_prefixes", p.home)
	}
	return p, nil
}

// HomeAreaCode returns the configured home area code.
func (p *Policy) HomeAreaCode() string { return p.home }

// Outbound validates a number the hotline is about to call: well-formed
// (ErrInvalidNumber otherwise), domestic, not an emergency, service or
// premium-rate number, and in the allow list (ErrNotAllowed otherwise).
func (p *Policy) Outbound(raw string) (Number, error) {
	n, written, err := p.parse(raw)
	if err != nil {
		return Number{}, err
	}
	if err := p.check(n, written); err != nil {
		return Number{}, err
	}
	if !p.allowed(n.digits) {
		return Number{}, notAllowed(n.digits, "not in the allowed prefixes")
	}
	return n, nil
}

// Caller normalises an inbound caller ID for a call-back task. Lenient:
// ok is false, without error, for anonymous, withheld or malformed caller
// IDs, foreign numbers, and numbers that cannot be called back (emergency,
// service numbers). The allow list is not applied: run Outbound on the
// Digits before calling back.
func (p *Policy) Caller(raw string) (Number, bool) {
	n, written, err := p.parse(raw)
	if err != nil {
		return Number{}, false
	}
	if p.check(n, written) != nil {
		return Number{}, false
	}
	return n, true
}

func (p *Policy) allowed(d string) bool {
	for _, a := range p.allow {
		if strings.HasPrefix(d, a) {
			return true
		}
	}
	return false
}

func (p *Policy) denied(d string) string {
	for _, r := range p.deny {
		if strings.HasPrefix(d, r.prefix) && (r.length == 0 || len(d) == r.length) {
			return r.String()
		}
	}
	return ""
}

// check refuses emergency and denied numbers. written is the national
// digits as written (for local numbers: before the home area code).
func (p *Policy) check(n Number, written string) error {
	for _, d := range []string{n.digits, written, n.digits[len(n.area):]} {
		if x := p.denied(d); x != "" {
			return notAllowed(n.digits, "service or premium-rate number (prefix %s)", x)
		}
	}
	return nil
}

// maxRaw bounds the input in characters (runes); longer strings are
// refused before any parsing.
const maxRaw = 40

// parse returns the number and the national digits as written, refusing
// malformed input, foreign numbers and emergency or short service numbers
// (which are not well-formed subscriber numbers but deserve a clear reason).
func (p *Policy) parse(raw string) (Number, string, error) {
	digits, plus, err := scan(raw)
	if err != nil {
		return Number{}, "", err
	}
	if len(digits) > 15 {
		return Number{}, "", invalid("too long: %d digits (at most 15)", len(digits))
	}
	d := digits
	switch {
	case plus:
		if !strings.HasPrefix(d, "86") {
			return Number{}, "", notAllowed(d, "foreign country code (only +86 is called)")
		}
		d = national(d[2:])
	case strings.HasPrefix(d, "00"):
		if !strings.HasPrefix(d, "0086") {
			return Number{}, "", notAllowed(d, "foreign country code (international prefix 00 not followed by 86)")
		}
		d = national(d[4:])
	case len(d) == 13 && strings.HasPrefix(d, "86") && isMobile(d[2:]):
		d = d[2:]
	}
	if d == "" {
		return Number{}, "", invalid("no digits after the country code")
	}
	if isEmergency(d) {
		return Number{}, "", notAllowed(d, "emergency number")
	}
	if x := p.denied(d); x != "" {
		return Number{}, "", notAllowed(d, "service or premium-rate number (prefix %s)", x)
	}
	switch {
	case isMobile(d):
		return Number{digits: d, kind: Mobile}, d, nil
	case d[0] == '0' && isMobile(d[1:]):
		return Number{digits: d[1:], kind: Mobile}, d[1:], nil
	case d[0] == '0':
		if len(d) < 3 {
			return Number{}, "", invalid("too short: %d digits", len(d))
		}
		al := areaLen(d)
		if al == 0 {
			return Number{}, "", invalid("%s is no area code", d[:min(len(d), 4)])
		}
		if len(d) < al {
			return Number{}, "", invalid("too short: incomplete area code")
		}
		sub := d[al:]
		if isEmergency(sub) {
			return Number{}, "", notAllowed(d, "emergency number")
		}
		if err := checkSubscriber(sub); err != nil {
			return Number{}, "", err
		}
		return Number{digits: d, kind: Fixed, area: d[:al]}, d, nil
	case d[0] == '1':
		if len(d) != 11 {
			return Number{}, "", invalid("mobile numbers have 11 digits, got %d", len(d))
		}
		return Number{}, "", invalid("%s is no mobile prefix of the numbering plan", d[:min(len(d), 5)])
	default:
		if err := checkSubscriber(d); err != nil {
			return Number{}, "", err
		}
		return Number{digits: p.home + d, kind: Fixed, area: p.home}, d, nil
	}
}

// national turns the digits after +86 into the national form: mobiles
// stay, fixed lines get their trunk 0 back (+86 739 ... → 0739...); a
// trunk 0 written after +86 is tolerated.
func national(d string) string {
	if d == "" || d[0] == '0' || isMobile(d) || (d[0] == '1' && !(strings.HasPrefix(d, "10") && len(d) == 10)) {
		return d // "+86 110", "+86 10086": short codes, refused as such
	}
	return "0" + d
}

func checkSubscriber(s string) error {
	switch {
	case len(s) < 7:
		return invalid("too short: subscriber number has %d digits (7-8)", len(s))
	case len(s) > 8:
		return invalid("too long: subscriber number has %d digits (7-8)", len(s))
	case s[0] == '0' || s[0] == '1':
		return invalid("subscriber number cannot start with %c", s[0])
	}
	return nil
}

// areaLen returns the length of the area code (with trunk 0) d starts
// with: 3 for 010 and 02X, 4 for other 0[3-9]XX, 0 if d starts with none.
func areaLen(d string) int {
	if len(d) < 3 || d[0] != '0' {
		return 0
	}
	switch d[1] {
	case '1':
		if d[2] == '0' {
			return 3
		}
		return 0
	case '2':
		return 3
	case '0':
		return 0
	}
	return 4
}

func isMobile(d string) bool {
	if len(d) != 11 || !allDigits(d) {
		return false
	}
	for _, p := range mobilePrefixes {
		if strings.HasPrefix(d, p) {
			return true
		}
	}
	return false
}

// mobilePrefixes are the prefixes of 11-digit mobile numbers in China's
// numbering plan (工业和信息化部 电信网编码计划): the carriers' public mobile
// ranges, their virtual-operator (170/171/162/165/167) and satellite
// (1349, 17400-17405) ranges and China Broadnet's 192. Deliberately absent:
// 140-144, 146 and 148 (13-digit IoT numbers), 149 (data-only), and the
// unassigned 154, 160, 161, 163, 164, 168, 169, 179 and 194. The test
// checks this list against libphonenumber's metadata.
var mobilePrefixes = []string{
	"13",         // 130-139 (1349: satellite)
	"145", "147", // data cards that also carry voice
	"150", "151", "152", "153", // no 154
	"155", "156", "157", "158", "159",
	"162", "165", "166", "167",
	"170", "171", "172", "173",
	"17400", "17401", "17402", "17403", "17404", "17405", // satellite
	"175", "176", "177", "178",
	"18",                       // 180-189
	"190", "191", "192", "193", // no 194
	"195", "196", "197", "198", "199",
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// scan extracts the digits of raw after folding (see fold). Allowed
// besides digits: separators anywhere, one leading +, and one pair of
// parentheses around the leading group ("(0739) 555-1234", "(+86) 138...").
// Anything else — letters, other punctuation, control characters, other
// non-ASCII — is refused.
func scan(raw string) (digits string, plus bool, err error) {
	if len(raw) > 4*maxRaw || utf8.RuneCountInString(raw) > maxRaw {
		return "", false, invalid("too long: %d characters (at most %d)", utf8.RuneCountInString(raw), maxRaw)
	}
	var b strings.Builder
	open, closed := false, false
	for i, r := range raw {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(raw[i:]); size <= 1 {
				return "", false, invalid("not UTF-8")
			}
		}
		c, sep := fold(r)
		switch {
		case sep:
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '+':
			if plus || b.Len() > 0 {
				return "", false, invalid("+ is allowed only in front")
			}
			plus = true
		case c == '(':
			if open || b.Len() > 0 || plus {
				return "", false, invalid("( is allowed only once, around the leading group")
			}
			open = true
		case c == ')':
			if !open || closed || b.Len() == 0 || b.Len() > 4 {
				return "", false, invalid(") must close a ( around 1-4 leading digits")
			}
			closed = true
		case r < 0x20 || r == 0x7f:
			return "", false, invalid("control character 0x%02x", r)
		case r >= 0x80:
			return "", false, invalid("non-ASCII character %U", r)
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			return "", false, invalid("letter %q", c)
		default:
			return "", false, invalid("character %q not allowed", c)
		}
	}
	if open && !closed {
		return "", false, invalid("unbalanced (")
	}
	if b.Len() == 0 {
		if strings.Trim(raw, " ") == "" {
			return "", false, invalid("empty")
		}
		return "", false, invalid("no digits")
	}
	if b.Len() < 3 {
		return "", false, invalid("too short: %d digits", b.Len())
	}
	return b.String(), plus, nil
}

// fold maps r to the ASCII character scan judges: full-width digits,
// plus sign and parentheses (U+FF10-FF19, U+FF0B, U+FF08/FF09) become
// their ASCII forms; sep reports a separator to drop: space, no-break and
// ideographic space, ASCII and full-width hyphen-minus, the Unicode
// hyphens and dashes U+2010-2015, minus U+2212, the middle dots U+00B7,
// U+30FB, U+FF65 and the ASCII and full-width full stop. Any other
// non-ASCII rune folds to 0x80 (refused).
func fold(r rune) (c byte, sep bool) {
	switch {
	case r == ' ', r == '-', r == '.', r == '\u00a0', r == '\u3000',
		r >= '\u2010' && r <= '\u2015', r == '\u2212', r == '\uff0d', r == '\uff0e',
		r == '\u00b7', r == '\u30fb', r == '\uff65':
		return 0, true
	case r < 0x80:
		return byte(r), false
	case r >= '\uff10' && r <= '\uff19':
		return byte('0' + r - '\uff10'), false
	case r == '\uff0b':
		return '+', false
	case r == '\uff08':
		return '(', false
	case r == '\uff09':
		return ')', false
	}
	return 0x80, false
}
