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
