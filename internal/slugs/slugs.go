// Package slugs holds the rules for organization slugs: the URL-safe names that
// identify organizations in portal URLs.
package slugs

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/gosimple/slug"
)

// Length limits.
const (
	MinLen = 3
	MaxLen = 48
)

// Reasons a slug cannot be used (also the slugAvailability reasons).
const (
	ReasonInvalid  = "SLUG_INVALID"
	ReasonReserved = "SLUG_RESERVED"
	ReasonTaken    = "SLUG_TAKEN"
)

// shape: lower-case letters and digits in runs separated by single hyphens.
var shape = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// reserved are words a portal needs for its own routes, or that would mislead.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`
		about account accounts admin administrator api app apps assets auth billing blog
		callback cdn community contact create dashboard delete developer developers docs
		edit explore graphiql graphql health healthz help home invitation invitations invite
		login logout logos me new null oauth org orgs organization organizations orgql
		password portal pricing privacy readyz register reset root security settings
		signin signout signup static status support system terms undefined user users
		verify webhooks www`) {
		reserved[w] = true
	}
}

// Normalize trims and lower-cases a slug as typed; slugs are unique regardless of
// letter case.
func Normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Check returns "" when the normalized slug s is well formed and not reserved, or
// the reason it is not.
func Check(s string) string {
	switch {
	case len(s) < MinLen || len(s) > MaxLen || !shape.MatchString(s):
		return ReasonInvalid
	case reserved[s]:
		return ReasonReserved
	}
	return ""
}

// Base turns any text (a name, a malformed slug) into the best well-formed slug it
// can, for suggestions: transliterated, lower-case, hyphenated, cut to MaxLen.
// It may return "" when nothing usable remains.
func Base(text string) string {
	s := slug.Make(text)
	s = strings.Trim(strings.ReplaceAll(s, "_", "-"), "-")
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	if len(s) > MaxLen {
		s = strings.TrimRight(s[:MaxLen], "-")
	}
	if len(s) < MinLen {
		return ""
	}
	return s
}

// Candidates returns slugs to try, in order, as alternatives to base: base itself and
// base-2 ... base-n, each cut so that it fits MaxLen.
func Candidates(base string, n int) []string {
	out := []string{base}
	for i := 2; i <= n; i++ {
		suffix := "-" + strconv.Itoa(i)
		b := base
		if len(b)+len(suffix) > MaxLen {
			b = strings.TrimRight(b[:MaxLen-len(suffix)], "-")
		}
		out = append(out, b+suffix)
	}
	return out
}
