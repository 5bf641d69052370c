// Package ref makes the short references that tie what a person is told ("ref
// 7KQ2M9XA") to the log line that carries the real error.
package ref

import (
	"crypto/rand"
	"encoding/base32"
)

var encoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// New returns a new ref: eight Crockford base32 characters, random.
func New() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return encoding.EncodeToString(b[:])
}
