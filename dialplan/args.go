package dialplan

import "net/url"

// DecodeArg returns a Stasis application argument that the dialplan passed
// through URIENCODE (as it must for any value it does not control, such as
// a SIP header: Asterisk splits the arguments on commas after substituting
// variables, so a raw "REF,adopted" would become two arguments). A value
// that is not valid percent-encoding is returned as it is; "+" stays "+".
func DecodeArg(s string) string {
	v, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return v
}
