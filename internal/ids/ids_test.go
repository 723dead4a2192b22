package ids

import (
	"regexp"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
)

var prefixes = []string{User, Session, Organization, Member, Invitation, Event, UserToken, EmailMessage, Logo}

func TestPrefixesDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range prefixes {
		if seen[p] {
			t.Errorf("prefix %q used twice", p)
		}
		seen[p] = true
		if p == "" || len(p) > 8 || strings.Contains(p, "_") || strings.ToLower(p) != p {
			t.Errorf("prefix %q: want 1 to 8 lower-case characters without _", p)
		}
	}
}

var idShape = regexp.MustCompile(`^[a-z]{1,8}_[0-7][0-9a-hjkmnp-tv-z]{25}$`)

func TestNew(t *testing.T) {
	for _, p := range prefixes {
		id := New(p)
		if !strings.HasPrefix(id, p+"_") || !idShape.MatchString(id) {
			t.Errorf("New(%q) = %q: want prefix_ and a lower-case ULID", p, id)
		}
		if len(id) > MaxLen {
			t.Errorf("New(%q) = %q: %d characters, more than MaxLen %d", p, id, len(id), MaxLen)
		}
		if Prefix(id) != p {
			t.Errorf("Prefix(%q) = %q, want %q", id, Prefix(id), p)
		}
		if !Valid(id, p) {
			t.Errorf("Valid(%q, %q) = false", id, p)
		}
	}
	if n := len(New("abcdefgh")); n > MaxLen {
		t.Errorf("an ID with an 8-character prefix has %d characters, more than MaxLen %d", n, MaxLen)
	}
}

func TestPrefix(t *testing.T) {
	cases := map[string]string{
		"org_01jd3x9v0k7w8q2m5n4p6r8t0a": "org",
		"usr_x":                          "usr",
		"a_b_c":                          "a",
		"_abc":                           "",
		"noprefix":                       "",
		"":                               "",
	}
	for id, want := range cases {
		if got := Prefix(id); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestValid(t *testing.T) {
	org := New(Organization)
	rest := strings.TrimPrefix(org, "org_")
	cases := []struct {
		id, prefix string
		want       bool
	}{
		{org, Organization, true},
		{org, User, false},
		{"org_", Organization, false},
		{"org", Organization, false},
		{"", Organization, false},
		{rest, Organization, false},
		{"org-" + rest, Organization, false},
		{"org_" + rest[:25], Organization, false},
		{"org_" + rest + "0", Organization, false},
		{"org_8" + rest[1:], Organization, false},                   // timestamp overflow
		{"org_" + rest[:10] + "u" + rest[11:], Organization, false}, // not Crockford base32
		{"org_" + rest[:10] + "!" + rest[11:], Organization, false},
		{"org_" + rest + "\n", Organization, false},
		{"ORG_" + rest, Organization, false},
		{"org_org_" + rest[8:], Organization, false},
	}
	for _, tc := range cases {
		if got := Valid(tc.id, tc.prefix); got != tc.want {
			t.Errorf("Valid(%q, %q) = %v, want %v", tc.id, tc.prefix, got, tc.want)
		}
	}
}

func TestUniqueAndNotSequential(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	var prev ulid.ULID
	successors := 0
	for i := 0; i < n; i++ {
		id := New(User)
		if seen[id] {
			t.Fatalf("duplicate ID %s after %d", id, i)
		}
		seen[id] = true
		u, err := ulid.ParseStrict(strings.TrimPrefix(id, "usr_"))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		// Within one millisecond a monotonic generator would count up by one; ours
		// draws fresh random bits, so IDs cannot be enumerated from a known one.
		if i > 0 && u.Time() == prev.Time() {
			a, b := prev.Entropy(), u.Entropy()
			if incremented(a, b) {
				successors++
			}
		}
		prev = u
	}
	if successors > 0 {
		t.Fatalf("%d IDs were the previous ID plus one: sequential, not random", successors)
	}
}

// incremented reports whether b is a plus one (80-bit big-endian).
func incremented(a, b []byte) bool {
	c := append([]byte(nil), a...)
	for i := len(c) - 1; i >= 0; i-- {
		c[i]++
		if c[i] != 0 {
			break
		}
	}
	return string(c) == string(b)
}
