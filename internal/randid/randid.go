// Package randid makes random identifiers: hex of crypto/rand bytes.
package randid

import (
	"crypto/rand"
	"encoding/hex"
)

// Hex returns 2n lowercase hex digits from n random bytes.
func Hex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
