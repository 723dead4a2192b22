package auth

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/orgql/orgql/ent/session"
	"github.com/orgql/orgql/ent/user"
)

// TestSessionQueryColumns keeps the hand-written session lookup in step with the
// schema: it must read every column of sessions and users, or a new field would be
// silently zero for every authenticated request.
func TestSessionQueryColumns(t *testing.T) {
	var s, u []string
	selectList, _, _ := strings.Cut(sessionQuery, "FROM")
	for _, m := range regexp.MustCompile(`\b([su])\.([a-z_]+)\b`).FindAllStringSubmatch(selectList, -1) {
		if m[1] == "s" {
			s = append(s, m[2])
		} else {
			u = append(u, m[2])
		}
	}
	if !slices.Equal(s, session.Columns) {
		t.Errorf("sessionQuery reads sessions columns %v, the schema has %v", s, session.Columns)
	}
	if !slices.Equal(u, user.Columns) {
		t.Errorf("sessionQuery reads users columns %v, the schema has %v", u, user.Columns)
	}
}
