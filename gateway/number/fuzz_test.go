package number_test

import (
	"strings"
	"testing"

	"github.com/hotline12345/hotline-gw/gateway/number"
)

// injection are the characters that could make a dial string reach more
// than the citizen's phone; no input holding one is ever accepted.
const injection = "&,/@;$\n\r\x00{}|'\"\\"

func seeds(f *testing.F) {
	for _, s := range []string{
		"13800138000", "+8613800138000", "0086 138 0013 8000", "8613800138000", "138-0013-8000",
		"(0739) 555-1234", "5551234", "+86 739 5551234", "010-62345678", "021 5555 1234",
		"12345", "110", "95588", "4008001234", "+14155550123", "00852 2123 4567",
		"13800138000&Local/x", "1380013800\n0", "13800138000,,r", "${EXTEN}", "(+86) 138 0013 8000",
		"013800138000", "", "anonymous", "１３８００１３８０００", "＋８６－１３８·００１３　８０００",
		"（０７３９）５５５１２３４", "14012345678", "15412345678", "17405123456", "138\xff00138000", "１３８＆",
	} {
		f.Add(s)
	}
}

func FuzzOutbound(f *testing.F) {
	seeds(f)
	p, err := number.NewPolicy(number.Config{})
	if err != nil {
		f.Fatal(err)
	}
	allow := number.DefaultAllowPrefixes()
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := p.Outbound(raw)
		c, ok := p.Caller(raw)
		if err != nil {
			if !n.IsZero() {
				t.Fatalf("refused %q but returned %q", raw, n.Digits())
			}
		} else {
			d := n.Digits()
			if strings.Trim(d, "0123456789") != "" || len(d) < 10 || len(d) > 12 {
				t.Fatalf("Outbound(%q) = %q: not 10-12 digits", raw, d)
			}
			matched := false
			for _, a := range allow {
				matched = matched || strings.HasPrefix(d, a)
			}
			if !matched {
				t.Fatalf("Outbound(%q) = %q: outside the allow list", raw, d)
			}
			if !ok || c.Digits() != d {
				t.Fatalf("Outbound accepts %q as %s but Caller says %q, %v", raw, d, c.Digits(), ok)
			}
			// The canonical form is a fixed point, and so is E.164.
			if again, err := p.Outbound(d); err != nil || again != n {
				t.Fatalf("Outbound(%q) = %s, but Outbound(%s) = %s, %v", raw, d, d, again.Digits(), err)
			}
			if again, err := p.Outbound(n.E164()); err != nil || again != n {
				t.Fatalf("Outbound(%q) = %s, but Outbound(%s) = %s, %v", raw, d, n.E164(), again.Digits(), err)
			}
			if !strings.HasPrefix(n.E164(), "+86") || strings.Trim(n.E164()[1:], "0123456789") != "" {
				t.Fatalf("E164 of %q = %q", raw, n.E164())
			}
		}
		if ok && strings.ContainsAny(raw, injection) {
			t.Fatalf("Caller accepted %q holding an injection character", raw)
		}
		if err == nil && strings.ContainsAny(raw, injection) {
			t.Fatalf("Outbound accepted %q holding an injection character", raw)
		}
		if ok && strings.Trim(c.Digits(), "0123456789") != "" {
			t.Fatalf("Caller(%q) = %q: not only digits", raw, c.Digits())
		}
	})
}

func FuzzDialString(f *testing.F) {
	for _, s := range []string{
		"PJSIP/{number}@citizen", "PJSIP/9{number}@carrier-1", "PJSIP/{number}@citizen&Local/x",
		"PJSIP/{number}@citizen,,r", "{number}", "PJSIP/{number}{number}", "PJSIP/${X}{number}",
		"PJSIP/{number}@a\nb", "Local/{number}@outbound-ctx",
	} {
		f.Add(s, "13800138000")
	}
	f.Add("PJSIP/{number}@citizen", "0739-555 1234")
	p, err := number.NewPolicy(number.Config{AllowPrefixes: []string{"0", "1"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tmpl, raw string) {
		n, _ := p.Outbound(raw)
		s, err := number.DialString(tmpl, n)
		if err != nil {
			if s != "" {
				t.Fatalf("error with output %q", s)
			}
			return
		}
		if n.IsZero() {
			t.Fatalf("dialled the zero Number: %q", s)
		}
		if strings.ContainsAny(s, "&,;$\n\r\x00{}|'\"\\ \t") || strings.Count(s, "/") != 1 || strings.Count(s, n.Digits()) < 1 {
			t.Fatalf("DialString(%q, %q) = %q", tmpl, n.Digits(), s)
		}
		// The template outside the placeholder comes through unchanged.
		i := strings.Index(tmpl, number.Placeholder)
		if s[:i] != tmpl[:i] || s[i+len(n.Digits()):] != tmpl[i+len(number.Placeholder):] || s[i:i+len(n.Digits())] != n.Digits() {
			t.Fatalf("DialString(%q, %q) = %q: not a plain substitution", tmpl, n.Digits(), s)
		}
	})
}

// FuzzOutboundAccepts: every Chinese mobile number (1[3-9] and nine more
// digits) is accepted in the forms people write it, as the same number.
func FuzzOutboundAccepts(f *testing.F) {
	f.Add("38001380000")
	f.Add("99999999999")
	p, err := number.NewPolicy(number.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, raw)
		if len(d) < 10 || d[0] < '3' {
			return
		}
		mobile := "1" + d[:10]
		for _, form := range []string{mobile, "+86" + mobile, "0086 " + mobile[:3] + " " + mobile[3:7] + " " + mobile[7:], "86" + mobile, mobile[:3] + "-" + mobile[3:7] + "-" + mobile[7:]} {
			n, err := p.Outbound(form)
			if err != nil || n.Digits() != mobile {
				t.Fatalf("Outbound(%q) = %q, %v; want the mobile %s", form, n.Digits(), err, mobile)
			}
			s, err := number.DialString("PJSIP/{number}@citizen", n)
			if err != nil || s != "PJSIP/"+mobile+"@citizen" {
				t.Fatalf("DialString for %s = %q, %v", mobile, s, err)
			}
		}
	})
}
