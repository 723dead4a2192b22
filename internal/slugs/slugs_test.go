package slugs

import (
	"strconv"
	"strings"
	"testing"
)

func TestSlugNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"acme", "acme"},
		{"Acme-Labs", "acme-labs"},
		{"  ACME  ", "acme"},
		{"\tacme\n", "acme"},
		{"", ""},
		{"   ", ""},
		// Normalize only trims and lower-cases; it never repairs a malformed slug.
		{"Acme Labs!", "acme labs!"},
		{"ac--me", "ac--me"},
		{"ACMÉ", "acmé"},
	} {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSlugCheck(t *testing.T) {
	ok := []string{
		"abc",
		"acme",
		"acme-labs",
		"a-b-c",
		"123",
		"a1-b2-c3",
		"acme2",
		"new-york", // a reserved word inside a longer slug is fine
		"admins",
		"api-tools",
		strings.Repeat("a", MaxLen),
		strings.Repeat("a", MaxLen-2) + "-b",
	}
	for _, s := range ok {
		if got := Check(s); got != "" {
			t.Errorf("Check(%q) = %q, want \"\" (valid)", s, got)
		}
	}
	invalid := []string{
		"",
		"a",
		"ab",
		"a-",
		strings.Repeat("a", MaxLen+1),
		strings.Repeat("a", 100),
		"-acme",
		"acme-",
		"-acme-",
		"ac--me",
		"acme_labs",
		"acme.labs",
		"acme labs",
		" acme",
		"acme ",
		"Acme",
		"ACME",
		"acmé",
		"ａｃｍｅ", // full-width letters
		"acme!",
		"acme/labs",
		"---",
		"acme\n",
		"acme\x00",
	}
	for _, s := range invalid {
		if got := Check(s); got != ReasonInvalid {
			t.Errorf("Check(%q) = %q, want %s", s, got, ReasonInvalid)
		}
	}
	for _, s := range []string{"api", "admin", "settings", "new", "graphql", "login", "logos", "www", "null", "undefined", "orgql"} {
		if got := Check(s); got != ReasonReserved {
			t.Errorf("Check(%q) = %q, want %s", s, got, ReasonReserved)
		}
	}
	// Check expects a normalized slug: upper-case reserved words are simply invalid.
	if got := Check("API"); got != ReasonInvalid {
		t.Errorf("Check(%q) = %q, want %s", "API", got, ReasonInvalid)
	}
	// Every reserved word is lower-case and well formed, or it could never be hit.
	for w := range reserved {
		if Normalize(w) != w || !shape.MatchString(w) {
			t.Errorf("reserved word %q is not a normalized, well-formed slug (it can never match)", w)
		}
	}
}

func TestSlugBase(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"acme", "acme"},
		{"Acme Labs!", "acme-labs"},
		{"Acme-Labs", "acme-labs"},
		{"acme_labs", "acme-labs"},
		{"a_b_c", "a-b-c"},
		{"  --Acme--Labs--  ", "acme-labs"},
		{"ac--me", "ac-me"},
		{"acmé", "acme"},
		{"Ünïcode Çafé", "unicode-cafe"},
		{"Straße", "strasse"},
		{"123", "123"},
		{"x y z", "x-y-z"},
		// Nothing usable, or too short.
		{"", ""},
		{"   ", ""},
		{"!!!", ""},
		{"ab", ""},
		{"a b", ""}, // "a-b" is 3 characters: see below
		// Cut to MaxLen without a trailing hyphen.
		{strings.Repeat("a", 60), strings.Repeat("a", MaxLen)},
		{strings.Repeat("a", MaxLen-1) + "-bcd", strings.Repeat("a", MaxLen-1)},
	} {
		got := Base(c.in)
		if c.in == "a b" {
			// "a-b" is a well-formed 3-character slug; either it or "" is acceptable,
			// but whatever comes back must be valid.
			if got != "" && got != "a-b" {
				t.Errorf("Base(%q) = %q, want \"a-b\" or \"\"", c.in, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("Base(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Whatever Base returns is "" or well formed (possibly reserved).
	for _, in := range []string{
		"Acme Labs!", "日本", "Ω", "a-", "-a-b-c-", "__init__", strings.Repeat("ab-", 30),
		strings.Repeat("é", 60), "Acme & Co", "A.B.C.", "API", "New", strings.Repeat("x", 47) + "--y",
	} {
		b := Base(in)
		if b == "" {
			continue
		}
		if r := Check(b); r != "" && r != ReasonReserved {
			t.Errorf("Base(%q) = %q, which Check refuses with %s", in, b, r)
		}
		if len(b) > MaxLen || len(b) < MinLen {
			t.Errorf("Base(%q) = %q has %d characters, want %d to %d", in, b, len(b), MinLen, MaxLen)
		}
	}
}

func TestSlugCandidates(t *testing.T) {
	got := Candidates("acme", 4)
	want := []string{"acme", "acme-2", "acme-3", "acme-4"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Candidates(acme, 4) = %q, want %q", got, want)
	}
	if got := Candidates("acme", 1); len(got) != 1 || got[0] != "acme" {
		t.Fatalf("Candidates(acme, 1) = %q, want [acme]", got)
	}

	bases := []string{
		"abc",
		"acme-labs",
		strings.Repeat("a", MaxLen),                             // full length: suffixes must cut
		strings.Repeat("a", MaxLen-1),                           // room for nothing
		strings.Repeat("a", MaxLen-2) + "-b",                    // a cut lands on the hyphen
		strings.Repeat("a", MaxLen-3) + "-bc",                   // a cut lands on the hyphen for "-2"
		strings.Repeat("a", MaxLen-4) + "-bcd",                  // and for "-10"
		strings.Repeat("ab-", 15) + "abc",                       // many hyphens near the end
		strings.Repeat("a", MaxLen-3) + "-12",                   // already has a numeric suffix
		strings.Repeat("a", 20) + "-" + strings.Repeat("b", 27), // 48
	}
	for _, base := range bases {
		if Check(base) != "" {
			t.Fatalf("test base %q is not valid: %s", base, Check(base))
		}
		cands := Candidates(base, 120)
		if len(cands) != 120 {
			t.Fatalf("Candidates(%q, 120) has %d entries, want 120", base, len(cands))
		}
		if cands[0] != base {
			t.Errorf("Candidates(%q)[0] = %q, want the base itself", base, cands[0])
		}
		seen := map[string]bool{}
		for i, c := range cands {
			if len(c) > MaxLen {
				t.Errorf("Candidates(%q)[%d] = %q has %d characters, more than %d", base, i, c, len(c), MaxLen)
			}
			if r := Check(c); r != "" {
				t.Errorf("Candidates(%q)[%d] = %q is refused by Check: %s", base, i, c, r)
			}
			// A base that already ends in "-N" may come back as its own N-th
			// candidate once cut (harmless: callers skip taken slugs); any other
			// repetition would waste a suggestion.
			if seen[c] && c != base {
				t.Errorf("Candidates(%q) repeats %q", base, c)
			}
			seen[c] = true
			if i > 0 {
				suffix := "-" + strconv.Itoa(i+1)
				if !strings.HasSuffix(c, suffix) {
					t.Errorf("Candidates(%q)[%d] = %q does not end in %q", base, i, c, suffix)
				}
				// The part before the suffix is a prefix of the base.
				if stem := strings.TrimSuffix(c, suffix); !strings.HasPrefix(base, stem) {
					t.Errorf("Candidates(%q)[%d] = %q: %q is not a prefix of the base", base, i, c, stem)
				}
			}
		}
	}
	// A short base is not cut at all.
	for i, c := range Candidates("acme-labs", 12)[1:] {
		if want := "acme-labs-" + strconv.Itoa(i+2); c != want {
			t.Errorf("candidate %d = %q, want %q", i+1, c, want)
		}
	}
	// A full-length base keeps as much of itself as fits.
	full := strings.Repeat("a", MaxLen)
	c := Candidates(full, 10)
	if want := strings.Repeat("a", MaxLen-2) + "-2"; c[1] != want {
		t.Errorf("Candidates(48×a)[1] = %q, want %q", c[1], want)
	}
	if want := strings.Repeat("a", MaxLen-3) + "-10"; c[9] != want {
		t.Errorf("Candidates(48×a)[9] = %q, want %q", c[9], want)
	}
}
