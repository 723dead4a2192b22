package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestNew(t *testing.T) {
	tok, hash := New()
	if len(tok) != 43 || !urlSafe.MatchString(tok) {
		t.Fatalf("token %q: want 43 URL-safe characters", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 32 {
		t.Fatalf("token %q decodes to %d bytes (%v), want 32 (256 bits)", tok, len(raw), err)
	}
	if hash != Hash(tok) {
		t.Fatalf("New's hash %q != Hash(token) %q", hash, Hash(tok))
	}
	if strings.Contains(hash, tok) || hash == tok {
		t.Fatalf("the stored hash contains the token")
	}
	if !Plausible(tok) {
		t.Fatalf("a fresh token is not plausible: %q", tok)
	}
}

func TestUnique(t *testing.T) {
	const n = 10000
	toks := make(map[string]bool, n)
	hashes := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		tok, hash := New()
		if toks[tok] || hashes[hash] {
			t.Fatalf("duplicate token after %d", i)
		}
		toks[tok], hashes[hash] = true, true
	}
}

func TestHash(t *testing.T) {
	cases := []string{"", "a", "abc", strings.Repeat("x", 43)}
	for _, tok := range cases {
		sum := sha256.Sum256([]byte(tok))
		want := hex.EncodeToString(sum[:])
		got := Hash(tok)
		if got != want {
			t.Errorf("Hash(%q) = %q, want hex SHA-256 %q", tok, got, want)
		}
		if len(got) != 64 || strings.ToLower(got) != got {
			t.Errorf("Hash(%q) = %q: want 64 lower-case hex digits", tok, got)
		}
		if Hash(tok) != got {
			t.Errorf("Hash(%q) is not deterministic", tok)
		}
	}
	if Hash("abc") == Hash("abd") {
		t.Errorf("different tokens hash alike")
	}
	if got := Hash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Hash(\"abc\") = %s, want the SHA-256 test vector", got)
	}
}

func TestPlausible(t *testing.T) {
	tok, _ := New()
	cases := []struct {
		s    string
		want bool
	}{
		{tok, true},
		{strings.Repeat("A", 43), true},
		{strings.Repeat("-", 43), true},
		{"", false},
		{tok[:42], false},
		{tok + "A", false},
		{tok + "=", false},
		{strings.Repeat("A", 42) + "+", false},
		{strings.Repeat("A", 42) + "/", false},
		{strings.Repeat("A", 42) + "=", false},
		{strings.Repeat("A", 42) + " ", false},
		{strings.Repeat("A", 42) + "é", false},
		{" " + tok[1:], false},
		{hex.EncodeToString(make([]byte, 32)), false}, // a hash is not a token
		{base64.StdEncoding.EncodeToString(make([]byte, 32)), false},
	}
	for _, tc := range cases {
		if got := Plausible(tc.s); got != tc.want {
			t.Errorf("Plausible(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
