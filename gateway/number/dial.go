package number

import (
	"fmt"
	"strings"
)

// Placeholder is replaced by the number's canonical digits in a dial
// string template.
const Placeholder = "{number}"

// maxTemplate bounds a dial string template.
const maxTemplate = 128

// CheckTemplate validates a dial string template such as
// "PJSIP/{number}@citizen": it must contain Placeholder exactly once and,
// outside it, only ASCII letters, digits and "/@._:+-", with a technology
// ("PJSIP/") in front. No "&" (a second channel to dial), ",", ";", "|",
// "$", braces, quotes, spaces or control characters: nothing that
// Asterisk's Dial or the dialplan would read as more than one endpoint.
// Call it when loading the configuration.
func CheckTemplate(template string) error {
	if len(template) > maxTemplate {
		return fmt.Errorf("dial template: %d bytes, at most %d", len(template), maxTemplate)
	}
	if n := strings.Count(template, Placeholder); n != 1 {
		return fmt.Errorf("dial template: %s must appear exactly once, found %d times", Placeholder, n)
	}
	rest := strings.Replace(template, Placeholder, "", 1)
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("/@._:+-", c) >= 0
		if !ok {
			return fmt.Errorf("dial template: character %q not allowed (only letters, digits and /@._:+-)", c)
		}
	}
	slash := strings.IndexByte(template, '/')
	if slash <= 0 || slash > strings.Index(template, Placeholder) {
		return fmt.Errorf("dial template: must start with a technology before %s, e.g. PJSIP/%s@citizen", Placeholder, Placeholder)
	}
	if strings.Count(template, "/") != 1 {
		return fmt.Errorf("dial template: exactly one / (after the technology) allowed")
	}
	return nil
}

// DialString builds the endpoint to dial n through template, e.g.
// DialString("PJSIP/{number}@citizen", n) = "PJSIP/13800138000@citizen".
// The template is checked (CheckTemplate) and n's digits are checked again
// (only a Number from a Policy has any); only the digits are substituted.
func DialString(template string, n Number) (string, error) {
	if err := CheckTemplate(template); err != nil {
		return "", err
	}
	d := n.digits
	if len(d) < 3 || len(d) > 15 || !allDigits(d) {
		return "", &InvalidError{Reason: "not a validated number (use Policy.Outbound)"}
	}
	return strings.Replace(template, Placeholder, d, 1), nil
}
