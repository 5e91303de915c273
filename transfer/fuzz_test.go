package transfer

import (
	"strings"
	"testing"
)

// FuzzValidateDialString checks the validator's guarantee: whatever it
// accepts is "Tech/resource" with exactly one "/", at most one "@" (only
// when allowed), and none of the characters that change Dial's meaning.
func FuzzValidateDialString(f *testing.F) {
	for _, s := range []string{
		"PJSIP/police110", "PJSIP/110@police", "PJSIP/a&PJSIP/b", "PJSIP/a,tT", "SIP/a/b",
		"Local/110@ctx/n", "PJSIP/${X}", "PJSIP/a\nb", "PJSIP/a)b", "PJSIP/\x00", "DAHDI/g1/110",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, allowAt bool) {
		if ValidateDialString(s, allowAt) != nil {
			return
		}
		if strings.Count(s, "/") != 1 {
			t.Fatalf("accepted %q with %d slashes", s, strings.Count(s, "/"))
		}
		if n := strings.Count(s, "@"); n > 1 || (n == 1 && !allowAt) {
			t.Fatalf("accepted %q (allowAt %v)", s, allowAt)
		}
		if strings.ContainsAny(s, "&,()${}:;'\"\\ \t\r\n|<>!?#%*[]=") {
			t.Fatalf("accepted %q with a forbidden character", s)
		}
		for _, r := range s {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("accepted %q with non-printable or non-ASCII %U", s, r)
			}
		}
		tech, res, _ := strings.Cut(s, "/")
		if tech == "" || res == "" || len(s) > 128 {
			t.Fatalf("accepted %q", s)
		}
		if strings.HasPrefix(res, "@") || strings.HasSuffix(res, "@") {
			t.Fatalf("accepted %q with an empty side of @", s)
		}
	})
}

// FuzzValidateDialStringAccepts: a well-formed dial string is accepted
// whatever its names: Tech/name from letters and digits (and "-_.+" in the
// resource), and name@endpoint where "@" is allowed.
func FuzzValidateDialStringAccepts(f *testing.F) {
	f.Add("PJSIP", "police110", "trunk-1")
	f.Add("Local", "110", "from-110")
	f.Fuzz(func(t *testing.T, tech, name, host string) {
		keep := func(s, extra string, max int) string {
			s = strings.Map(func(r rune) rune {
				if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || strings.ContainsRune(extra, r) {
					return r
				}
				return -1
			}, s)
			if len(s) > max {
				s = s[:max]
			}
			return s
		}
		tech = strings.TrimLeft(keep(tech, "", 16), "0123456789")
		name, host = keep(name, "-_.+", 50), keep(host, "-_.+", 50)
		if tech == "" || name == "" {
			return
		}
		if err := ValidateDialString(tech+"/"+name, false); err != nil {
			t.Fatalf("refused the well-formed %q: %v", tech+"/"+name, err)
		}
		if host == "" {
			return
		}
		s := tech + "/" + name + "@" + host
		if err := ValidateDialString(s, true); err != nil {
			t.Fatalf("refused the well-formed %q with @ allowed: %v", s, err)
		}
		if ValidateDialString(s, false) == nil {
			t.Fatalf("accepted %q with @ not allowed", s)
		}
	})
}
