package line

import (
	"errors"
	"strings"
	"testing"
)

func testPlan() *Plan {
	return New([]Config{
		{Number: "12345", Name: "12345", Skill: "general"},
		{Number: "12333", Name: "人社", Skill: "renshe", MergedInto: "12345"},
		{Number: "12315", Name: "市场监管", Skill: "shichang", MergedInto: "12345"},
		{Number: "12348", Name: "法律服务", Skill: "falv", MergedInto: "12345"},
	}, Numbering{StripPrefixes: []string{"+86", "0086", "86", "0739"}})
}

func TestLookupForms(t *testing.T) {
	p := testPlan()
	tests := []struct {
		in, want string
	}{
		{"12345", "12345"},
		{"12333", "12333"},
		{"+8612315", "12315"},
		{"008612348", "12348"},
		{"073912345", "12345"},
		{"+86073912333", "12333"},
		{"sip:12345@10.0.0.1:5060;user=phone", "12345"},
		{"<sip:+8612348@trunk.example>", "12348"},
		{"tel:+86-0739-12315", "12315"},
		{" 12345 ", "12345"},
		{"8612345", "12345"},
	}
	for _, tt := range tests {
		l, err := p.Lookup(tt.in)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tt.in, err)
			continue
		}
		if l.Number != tt.want {
			t.Errorf("Lookup(%q) = %s, want %s", tt.in, l.Number, tt.want)
		}
	}
}

func TestMergedLinesKeepOriginAndSkill(t *testing.T) {
	p := testPlan()
	l, err := p.Lookup("12333")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Merged() || l.Main != "12345" || l.Skill != "renshe" {
		t.Fatalf("12333 = %+v, want merged into 12345 with skill renshe", l)
	}
	m, _ := p.Lookup("12345")
	if m.Merged() || m.Main != "12345" {
		t.Fatalf("12345 = %+v, want a main line", m)
	}
	if p.Main().Number != "12345" {
		t.Fatalf("Main() = %s", p.Main().Number)
	}
}

func TestLookupRejects(t *testing.T) {
	p := testPlan()
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrMalformed},
		{"sip:@host", ErrMalformed},
		{"12345&Local/x", ErrMalformed},
		{"1234a", ErrMalformed},
		{"+", ErrMalformed},
		{"110", ErrUnknownNumber},
		{"13800138000", ErrUnknownNumber},
		{"0739", ErrUnknownNumber},
	}
	for _, tt := range tests {
		_, err := p.Lookup(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("Lookup(%q) error = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"12345", "+86073912345", "sip:12333@h;user=phone", "tel:+86-739", "<>", "sip:", "\x00"} {
		f.Add(s)
	}
	p := testPlan()
	f.Fuzz(func(t *testing.T, s string) {
		n, err := p.Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Normalize(%q) error %v does not wrap ErrMalformed", s, err)
			}
			return
		}
		if n == "" {
			t.Fatalf("Normalize(%q) returned empty without error", s)
		}
		for _, r := range n {
			if r < '0' || r > '9' {
				t.Fatalf("Normalize(%q) = %q has a non-digit", s, n)
			}
		}
	})
}

// FuzzNormalizeAccepts: the forms a trunk delivers are accepted, whatever
// the digits: a line's number as is, with +86 or the area code, as a SIP or
// tel URI, all normalise to the line's number.
func FuzzNormalizeAccepts(f *testing.F) {
	for _, s := range []string{"12345", "12333", "13800138000", "1", "5551234"} {
		f.Add(s)
	}
	p := testPlan()
	f.Fuzz(func(t *testing.T, s string) {
		// Digits from the input, not starting with a strip prefix's digits.
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
		d = strings.TrimLeft(d, "08")
		if d == "" || len(d) > 20 || strings.HasPrefix(d, "739") {
			return
		}
		for _, form := range []string{d, "+86" + d, "0739" + d, "0086" + d, "sip:" + d + "@trunk;user=phone", "<sip:+86" + d + "@10.0.0.1:5060>", "tel:+86-" + d} {
			n, err := p.Normalize(form)
			if err != nil || n != d {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", form, n, err, d)
			}
		}
	})
}

// Update renames lines and changes prefixes live; a change of the set of
// lines, a skill or a merge is refused and nothing changes.
func TestUpdateRenamesButKeepsStructure(t *testing.T) {
	p := testPlan()
	base := []Config{
		{Number: "12345", Name: "12345", Skill: "general"},
		{Number: "12333", Name: "人社", Skill: "renshe", MergedInto: "12345"},
		{Number: "12315", Name: "市场监管", Skill: "shichang", MergedInto: "12345"},
		{Number: "12348", Name: "法律服务", Skill: "falv", MergedInto: "12345"},
	}
	with := func(f func(c []Config) []Config) []Config {
		c := append([]Config(nil), base...)
		return f(c)
	}
	refused := map[string][]Config{
		"skill":   with(func(c []Config) []Config { c[1].Skill = "general"; return c }),
		"merge":   with(func(c []Config) []Config { c[2].MergedInto = ""; return c }),
		"removed": with(func(c []Config) []Config { return c[:3] }),
		"added":   with(func(c []Config) []Config { return append(c, Config{Number: "12319", Name: "x", Skill: "x"}) }),
		"renumbered": with(func(c []Config) []Config {
			c[3].Number = "12319"
			return c
		}),
	}
	for name, lines := range refused {
		if err := p.Update(lines, Numbering{}); err == nil || !strings.Contains(err.Error(), "lines") {
			t.Errorf("%s: Update = %v, want an error naming lines", name, err)
		}
	}
	if l, _ := p.Lookup("073912333"); l.Name != "人社" {
		t.Fatalf("after refused updates: %+v", l)
	}
	renamed := with(func(c []Config) []Config { c[1].Name = "人力资源和社会保障"; c[0].Record = true; return c })
	if err := p.Update(renamed, Numbering{StripPrefixes: []string{"0731"}}); err != nil {
		t.Fatal(err)
	}
	if l, _ := p.Get("12333"); l.Name != "人力资源和社会保障" {
		t.Errorf("renamed line: %+v", l)
	}
	if !p.Main().Record {
		t.Error("record switch not applied")
	}
	if l, err := p.Lookup("073112333"); err != nil || l.Number != "12333" {
		t.Errorf("new prefix 0731: %+v, %v", l, err)
	}
	if _, err := p.Lookup("073912333"); !errors.Is(err, ErrUnknownNumber) {
		t.Errorf("old prefix 0739 still stripped: %v", err)
	}
}
