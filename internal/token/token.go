// Package token makes the secrets orgql hands out (session, verification, reset and
// invitation tokens): 256 random bits, URL-safe, and stored only as a hash.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// encodedLen is the length of a token: 32 bytes in unpadded base64url.
const encodedLen = 43

// New returns a fresh token and the hash to store for it.
func New() (tok, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; a server that cannot make
		// secrets must not hand out guessable ones.
		panic("token: crypto/rand failed: " + err.Error())
	}
	tok = base64.RawURLEncoding.EncodeToString(b)
	return tok, Hash(tok)
}

// Hash returns the stored form of a token: hex SHA-256. A fast hash is enough for
// 256-bit random secrets, and it lets the database find a token by its hash.
func Hash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Plausible reports whether s has the shape of a token, so that garbage is refused
// without a database lookup.
func Plausible(s string) bool {
	if len(s) != encodedLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
