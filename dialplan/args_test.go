package dialplan

import (
	"net/url"
	"strings"
	"testing"
)

func TestDecodeArg(t *testing.T) {
	for in, want := range map[string]string{
		"JJ-2024-0001":             "JJ-2024-0001",
		"REF%2Cadopted":            "REF,adopted", // URIENCODE(REF,adopted): one argument
		"110%20%E6%A1%88%E4%BB%B6": "110 案件",
		"a+b":                      "a+b",
		"100%":                     "100%", // not percent-encoding: kept
		"%zz":                      "%zz",
		"":                         "",
	} {
		if got := DecodeArg(in); got != want {
			t.Errorf("DecodeArg(%q) = %q, want %q", in, got, want)
		}
	}
}

// What Asterisk's URIENCODE produces (every byte but unreserved ones as
// %XX), DecodeArg turns back into the original, commas included.
func FuzzDecodeArgRoundTrip(f *testing.F) {
	for _, s := range []string{"REF,adopted", "110-2026,0001,adopted", "a b/c?d=e&f", "案件,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := url.PathEscape(s)
		enc = strings.ReplaceAll(enc, ",", "%2C") // URIENCODE escapes sub-delims too
		if strings.Contains(enc, ",") {
			t.Fatalf("encoded %q still has a comma", enc)
		}
		if got := DecodeArg(enc); got != s {
			t.Fatalf("DecodeArg(%q) = %q, want %q", enc, got, s)
		}
	})
}
