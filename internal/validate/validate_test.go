package validate

import (
	"strings"
	"testing"

	"github.com/orgql/orgql/internal/apperr"
)

func TestEmail(t *testing.T) {
	good := []struct{ in, want string }{
		{"ada@example.com", "ada@example.com"},
		{"Ada@Example.COM", "ada@example.com"},
		{"  ada@example.com\t\n", "ada@example.com"},
		{"ada.lovelace+orgql@mail.example.co.uk", "ada.lovelace+orgql@mail.example.co.uk"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"a_b-c@sub-domain.example.com", "a_b-c@sub-domain.example.com"},
		{"1234567890@example.com", "1234567890@example.com"},
		{"x@x.io", "x@x.io"},
		// Internationalized addresses (RFC 6531/6532).
		{"josé@example.com", "josé@example.com"},
		{"JOSÉ@EXAMPLE.COM", "josé@example.com"},
		{"ÅSA@Exempel.SE", "åsa@exempel.se"},
		{"用户@例子.广告", "用户@例子.广告"},
		{"пользователь@пример.рф", "пользователь@пример.рф"},
		{"ПОЛЬЗОВАТЕЛЬ@ПРИМЕР.РФ", "пользователь@пример.рф"},
		{"δοκιμή@παράδειγμα.δοκιμή", "δοκιμή@παράδειγμα.δοκιμή"},
		// Scripts whose letters combine with vowel signs (Unicode category M).
		{"दीपक@example.com", "दीपक@example.com"},
		{"สุดา@example.com", "สุดา@example.com"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
	}
	for _, tc := range good {
		got, err := Email("input.email", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Email(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}

	bad := []string{
		"",
		"   ",
		"plainaddress",
		"@example.com",
		"ada@",
		"ada@localhost",
		"ada@.example.com",
		"ada@example.com.",
		"ada@example..com",
		"ada@@example.com",
		"ada@bob@example.com",
		"ada lovelace@example.com",
		"Ada <ada@example.com>",
		"<ada@example.com>",
		"ada@example.com, bob@example.com",
		"ada@example.com (Ada)",
		"\"ada\"@example.com",
		"ada@[127.0.0.1]", // an IP literal is no domain with a dot
		"ada\x00@example.com",
		"ada\n@example.com",
		"ada\u200b@example.com", // zero-width space
		"ada\u202e@example.com", // right-to-left override
		"😀@example.com",
		"ada@exa mple.com",
		strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 250) + ".com",
		"ada@example.com\xff",
	}
	for _, in := range bad {
		got, err := Email("input.email", in)
		if err == nil {
			t.Errorf("Email(%q) = %q, want an error", in, got)
			continue
		}
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.BadUserInput || ae.Reason != apperr.ReasonInvalidEmail || ae.Field != "input.email" {
			t.Errorf("Email(%q) error = %#v, want BAD_USER_INPUT/INVALID_EMAIL on input.email", in, err)
		}
	}
}

func TestEmailIdempotent(t *testing.T) {
	for _, in := range []string{"Ada@Example.COM", " josé@example.com ", "用户@例子.广告"} {
		once, err := Email("f", in)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := Email("f", once)
		if err != nil || twice != once {
			t.Errorf("Email(Email(%q)) = %q, %v; want %q", in, twice, err, once)
		}
	}
}

func TestName(t *testing.T) {
	good := []struct {
		in, want string
		max      int
	}{
		{"Ada", "Ada", 100},
		{"  Ada Lovelace  ", "Ada Lovelace", 100},
		{"Jean-Luc O'Neil", "Jean-Luc O'Neil", 100},
		{"José Ñúñez", "José Ñúñez", 100},
		{"李小龍", "李小龍", 3},
		{"Acme 🚀", "Acme 🚀", 100},
		{strings.Repeat("日", 100), strings.Repeat("日", 100), 100},
		{strings.Repeat("a", 100), strings.Repeat("a", 100), 100},
		{"a", "a", 1},
	}
	for _, tc := range good {
		got, err := Name("input.name", tc.in, tc.max)
		if err != nil || got != tc.want {
			t.Errorf("Name(%q, %d) = %q, %v; want %q", tc.in, tc.max, got, err, tc.want)
		}
	}

	bad := []struct {
		in  string
		max int
	}{
		{"", 100},
		{"   \t\n ", 100},
		{strings.Repeat("a", 101), 100},
		{strings.Repeat("日", 101), 100},
		{"李小龍", 2},
		{"Ada\x00", 100},
		{"Ada\nLovelace", 100},
		{"Ada\tLovelace", 100},
		{"Ada\x1b[31m", 100},
		{"Ada\u0085Lovelace", 100}, // NEL, a C1 control (at the ends it is trimmed as space)
		{"Ada\x7f", 100},
		{"Ada\xff", 100},
	}
	for _, tc := range bad {
		got, err := Name("input.name", tc.in, tc.max)
		if err == nil {
			t.Errorf("Name(%q, %d) = %q, want an error", tc.in, tc.max, got)
			continue
		}
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.BadUserInput || ae.Reason != apperr.ReasonInvalidName || ae.Field != "input.name" {
			t.Errorf("Name(%q) error = %#v, want BAD_USER_INPUT/INVALID_NAME on input.name", tc.in, err)
		}
	}
}
