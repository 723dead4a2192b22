package graph_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// TestEventDeliverySQLIndependentOfSubscribers pins the cost of delivering one event:
// what its payload refers to is loaded once for all subscribers, so the statements a
// role change costs (the mutation plus the fan-out) do not grow with their number.
func TestEventDeliverySQLIndependentOfSubscribers(t *testing.T) {
	docs := map[string]string{
		// Rendered once for all subscribers.
		"shared document": `subscription($org: ID!) { organizationEvents(organizationId: $org) {
			type actor { name } user { name } member { role user { name } } } }`,
		// Rendered per subscriber: invitation depends on the viewer's role.
		"per-viewer document": `subscription($org: ID!) { organizationEvents(organizationId: $org) {
			type actor { name } member { role user { name } } invitation { id } } }`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			testenv.Each(t, func(t *testing.T, e *testenv.Env) {
				owner := e.SignUp("Owner")
				o := e.CreateOrg(owner, "Fan", "fan-sql")
				vars := map[string]any{"org": o.ID}
				var subscribers []*testenv.User
				for i := range 6 {
					u := e.SignUp(fmt.Sprint("Sub ", i))
					e.AddMember(o, u, role.Member)
					subscribers = append(subscribers, u)
				}
				var targets []string
				for i := range 2 {
					targets = append(targets, e.AddMember(o, e.SignUp(fmt.Sprint("Target ", i)), role.Member))
				}
				open := 0
				var conns []*wspConn
				measure := func(n int, target string) int {
					for ; open < n; open++ {
						c := wspOpen(t, e, subscribers[open].Token)
						c.subscribe("s", doc, vars)
						conns = append(conns, c)
					}
					wspWaitSubs(t, e, n, -1)
					e.SQL.Reset()
					owner.Do(rtMRole, map[string]any{"in": map[string]any{"memberId": target, "role": "ADMIN"}}).OK(t, nil)
					for _, c := range conns {
						m := c.expect("next", "s")
						if typ := wspEventType(t, m); typ != "MEMBER_ROLE_CHANGED" {
							t.Fatalf("event %s", typ)
						}
					}
					return e.SQL.Count()
				}
				one := measure(1, targets[0])
				log1 := e.SQL.Log()
				six := measure(6, targets[1])
				if six != one {
					t.Fatalf("a role change cost %d statements with 1 subscriber and %d with 6:\n1: %v\n6: %v", one, six, log1, e.SQL.Log())
				}
				t.Logf("%d statements with 1 and with 6 subscribers", one)
			}, testenv.WithConfig(func(c *config.Config) {
				// Only the in-process notice wakes the feed: no poll lands in a measure.
				c.RealtimePollInterval = time.Hour
			}))
		})
	}
}
