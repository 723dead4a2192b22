// Package validate normalizes and checks user input shared by several operations
// (email addresses, display names), so each rule exists once.
package validate

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/orgql/orgql/internal/apperr"
)

// Email trims and lower-cases an address and checks that it is a plain address
// (no display name) with a domain that has a dot. field names the input field.
func Email(field, raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	bad := apperr.Input(field, apperr.ReasonInvalidEmail, "enter a valid email address, like name@example.com")
	if e == "" || len(e) > 254 {
		return "", bad
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", bad
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || len(local) > 64 || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") ||
		strings.ContainsAny(domain, "[]") { // no IP literals: mail goes to named domains
		return "", bad
	}
	for _, r := range e {
		// Internationalized addresses: letters, digits and the combining marks many
		// scripts need (Devanagari, Thai); no symbols or invisible characters.
		if r > unicode.MaxASCII && !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r) {
			return "", bad
		}
	}
	return e, nil
}

// Name trims a display name and checks that it has 1 to max characters and no
// control characters.
func Name(field, raw string, max int) (string, error) {
	n := strings.TrimSpace(raw)
	if n == "" {
		return "", apperr.Input(field, apperr.ReasonInvalidName, "the name must not be empty")
	}
	if utf8.RuneCountInString(n) > max {
		return "", apperr.Input(field, apperr.ReasonInvalidName, "the name is too long")
	}
	for _, r := range n {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return "", apperr.Input(field, apperr.ReasonInvalidName, "the name contains characters that are not allowed")
		}
	}
	return n, nil
}
