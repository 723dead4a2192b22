// Package ids generates the opaque, globally unique identifiers of every stored entity.
//
// An ID is a short type prefix, an underscore and a ULID whose 80 random bits come
// from crypto/rand for every ID (no monotonic counter), for example
// "org_01jd3x9v0k7w8q2m5n4p6r8t0a". The prefix lets node(id:) find the table without a
// lookup table; the timestamp half keeps B-tree inserts local on MySQL; the random half
// makes IDs impossible to enumerate. Clients must treat IDs as opaque strings.
package ids

import (
	"crypto/rand"
	"strings"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the entity types. They are part of stored data: never change one.
const (
	User         = "usr"
	Session      = "ses"
	Organization = "org"
	Member       = "mem"
	Invitation   = "inv"
	Event        = "evt"
	UserToken    = "tok"
	EmailMessage = "eml"
	Logo         = "lgo"
)

// MaxLen is the length of the ID columns: a prefix of up to 8 characters, "_" and 26.
const MaxLen = 36

// New returns a fresh ID with the given prefix.
func New(prefix string) string {
	id := ulid.MustNew(ulid.Now(), rand.Reader)
	return prefix + "_" + strings.ToLower(id.String())
}

// Prefix returns the type prefix of id, or "" when id has none.
func Prefix(id string) string {
	p, _, ok := strings.Cut(id, "_")
	if !ok {
		return ""
	}
	return p
}

// Valid reports whether id has the shape of an ID with the given prefix.
func Valid(id, prefix string) bool {
	p, rest, ok := strings.Cut(id, "_")
	if !ok || p != prefix || len(rest) != ulid.EncodedSize {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}
