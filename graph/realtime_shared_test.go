package graph_test

import (
	"testing"

	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// TestRealtimeViewerDependentDocumentIsNotShared: an ADMIN and a MEMBER run the
// same subscription document, which reaches role-guarded and viewer-dependent
// fields only through a fragment and aliases. Renderings are shared between
// subscribers of one document only when it selects nothing that depends on the
// viewer: each must get their own, never the other's.
func TestRealtimeViewerDependentDocumentIsNotShared(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		admin := e.SignUp("Admin")
		mem := e.SignUp("Member")
		joiner := e.SignUp("Joiner")
		o := e.CreateOrg(owner, "Shared", "shared-rt")
		e.AddMember(o, admin, role.Admin)
		e.AddMember(o, mem, role.Member)
		const doc = `subscription($org: ID!) { organizationEvents(organizationId: $org) { type ...F } }
fragment F on OrganizationEvent { inv: invitation { id } who: member { id canRemove: viewerCanRemove } }`
		sa, sm := rtDial(t, e, admin), rtDial(t, e, mem)
		sa.Subscribe("1", doc, map[string]any{"org": o.ID})
		sm.Subscribe("1", doc, map[string]any{"org": o.ID})
		rtWaitSubs(t, e, 2, -1)

		inv := rtInvite(t, owner, o.ID, joiner.Email, role.Member)
		joined := rtDo(t, joiner.Client, rtMAccept, map[string]any{"token": e.Mail.Token(joiner.Email)}).
			Str(t, "acceptInvitation.member.id")

		type event struct {
			OrganizationEvents struct {
				Type string
				Inv  *struct{ ID string }
				Who  *struct {
					ID        string
					CanRemove bool
				}
			}
		}
		joinedFor := func(who string, s *testenv.Socket) event {
			for range 3 { // an admin also sees INVITATION_CREATED and INVITATION_ACCEPTED first
				var ev event
				s.Next("1", &ev, rtWait)
				if ev.OrganizationEvents.Type == "MEMBER_JOINED" {
					return ev
				}
				if who == "member" {
					t.Fatalf("member received %s", ev.OrganizationEvents.Type)
				}
			}
			t.Fatalf("%s: no MEMBER_JOINED", who)
			return event{}
		}
		a, m := joinedFor("admin", sa).OrganizationEvents, joinedFor("member", sm).OrganizationEvents
		if a.Inv == nil || a.Inv.ID != inv || a.Who == nil || a.Who.ID != joined || !a.Who.CanRemove {
			t.Errorf("admin's MEMBER_JOINED: %+v (want the invitation %s, member %s, canRemove)", a, inv, joined)
		}
		if m.Inv != nil || m.Who == nil || m.Who.ID != joined || m.Who.CanRemove {
			t.Errorf("member's MEMBER_JOINED: %+v (want no invitation, member %s, not canRemove)", m, joined)
		}
	}, rtOptions()...)
}
