package number_test

import (
	"fmt"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/hotline12345/hotline-gw/gateway/number"
)

// TestMobilePrefixesAgreeWithLibphonenumber checks the package's mobile
// ranges against libphonenumber's metadata for China (nyaruka/phonenumbers,
// pinned in go.mod, used only here): every four-digit prefix 1300-1999,
// and every five-digit prefix of the partly assigned 1740 block, is a
// mobile for both or for neither. Several subscriber suffixes per prefix
// catch ranges assigned in part.
func TestMobilePrefixesAgreeWithLibphonenumber(t *testing.T) {
	p := policy(t, number.Config{AllowPrefixes: []string{"0", "1"}})
	check := func(prefix string) {
		for _, suf := range []string{"0000000", "1234567", "5555555", "9999999"} {
			d := (prefix + suf)[:11]
			pn, err := phonenumbers.Parse(d, "CN")
			oracle := err == nil && phonenumbers.GetNumberType(pn) == phonenumbers.MOBILE
			n, ok := p.Caller(d)
			ours := ok && n.Kind() == number.Mobile
			if ours != oracle {
				t.Errorf("%s: mobile here = %v, in libphonenumber = %v", d, ours, oracle)
			}
		}
	}
	for i := 1300; i <= 1999; i++ {
		if i == 1740 {
			continue
		}
		check(fmt.Sprint(i))
	}
	for i := 17400; i <= 17409; i++ {
		check(fmt.Sprint(i))
	}
}
