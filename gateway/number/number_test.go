package number_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hotline12345/hotline-gw/gateway/number"
)

func policy(t testing.TB, cfg number.Config) *number.Policy {
	t.Helper()
	p, err := number.NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOutboundAcceptsAndNormalises(t *testing.T) {
	def := policy(t, number.Config{})
	all := policy(t, number.Config{AllowPrefixes: []string{"0", "1"}}) // every domestic number
	for _, tc := range []struct {
		name, raw, digits, e164 string
		kind                    number.Kind
		p                       *number.Policy
	}{
		{"plain mobile", "13800138000", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with +86", "+8613800138000", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with +86 and spaces", "+86 138 0013 8000", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with 0086", "008613800138000", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with bare 86", "8613800138000", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with dashes", "138-0013-8000", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with surrounding spaces", "  13800138000 ", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with trunk 0", "013800138000", "13800138000", "+8613800138000", number.Mobile, def},
		{"mobile with (+86)", "(+86) 199 1234 5678", "19912345678", "+8619912345678", number.Mobile, def},
		{"19x mobile", "19912345678", "19912345678", "+8619912345678", number.Mobile, def},
		{"data card with voice 147", "14712345678", "14712345678", "+8614712345678", number.Mobile, def},
		{"virtual operator 170", "17012345678", "17012345678", "+8617012345678", number.Mobile, def},
		{"Broadnet 192", "19212345678", "19212345678", "+8619212345678", number.Mobile, def},
		{"satellite 17405", "17405123456", "17405123456", "+8617405123456", number.Mobile, def},
		{"full-width digits", "１３８００１３８０００", "13800138000", "+8613800138000", number.Mobile, def},
		{"full-width with ideographic spaces", "１３８　００１３　８０００", "13800138000", "+8613800138000", number.Mobile, def},
		{"full-width plus and hyphens", "＋８６－１３８－００１３－８０００", "13800138000", "+8613800138000", number.Mobile, def},
		{"full-width parentheses", "（０７３９）５５５１２３４", "07395551234", "+867395551234", number.Fixed, def},
		{"mixed widths", "138 ００13-8000", "13800138000", "+8613800138000", number.Mobile, def},
		{"middle dots", "138·0013·8000", "13800138000", "+8613800138000", number.Mobile, def},
		{"katakana middle dot", "0739・5551234", "07395551234", "+867395551234", number.Fixed, def},
		{"dots", "138.0013.8000", "13800138000", "+8613800138000", number.Mobile, def},
		{"en and em dashes", "0739–555—1234", "07395551234", "+867395551234", number.Fixed, def},
		{"minus sign", "0739−5551234", "07395551234", "+867395551234", number.Fixed, def},
		{"no-break spaces", "138\u00a00013\u00a08000", "13800138000", "+8613800138000", number.Mobile, def},
		{"full-width E.164 within the 40-character bound", "＋８６ １３８ ００１３ ８０００", "13800138000", "+8613800138000", number.Mobile, def},
		{"Shaoyang fixed with area code", "0739-5551234", "07395551234", "+867395551234", number.Fixed, def},
		{"Shaoyang fixed in parentheses", "(0739) 555 1234", "07395551234", "+867395551234", number.Fixed, def},
		{"Shaoyang fixed without area code, 7 digits", "5551234", "07395551234", "+867395551234", number.Fixed, def},
		{"Shaoyang fixed without area code, 8 digits", "55512345", "073955512345", "+8673955512345", number.Fixed, def},
		{"local number starting 800 is no 800 number", "8001234", "07398001234", "+867398001234", number.Fixed, def},
		{"same with area code", "0739 8001234", "07398001234", "+867398001234", number.Fixed, def},
		{"Shaoyang fixed in E.164", "+86 739 5551234", "07395551234", "+867395551234", number.Fixed, def},
		{"Shaoyang fixed with 0086 and trunk 0", "0086 0739 5551234", "07395551234", "+867395551234", number.Fixed, def},
		{"Changsha fixed (province)", "0731-88881234", "073188881234", "+8673188881234", number.Fixed, def},
		{"Beijing 010 nationwide", "010-62345678", "01062345678", "+861062345678", number.Fixed, all},
		{"Beijing in E.164", "+86 10 6234 5678", "01062345678", "+861062345678", number.Fixed, all},
		{"Shanghai 021 nationwide", "021 5555 1234", "02155551234", "+862155551234", number.Fixed, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.p.Outbound(tc.raw)
			if err != nil {
				t.Fatalf("Outbound(%q): %v", tc.raw, err)
			}
			if n.Digits() != tc.digits || n.E164() != tc.e164 || n.Kind() != tc.kind {
				t.Fatalf("Outbound(%q) = %s %s %v, want %s %s %v", tc.raw, n.Digits(), n.E164(), n.Kind(), tc.digits, tc.e164, tc.kind)
			}
			if tc.kind == number.Fixed && !strings.HasPrefix(n.Digits(), n.AreaCode()) {
				t.Fatalf("area code %s is not the start of %s", n.AreaCode(), n.Digits())
			}
		})
	}
}

func TestOutboundRefusesWithReason(t *testing.T) {
	def := policy(t, number.Config{})
	for _, tc := range []struct {
		name, raw string
		want      error
		reason    string // part of the message
	}{
		{"empty", "", number.ErrInvalidNumber, "empty"},
		{"only spaces", "   ", number.ErrInvalidNumber, "empty"},
		{"letters", "138abc38000", number.ErrInvalidNumber, "letter"},
		{"anonymous", "anonymous", number.ErrInvalidNumber, "letter"},
		{"too long", "1380013800013800", number.ErrInvalidNumber, "too long"},
		{"too long input", strings.Repeat(" ", 50) + "13800138000", number.ErrInvalidNumber, "too long"},
		{"mobile one digit short", "1380013800", number.ErrInvalidNumber, "11 digits"},
		{"mobile one digit long", "138001380001", number.ErrInvalidNumber, "11 digits"},
		{"mobile prefix 14 ok but 10 denied", "10800138000", number.ErrNotAllowed, "service"},
		{"fixed subscriber too short", "0739-555123", number.ErrInvalidNumber, "too short"},
		{"fixed subscriber too long", "0739-555123456", number.ErrInvalidNumber, "too long"},
		{"local subscriber starting 0 digit after area", "0739-0551234", number.ErrInvalidNumber, "cannot start"},
		{"local too short", "555123", number.ErrInvalidNumber, "too short"},
		{"two digits", "13", number.ErrInvalidNumber, "too short"},
		{"hotline itself", "12345", number.ErrNotAllowed, "service"},
		{"police", "110", number.ErrNotAllowed, "emergency"},
		{"fire", "119", number.ErrNotAllowed, "emergency"},
		{"ambulance", "120", number.ErrNotAllowed, "emergency"},
		{"traffic police", "122", number.ErrNotAllowed, "emergency"},
		{"police with area code", "0739-110", number.ErrNotAllowed, "emergency"},
		{"police with +86", "+86 110", number.ErrNotAllowed, "emergency"},
		{"bank service number", "95588", number.ErrNotAllowed, "service"},
		{"local service number", "96333", number.ErrNotAllowed, "service"},
		{"carrier short code", "10086", number.ErrNotAllowed, "service"},
		{"400 number", "4008001234", number.ErrNotAllowed, "service"},
		{"800 number", "800-810-1234", number.ErrNotAllowed, "service"},
		{"local service number with area code", "0739-96123456", number.ErrNotAllowed, "service"},
		{"local service number without area code", "9551234", number.ErrNotAllowed, "service"},
		{"carrier short code in E.164", "+86 10086", number.ErrNotAllowed, "service"},
		{"USA", "+14155550123", number.ErrNotAllowed, "foreign"},
		{"Hong Kong via 00", "00852 2123 4567", number.ErrNotAllowed, "foreign"},
		{"Beijing outside the default allow list", "010-62345678", number.ErrNotAllowed, "allowed prefixes"},
		{"Shanghai outside the default allow list", "02155551234", number.ErrNotAllowed, "allowed prefixes"},
		{"no such area code 01x", "0119 5551234", number.ErrInvalidNumber, "no area code"},
		{"Dial injection with &", "13800138000&Local/x", number.ErrInvalidNumber, "not allowed"},
		{"newline", "1380013800\n0", number.ErrInvalidNumber, "control"},
		{"NUL", "13800138000\x00", number.ErrInvalidNumber, "control"},
		{"comma option injection", "13800138000,,r", number.ErrInvalidNumber, "not allowed"},
		{"slash", "PJSIP/13800138000", number.ErrInvalidNumber, "letter"},
		{"at", "13800138000@evil", number.ErrInvalidNumber, "not allowed"},
		{"semicolon", "13800138000;x", number.ErrInvalidNumber, "not allowed"},
		{"dialplan variable", "${EXTEN}13800138000", number.ErrInvalidNumber, "not allowed"},
		{"parentheses beyond formatting", "138(0013)8000", number.ErrInvalidNumber, "("},
		{"unbalanced parenthesis", "(0739 5551234", number.ErrInvalidNumber, "unbalanced"},
		{"second plus", "+86+13800138000", number.ErrInvalidNumber, "+"},
		{"plus in the middle", "138+00138000", number.ErrInvalidNumber, "+"},
		{"full-width letter", "１３８ａ０１３８０００", number.ErrInvalidNumber, "non-ASCII"},
		{"full-width ampersand", "13800138000＆", number.ErrInvalidNumber, "non-ASCII"},
		{"ideographic comma", "138、0013、8000", number.ErrInvalidNumber, "non-ASCII"},
		{"invalid UTF-8", "138\xff00138000", number.ErrInvalidNumber, "UTF-8"},
		{"too many full-width characters", strings.Repeat("　", 30) + "１３８００１３８０００", number.ErrInvalidNumber, "too long"},
		{"second full-width plus", "＋86＋13800138000", number.ErrInvalidNumber, "+"},
		{"IoT prefix 140", "14012345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"IoT prefix 144", "14412345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"IoT prefix 146", "14612345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"IoT prefix 148", "14812345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"data-only prefix 149", "14912345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"unassigned 154", "15412345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"unassigned 160", "16012345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"unassigned 179", "17912345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"unassigned 194", "19412345678", number.ErrInvalidNumber, "no mobile prefix"},
		{"satellite 1740 beyond 17405", "17406123456", number.ErrInvalidNumber, "no mobile prefix"},
		{"unassigned 154 with +86", "+86 154 1234 5678", number.ErrInvalidNumber, "no mobile prefix"},
		{"unassigned 154 with trunk 0", "015412345678", number.ErrInvalidNumber, "no area code"},
		{"tab", "138\t00138000", number.ErrInvalidNumber, "control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := def.Outbound(tc.raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Outbound(%q) = %q, %v; want %v", tc.raw, n.Digits(), err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Outbound(%q): error %q does not say %q", tc.raw, err, tc.reason)
			}
			if !n.IsZero() {
				t.Fatalf("refused number returned %q", n.Digits())
			}
		})
	}
}

func TestOutboundErrorsAreTyped(t *testing.T) {
	p := policy(t, number.Config{})
	_, err := p.Outbound("13800138000&x")
	var ie *number.InvalidError
	if !errors.As(err, &ie) || ie.Reason == "" {
		t.Fatalf("want *InvalidError, got %T %v", err, err)
	}
	_, err = p.Outbound("95588")
	var ne *number.NotAllowedError
	if !errors.As(err, &ne) || ne.Digits != "95588" {
		t.Fatalf("want *NotAllowedError for 95588, got %T %v", err, err)
	}
	// Refused numbers are masked in messages.
	_, err = p.Outbound("+14155550123")
	if strings.Contains(err.Error(), "4155550123") {
		t.Fatalf("error shows the whole number: %v", err)
	}
}

func TestConfiguredListsReplaceDefaults(t *testing.T) {
	p := policy(t, number.Config{
		HomeAreaCode:  "0731",
		AllowPrefixes: []string{"0731", "139"},
		DenyPrefixes:  []string{"1390000"},
	})
	for _, tc := range []struct {
		raw  string
		want error
		dig  string
	}{
		{"88881234", nil, "073188881234"},         // local → home area 0731
		{"13912345678", nil, "13912345678"},       // allowed mobile prefix
		{"13800138000", number.ErrNotAllowed, ""}, // mobile not in allow list
		{"13900001234", number.ErrNotAllowed, ""}, // configured deny
		{"07395551234", number.ErrNotAllowed, ""}, // Shaoyang not allowed here
		{"95588", nil, ""},                        // default deny replaced: now just malformed
	} {
		n, err := p.Outbound(tc.raw)
		switch {
		case tc.want == nil && tc.dig == "":
			if err == nil {
				t.Errorf("Outbound(%q) accepted %s", tc.raw, n.Digits())
			}
		case tc.want == nil:
			if err != nil || n.Digits() != tc.dig {
				t.Errorf("Outbound(%q) = %s, %v; want %s", tc.raw, n.Digits(), err, tc.dig)
			}
		case !errors.Is(err, tc.want):
			t.Errorf("Outbound(%q) = %v, want %v", tc.raw, err, tc.want)
		}
	}
}

func TestNewPolicyRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]number.Config{
		"home area not an area code": {HomeAreaCode: "739"},
		"home area with letters":     {HomeAreaCode: "07a9"},
		"home area 3 digits for 07":  {HomeAreaCode: "073"},
		"empty allow prefix":         {AllowPrefixes: []string{"1", ""}},
		"allow prefix with +":        {AllowPrefixes: []string{"+86"}},
		"deny prefix with letters":   {DenyPrefixes: []string{"9x"}},
		"deny length shorter":        {DenyPrefixes: []string{"400:2"}},
		"deny length not a number":   {DenyPrefixes: []string{"400:x"}},
		"deny empty prefix":          {DenyPrefixes: []string{":10"}},
		"home area not allowed":      {AllowPrefixes: []string{"1"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := number.NewPolicy(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCallerIsLenient(t *testing.T) {
	p := policy(t, number.Config{})
	for _, tc := range []struct {
		name, raw string
		ok        bool
		digits    string
	}{
		{"mobile", "13800138000", true, "13800138000"},
		{"mobile in E.164", "+8613800138000", true, "13800138000"},
		{"out-of-town mobile with trunk 0", "013800138000", true, "13800138000"},
		{"local fixed without area code", "5551234", true, "07395551234"},
		{"fixed with area code", "07395551234", true, "07395551234"},
		{"Beijing: outside the allow list but a callable caller", "01062345678", true, "01062345678"},
		{"empty", "", false, ""},
		{"anonymous", "anonymous", false, ""},
		{"Anonymous", "Anonymous", false, ""},
		{"withheld", "withheld", false, ""},
		{"unknown", "unknown", false, ""},
		{"asterisk", "*", false, ""},
		{"foreign", "+14155550123", false, ""},
		{"service number", "95588", false, ""},
		{"short", "12", false, ""},
		{"garbage", "sip:x@y", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := p.Caller(tc.raw)
			if ok != tc.ok || n.Digits() != tc.digits {
				t.Fatalf("Caller(%q) = %q, %v; want %q, %v", tc.raw, n.Digits(), ok, tc.digits, tc.ok)
			}
		})
	}
}

func TestNumberIsMaskedInLogs(t *testing.T) {
	p := policy(t, number.Config{})
	n, err := p.Outbound("13800138000")
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Masked(); got != "138****8000" {
		t.Fatalf("Masked = %s", got)
	}
	if got := n.LogValue().String(); got != "138****8000" {
		t.Fatalf("LogValue = %s", got)
	}
}

func TestDialString(t *testing.T) {
	p := policy(t, number.Config{})
	n, err := p.Outbound("+86 138 0013 8000")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tmpl, want string
		ok               bool
	}{
		{"endpoint at a trunk", "PJSIP/{number}@citizen", "PJSIP/13800138000@citizen", true},
		{"prefix digits", "PJSIP/9{number}@carrier-1", "PJSIP/913800138000@carrier-1", true},
		{"no placeholder", "PJSIP/citizen", "", false},
		{"placeholder twice", "PJSIP/{number}@{number}", "", false},
		{"second channel with &", "PJSIP/{number}@citizen&Local/x", "", false},
		{"dial options with ,", "PJSIP/{number}@citizen,,r", "", false},
		{"newline", "PJSIP/{number}@citizen\n", "", false},
		{"variable", "PJSIP/${X}{number}@citizen", "", false},
		{"space", "PJSIP/{number} @citizen", "", false},
		{"no technology", "{number}@citizen", "", false},
		{"second slash", "PJSIP/{number}/x", "", false},
		{"semicolon", "PJSIP/{number}@citizen;x", "", false},
		{"pipe", "PJSIP/{number}@a|b", "", false},
		{"too long", "PJSIP/{number}@" + strings.Repeat("a", 200), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := number.DialString(tc.tmpl, n)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("DialString(%q) = %q, %v", tc.tmpl, got, err)
			}
		})
	}
	if _, err := number.DialString("PJSIP/{number}@citizen", number.Number{}); !errors.Is(err, number.ErrInvalidNumber) {
		t.Fatalf("zero Number dialled: %v", err)
	}
}
