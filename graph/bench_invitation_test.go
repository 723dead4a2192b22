package graph_test

// BenchmarkInviteAccept measures the invitation round trip a portal user makes:
// an admin invites an address, the email goes through the outbox, the invitee
// (a fresh account each iteration, signed up outside the timer) takes the token
// from the link and accepts.

import (
	"fmt"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/testenv"
)

func BenchmarkInviteAccept(b *testing.B) {
	for _, kind := range testenv.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := testenv.New(b, kind, invLongSessions, testenv.WithConfig(func(c *config.Config) {
				c.InvitationsPerHour = 0
				c.MaxPendingInvitations = 0
			}))
			owner := e.SignUp("Bench Owner")
			org := e.CreateOrg(owner, "Bench Org", "bench-org")
			var invite, mailbox, accept time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				addr := fmt.Sprintf("bench-%d-%d@example.com", i, invSeq())
				u := invSignUpAs(b, e, addr, "Bench Invitee")
				b.StartTimer()

				t0 := time.Now()
				invInviteRes(owner.Client, org.ID, addr, "MEMBER").OK(b, nil)
				t1 := time.Now()
				tok := invToken(b, e, addr)
				t2 := time.Now()
				res := invAcceptTok(u.Client, tok).OK(b, nil)
				t3 := time.Now()
				if res.Str(b, "acceptInvitation.member.role") != "MEMBER" {
					b.Fatalf("accept = %s", res.Raw)
				}
				invite += t1.Sub(t0)
				mailbox += t2.Sub(t1)
				accept += t3.Sub(t2)
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(invite.Microseconds())/n, "invite-µs/op")
			b.ReportMetric(float64(mailbox.Microseconds())/n, "mail-µs/op")
			b.ReportMetric(float64(accept.Microseconds())/n, "accept-µs/op")
		})
	}
}
