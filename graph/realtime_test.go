package graph_test

// Realtime (issue 5, items 2-5 and 7): organizationEvents and viewerEvents driven by
// a Go client speaking graphql-transport-ws to the real handler. Every event type
// with its fields, commit order, per-subscriber authorization (invitation events for
// OWNER/ADMIN only, nothing of other organizations), resume with `after` without gap
// or duplicate (also while events commit during the switch-over), the end of a
// stream on removal, departure and deletion, and the error that ends a subscriber
// that fell too far behind.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/realtime"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// ---------------------------------------------------------------------------
// Operations

const (
	rtOrgEvents = `subscription($org: ID!, $after: String) {
		organizationEvents(organizationId: $org, after: $after) {
			id cursor type createdAt organizationId
			actor { id }
			memberId member { id role user { id } }
			user { id }
			invitationId invitation { id email role status }
			oldRole newRole data
		} }`

	rtViewerEvents = `subscription { viewerEvents {
		type createdAt organizationId
		organization { id name }
		member { id role user { id } }
		invitation { id email role status }
	} }`

	rtMRename   = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { organization { id } } }`
	rtMInvite   = `mutation($in: InviteMemberInput!) { inviteMember(input: $in) { invitation { id } } }`
	rtMResend   = `mutation($in: ResendInvitationInput!) { resendInvitation(input: $in) { invitation { id } } }`
	rtMAccept   = `mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) { member { id } } }`
	rtMReject   = `mutation($in: RejectInvitationInput!) { rejectInvitation(input: $in) { invitationId } }`
	rtMCancel   = `mutation($in: CancelInvitationInput!) { cancelInvitation(input: $in) { invitation { id } } }`
	rtMRole     = `mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id } } }`
	rtMRemove   = `mutation($in: RemoveMemberInput!) { removeMember(input: $in) { removedMemberId } }`
	rtMLeave    = `mutation($in: LeaveOrganizationInput!) { leaveOrganization(input: $in) { removedMemberId } }`
	rtMTransfer = `mutation($in: TransferOwnershipInput!) { transferOwnership(input: $in) { newOwner { id } } }`
	rtMDelete   = `mutation($in: DeleteOrganizationInput!) { deleteOrganization(input: $in) { deletedOrganizationId } }`
	rtMSignIn   = `mutation($in: SignInInput!) { signIn(input: $in) { token } }`
	rtMSignOut  = `mutation($in: SignOutInput) { signOut(input: $in) { revokedSessions } }`
	rtMVerify   = `mutation($t: String!) { verifyEmail(input: {token: $t}) { user { emailVerified } } }`
)

// rtEvent is an OrganizationEvent as rtOrgEvents selects it.
type rtEvent struct {
	ID             string
	Cursor         string
	Type           string
	CreatedAt      time.Time
	OrganizationID string
	Actor          *struct{ ID string }
	MemberID       *string
	Member         *struct {
		ID, Role string
		User     struct{ ID string }
	}
	User         *struct{ ID string }
	InvitationID *string
	Invitation   *struct{ ID, Email, Role, Status string }
	OldRole      *string
	NewRole      *string
	Data         *string
}

// rtViewerEvent is a ViewerEvent as rtViewerEvents selects it.
type rtViewerEvent struct {
	Type           string
	CreatedAt      time.Time
	OrganizationID string
	Organization   *struct{ ID, Name string }
	Member         *struct {
		ID, Role string
		User     struct{ ID string }
	}
	Invitation *struct{ ID, Email, Role, Status string }
}

// rtOptions: no resend cooldown and no invitation rate limit, so tests can resend
// at once and invite freely.
func rtOptions(extra ...testenv.Option) []testenv.Option {
	return append([]testenv.Option{testenv.WithConfig(func(c *config.Config) {
		c.InvitationResendCooldown = 0
		c.InvitationsPerHour = 0
	})}, extra...)
}

// rtWait is how long an expected message may take.
const rtWait = 5 * time.Second

// ---------------------------------------------------------------------------
// Client side

// rtDial opens a websocket to e authenticated as u.
func rtDial(t testing.TB, e *testenv.Env, u *testenv.User) *testenv.Socket {
	t.Helper()
	s := e.Dial(nil)
	s.Init(testenv.Bearer(u.Token))
	return s
}

// rtSubscribeOrg starts organizationEvents as operation id on s; after "" means none.
func rtSubscribeOrg(s *testenv.Socket, id, orgID, after string) {
	vars := map[string]any{"org": orgID}
	if after != "" {
		vars["after"] = after
	}
	s.Subscribe(id, rtOrgEvents, vars)
}

// rtOrgStream dials as u, subscribes to orgID's events as operation "1" and waits
// until e's feeds count the subscriber (wantSubs organizationEvents subscribers in
// all), so that no later commit is missed.
func rtOrgStream(t testing.TB, e *testenv.Env, u *testenv.User, orgID string, wantSubs int) *testenv.Socket {
	t.Helper()
	s := rtDial(t, e, u)
	rtSubscribeOrg(s, "1", orgID, "")
	rtWaitSubs(t, e, wantSubs, -1)
	return s
}

// rtViewerStream dials as u, subscribes to viewerEvents as operation "v" and waits
// for wantSubs viewerEvents subscribers on e.
func rtViewerStream(t testing.TB, e *testenv.Env, u *testenv.User, wantSubs int) *testenv.Socket {
	t.Helper()
	s := rtDial(t, e, u)
	s.Subscribe("v", rtViewerEvents, nil)
	rtWaitSubs(t, e, -1, wantSubs)
	return s
}

// rtWaitSubs waits until e has exactly orgSubs organizationEvents and viewerSubs
// viewerEvents subscribers (-1: any number).
func rtWaitSubs(t testing.TB, e *testenv.Env, orgSubs, viewerSubs int) {
	t.Helper()
	deadline := time.Now().Add(rtWait)
	for {
		_, o, v := e.App.Feeds.Stats()
		if (orgSubs < 0 || o == orgSubs) && (viewerSubs < 0 || v == viewerSubs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d organization and %d viewer subscribers, have %d and %d", orgSubs, viewerSubs, o, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rtRead returns the next message other than ping and pong.
func rtRead(t testing.TB, s *testenv.Socket, timeout time.Duration) testenv.Message {
	t.Helper()
	for {
		m := s.Read(timeout)
		switch m.Type {
		case "ping":
			s.Send(testenv.Message{Type: "pong"})
		case "pong":
		default:
			return m
		}
	}
}

// rtPayload is the payload of a next message.
type rtPayload struct {
	Data   json.RawMessage `json:"data"`
	Errors []testenv.Error `json:"errors"`
}

// rtDecodeEvent decodes a next message of organizationEvents.
func rtDecodeEvent(t testing.TB, m testenv.Message) rtEvent {
	t.Helper()
	if m.Type != "next" {
		t.Fatalf("want next for %s, got %s: %s", m.ID, m.Type, m.Payload)
	}
	var p rtPayload
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Errors) > 0 {
		t.Fatalf("next for %s has errors: %s", m.ID, m.Payload)
	}
	var v struct{ OrganizationEvents *rtEvent }
	if err := json.Unmarshal(p.Data, &v); err != nil || v.OrganizationEvents == nil {
		t.Fatalf("next for %s without an event (%v): %s", m.ID, err, m.Payload)
	}
	return *v.OrganizationEvents
}

// rtNext reads the next organization event of operation id.
func rtNext(t testing.TB, s *testenv.Socket, id string) rtEvent {
	t.Helper()
	m := rtRead(t, s, rtWait)
	if m.ID != id {
		t.Fatalf("want a message of %s, got %s %s: %s", id, m.ID, m.Type, m.Payload)
	}
	return rtDecodeEvent(t, m)
}

// rtNextViewer reads the next viewer event of operation "v".
func rtNextViewer(t testing.TB, s *testenv.Socket) rtViewerEvent {
	t.Helper()
	var v struct{ ViewerEvents rtViewerEvent }
	s.Next("v", &v, rtWait)
	return v.ViewerEvents
}

// rtExpectComplete reads the next message and requires it to complete id.
func rtExpectComplete(t testing.TB, s *testenv.Socket, id string) {
	t.Helper()
	m := rtRead(t, s, rtWait)
	if m.ID != id || m.Type != "complete" {
		t.Fatalf("want complete for %s, got %s %s: %s", id, m.ID, m.Type, m.Payload)
	}
}

// rtExpectQuiet requires that nothing arrives on s for a moment: only the read
// timing out passes; a message other than ping/pong, the server closing the
// connection or an unreadable message fails. It spends the socket (a read deadline
// breaks a gorilla connection): call it last.
func rtExpectQuiet(t testing.TB, s *testenv.Socket, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return // pings and pongs only, for the whole time
		}
		m, err := s.ReadErr(left)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			t.Fatalf("want no message for %s, got a read error (not a timeout): %v", d, err)
		}
		if m.Type == "ping" || m.Type == "pong" {
			continue
		}
		t.Fatalf("want no message, got %s %s: %s", m.ID, m.Type, m.Payload)
	}
}

// rtOpError is how an operation ended with errors: an error message, or (as the
// reference graphql-ws server does for a failed subscription) a next message with
// errors and no data followed by complete. Either way no data is streamed.
func rtOpError(t testing.TB, s *testenv.Socket, id string) []testenv.Error {
	t.Helper()
	m := rtRead(t, s, rtWait)
	if m.ID != id {
		t.Fatalf("want a message of %s, got %s %s: %s", id, m.ID, m.Type, m.Payload)
	}
	switch m.Type {
	case "error":
		var errs []testenv.Error
		if err := json.Unmarshal(m.Payload, &errs); err != nil {
			t.Fatalf("error payload %s: %v", m.Payload, err)
		}
		return errs
	case "next":
		var p rtPayload
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Errors) == 0 || (len(p.Data) > 0 && string(p.Data) != "null") {
			t.Fatalf("want the operation refused, got data: %s", m.Payload)
		}
		rtExpectComplete(t, s, id)
		return p.Errors
	}
	t.Fatalf("want an error for %s, got %s: %s", id, m.Type, m.Payload)
	return nil
}

// rtExpectRefused requires operation id to end with code (and reason if not empty).
func rtExpectRefused(t testing.TB, s *testenv.Socket, id, code, reason string) testenv.Error {
	t.Helper()
	errs := rtOpError(t, s, id)
	if len(errs) == 0 || errs[0].Code() != code || (reason != "" && errs[0].Reason() != reason) {
		t.Fatalf("want %s/%s for %s, got %+v", code, reason, id, errs)
	}
	return errs[0]
}

// rtSeq decodes an event cursor.
func rtSeq(t testing.TB, cursor string) int64 {
	t.Helper()
	seq, err := realtime.ParseCursor("cursor", cursor)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	return seq
}

// ---------------------------------------------------------------------------
// Mutations

func rtDo(t testing.TB, c *testenv.Client, query string, in map[string]any) *testenv.Response {
	t.Helper()
	return c.Do(query, map[string]any{"in": in}).OK(t, nil)
}

func rtRename(t testing.TB, u *testenv.User, orgID, name string) {
	t.Helper()
	rtDo(t, u.Client, rtMRename, map[string]any{"organizationId": orgID, "name": name})
}

func rtInvite(t testing.TB, u *testenv.User, orgID, email string, r role.Role) string {
	t.Helper()
	return rtDo(t, u.Client, rtMInvite, map[string]any{"organizationId": orgID, "email": email, "role": string(r)}).
		Str(t, "inviteMember.invitation.id")
}

func rtSetRole(t testing.TB, u *testenv.User, memberID string, r role.Role) {
	t.Helper()
	rtDo(t, u.Client, rtMRole, map[string]any{"memberId": memberID, "role": string(r)})
}

func rtRemove(t testing.TB, u *testenv.User, memberID string) {
	t.Helper()
	rtDo(t, u.Client, rtMRemove, map[string]any{"memberId": memberID})
}

func rtLeave(t testing.TB, u *testenv.User, orgID string) {
	t.Helper()
	rtDo(t, u.Client, rtMLeave, map[string]any{"organizationId": orgID})
}

func rtDelete(t testing.TB, u *testenv.User, o *testenv.Org) {
	t.Helper()
	rtDo(t, u.Client, rtMDelete, map[string]any{"organizationId": o.ID, "confirmSlug": o.Slug})
}

// rtVerify verifies u's address through the verification email (the newest one to
// it: call it before inviting the address).
func rtVerify(t testing.TB, e *testenv.Env, u *testenv.User) {
	t.Helper()
	res := e.Client().Do(rtMVerify, map[string]any{"t": e.Mail.Token(u.Email)}).OK(t, nil)
	if res.Get(t, "verifyEmail.user.emailVerified") != true {
		t.Fatalf("verifyEmail did not verify %s: %s", u.Email, res.Raw)
	}
}

// rtPost runs a mutation with a Bearer token without the testing.T (for goroutines).
func rtPost(e *testenv.Env, token, query string, in map[string]any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"in": in}})
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var r struct {
		Errors []testenv.Error `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		return fmt.Errorf("HTTP %d: %+v", res.StatusCode, r.Errors)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Expectations

// rtWant is what an event must carry. Empty strings mean null.
type rtWant struct {
	typ          string
	actor        string
	user         string
	memberID     string
	member       *rtWantMember // nil: member must be null
	invitationID string
	invitation   *rtWantInvitation // nil: invitation must be null
	oldRole      string
	newRole      string
	dataHas      string // a substring of data
}

type rtWantMember struct{ id, role, user string }

type rtWantInvitation struct{ id, email, role, status string }

// rtCheck compares an event with w. prev is the sequence of the subscriber's
// previous event (0: none); consecutive requires the very next sequence.
func rtCheck(t testing.TB, who string, got rtEvent, w rtWant, orgID string, prev int64, consecutive bool, since time.Time) int64 {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s event: %s\n%+v", who, w.typ, fmt.Sprintf(format, args...), got)
	}
	if got.Type != w.typ {
		fail("type %s", got.Type)
	}
	if got.OrganizationID != orgID {
		fail("organizationId %s, want %s", got.OrganizationID, orgID)
	}
	if got.ID == "" {
		fail("no id")
	}
	seq := rtSeq(t, got.Cursor)
	if prev > 0 && (seq <= prev || (consecutive && seq != prev+1)) {
		fail("sequence %d after %d", seq, prev)
	}
	if got.CreatedAt.Before(since.Add(-2*time.Second)) || got.CreatedAt.After(time.Now().Add(2*time.Second)) {
		fail("createdAt %s, the change was made after %s", got.CreatedAt, since)
	}
	str := func(name string, p *struct{ ID string }, want string) {
		t.Helper()
		switch {
		case want == "" && p != nil:
			fail("%s %s, want null", name, p.ID)
		case want != "" && (p == nil || p.ID != want):
			fail("%s %+v, want %s", name, p, want)
		}
	}
	ptr := func(name string, p *string, want string) {
		t.Helper()
		switch {
		case want == "" && p != nil:
			fail("%s %q, want null", name, *p)
		case want != "" && (p == nil || *p != want):
			fail("%s %v, want %s", name, p, want)
		}
	}
	str("actor", got.Actor, w.actor)
	str("user", got.User, w.user)
	ptr("memberId", got.MemberID, w.memberID)
	ptr("oldRole", got.OldRole, w.oldRole)
	ptr("newRole", got.NewRole, w.newRole)
	ptr("invitationId", got.InvitationID, w.invitationID) // "": must be null
	switch m := w.member; {
	case m == nil && got.Member != nil:
		fail("member %+v, want null", got.Member)
	case m != nil && (got.Member == nil || got.Member.ID != m.id || got.Member.Role != m.role || got.Member.User.ID != m.user):
		fail("member %+v, want %+v", got.Member, *m)
	}
	switch i := w.invitation; {
	case i == nil && got.Invitation != nil:
		fail("invitation %+v, want null", got.Invitation)
	case i != nil && (got.Invitation == nil || got.Invitation.ID != i.id || got.Invitation.Email != i.email ||
		got.Invitation.Role != i.role || got.Invitation.Status != i.status):
		fail("invitation %+v, want %+v", got.Invitation, *i)
	}
	if w.dataHas != "" && (got.Data == nil || !strings.Contains(*got.Data, w.dataHas)) {
		fail("data %v, want it to contain %q", got.Data, w.dataHas)
	}
	return seq
}

// rtSubscriber is a subscription under test with what it has seen.
type rtSubscriber struct {
	name   string
	s      *testenv.Socket
	admin  bool // sees invitation events and invitation data
	last   int64
	types  []string
	closed bool
}

// ---------------------------------------------------------------------------
// Tests

// TestRealtimeEveryEventType: every organization event type reaches the owner, an
// admin and a member in commit order with its cursor, type, time, actor, the
// affected member in its new state (or its ID once it is gone), the invitation
// (OWNER/ADMIN only) and the roles. The member sees no invitation event and no
// invitation data. Deleting the organization ends every stream.
func TestRealtimeEveryEventType(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		admin := e.SignUp("Admin")
		mem := e.SignUp("Member")
		leaver := e.SignUp("Leaver")
		joiner := e.SignUp("Joiner")
		rejecter := e.SignUp("Rejecter")
		o := e.CreateOrg(owner, "Acme", "acme-rt")
		adminMember := e.AddMember(o, admin, role.Admin)
		e.AddMember(o, mem, role.Member)
		leaverMember := e.AddMember(o, leaver, role.Member)

		subs := []*rtSubscriber{
			{name: "owner", s: rtOrgStream(t, e, owner, o.ID, 1), admin: true},
			{name: "admin", s: rtOrgStream(t, e, admin, o.ID, 2), admin: true},
			{name: "member", s: rtOrgStream(t, e, mem, o.ID, 3)},
		}
		var since time.Time
		// expect reads the events of one change from every subscriber.
		expect := func(wants ...rtWant) {
			t.Helper()
			for _, sub := range subs {
				for _, w := range wants {
					if strings.HasPrefix(w.typ, "INVITATION_") && !sub.admin {
						continue
					}
					if !sub.admin {
						w.invitation = nil // role-guarded: null for a MEMBER
					}
					got := rtNext(t, sub.s, "1")
					sub.last = rtCheck(t, sub.name, got, w, o.ID, sub.last, sub.admin, since)
					sub.types = append(sub.types, got.Type)
				}
			}
		}

		since = time.Now()
		rtRename(t, owner, o.ID, "Acme Renamed")
		expect(rtWant{typ: "ORGANIZATION_UPDATED", actor: owner.ID, dataHas: "Acme Renamed"})

		since = time.Now()
		inv := rtInvite(t, owner, o.ID, joiner.Email, role.Member)
		expect(rtWant{typ: "INVITATION_CREATED", actor: owner.ID, invitationID: inv, newRole: "MEMBER",
			invitation: &rtWantInvitation{inv, joiner.Email, "MEMBER", "PENDING"}})

		since = time.Now()
		rtDo(t, owner.Client, rtMResend, map[string]any{"invitationId": inv, "role": "ADMIN"})
		expect(rtWant{typ: "INVITATION_RESENT", actor: owner.ID, invitationID: inv, oldRole: "MEMBER", newRole: "ADMIN",
			invitation: &rtWantInvitation{inv, joiner.Email, "ADMIN", "PENDING"}})

		since = time.Now()
		joinedMember := rtDo(t, joiner.Client, rtMAccept, map[string]any{"token": e.Mail.Token(joiner.Email)}).
			Str(t, "acceptInvitation.member.id")
		accepted := &rtWantInvitation{inv, joiner.Email, "ADMIN", "ACCEPTED"}
		expect(
			rtWant{typ: "INVITATION_ACCEPTED", actor: joiner.ID, user: joiner.ID, memberID: joinedMember,
				member: &rtWantMember{joinedMember, "ADMIN", joiner.ID}, invitationID: inv, invitation: accepted, newRole: "ADMIN"},
			rtWant{typ: "MEMBER_JOINED", actor: joiner.ID, user: joiner.ID, memberID: joinedMember,
				member: &rtWantMember{joinedMember, "ADMIN", joiner.ID}, invitationID: inv, invitation: accepted, newRole: "ADMIN"})

		since = time.Now()
		inv2 := rtInvite(t, owner, o.ID, rejecter.Email, role.Member)
		expect(rtWant{typ: "INVITATION_CREATED", actor: owner.ID, invitationID: inv2, newRole: "MEMBER",
			invitation: &rtWantInvitation{inv2, rejecter.Email, "MEMBER", "PENDING"}})
		since = time.Now()
		rtDo(t, rejecter.Client, rtMReject, map[string]any{"token": e.Mail.Token(rejecter.Email)})
		expect(rtWant{typ: "INVITATION_REJECTED", actor: rejecter.ID, invitationID: inv2, oldRole: "MEMBER",
			invitation: &rtWantInvitation{inv2, rejecter.Email, "MEMBER", "REJECTED"}})

		since = time.Now()
		stranger := fmt.Sprintf("stranger-%d@example.com", rand.Int64())
		inv3 := rtInvite(t, admin, o.ID, stranger, role.Admin)
		expect(rtWant{typ: "INVITATION_CREATED", actor: admin.ID, invitationID: inv3, newRole: "ADMIN",
			invitation: &rtWantInvitation{inv3, stranger, "ADMIN", "PENDING"}})
		since = time.Now()
		rtDo(t, owner.Client, rtMCancel, map[string]any{"invitationId": inv3})
		expect(rtWant{typ: "INVITATION_CANCELED", actor: owner.ID, invitationID: inv3, oldRole: "ADMIN",
			invitation: &rtWantInvitation{inv3, stranger, "ADMIN", "CANCELED"}})

		since = time.Now()
		rtSetRole(t, owner, joinedMember, role.Member)
		expect(rtWant{typ: "MEMBER_ROLE_CHANGED", actor: owner.ID, user: joiner.ID, memberID: joinedMember,
			member: &rtWantMember{joinedMember, "MEMBER", joiner.ID}, oldRole: "ADMIN", newRole: "MEMBER"})

		since = time.Now()
		rtRemove(t, admin, joinedMember)
		expect(rtWant{typ: "MEMBER_REMOVED", actor: admin.ID, user: joiner.ID, memberID: joinedMember, oldRole: "MEMBER"})

		since = time.Now()
		rtLeave(t, leaver, o.ID)
		expect(rtWant{typ: "MEMBER_LEFT", actor: leaver.ID, user: leaver.ID, memberID: leaverMember, oldRole: "MEMBER"})

		since = time.Now()
		rtDo(t, owner.Client, rtMTransfer, map[string]any{"organizationId": o.ID, "memberId": adminMember})
		expect(rtWant{typ: "OWNERSHIP_TRANSFERRED", actor: owner.ID, user: admin.ID, memberID: adminMember,
			member: &rtWantMember{adminMember, "OWNER", admin.ID}, oldRole: "ADMIN", newRole: "OWNER"})

		since = time.Now()
		rtDelete(t, admin, o)
		expect(rtWant{typ: "ORGANIZATION_DELETED", actor: admin.ID, dataHas: o.Slug})
		for _, sub := range subs {
			rtExpectComplete(t, sub.s, "1")
		}
		rtWaitSubs(t, e, 0, -1)

		all := []string{"ORGANIZATION_UPDATED", "INVITATION_CREATED", "INVITATION_RESENT", "INVITATION_ACCEPTED",
			"MEMBER_JOINED", "INVITATION_CREATED", "INVITATION_REJECTED", "INVITATION_CREATED", "INVITATION_CANCELED",
			"MEMBER_ROLE_CHANGED", "MEMBER_REMOVED", "MEMBER_LEFT", "OWNERSHIP_TRANSFERRED", "ORGANIZATION_DELETED"}
		members := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return strings.HasPrefix(s, "INVITATION_") })
		for _, sub := range subs {
			want := all
			if !sub.admin {
				want = members
			}
			if !slices.Equal(sub.types, want) {
				t.Errorf("%s saw %v, want %v", sub.name, sub.types, want)
			}
		}
	}, rtOptions()...)
}

// TestRealtimeCommitOrder: changes made back to back, by several clients at once,
// arrive in the order of their sequence numbers, with no gap and no duplicate, to
// every subscriber alike.
func TestRealtimeCommitOrder(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		admin := e.SignUp("Admin")
		o := e.CreateOrg(owner, "Order", "order-rt")
		e.AddMember(o, admin, role.Admin)
		a := rtOrgStream(t, e, owner, o.ID, 1)
		b := rtOrgStream(t, e, admin, o.ID, 2)

		const writers, each = 3, 8
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			u := owner
			if w%2 == 1 {
				u = admin
			}
			wg.Go(func() {
				for i := range each {
					errs <- rtPost(e, u.Token, rtMRename, map[string]any{"organizationId": o.ID, "name": fmt.Sprintf("w%d-%d", w, i)})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var seqA, seqB []int64
		for range writers * each {
			seqA = append(seqA, rtSeq(t, rtNext(t, a, "1").Cursor))
			seqB = append(seqB, rtSeq(t, rtNext(t, b, "1").Cursor))
		}
		for i := 1; i < len(seqA); i++ {
			if seqA[i] != seqA[i-1]+1 {
				t.Fatalf("sequences not consecutive: %v", seqA)
			}
		}
		if !slices.Equal(seqA, seqB) {
			t.Fatalf("subscribers disagree on the order:\n%v\n%v", seqA, seqB)
		}
	}, rtOptions()...)
}

// TestRealtimeOnlyOwnOrganizations: with two organizations busy at once, a
// subscriber receives the events of the organizations it belongs to only; two
// subscriptions on one socket each get their own organization's events; a
// non-member cannot subscribe at all (NOT_FOUND, as if the organization did not
// exist), nor can anyone to an unknown organization or with a bad cursor.
func TestRealtimeOnlyOwnOrganizations(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		pOwner := e.SignUp("P Owner")
		qOwner := e.SignUp("Q Owner")
		both := e.SignUp("Both")
		onlyP := e.SignUp("Only P")
		p := e.CreateOrg(pOwner, "P", "p-rt")
		q := e.CreateOrg(qOwner, "Q", "q-rt")
		e.AddMember(p, both, role.Member)
		e.AddMember(q, both, role.Admin)
		e.AddMember(p, onlyP, role.Member)

		// A non-member's subscription is refused, and the socket stays usable.
		sp := rtDial(t, e, onlyP)
		rtSubscribeOrg(sp, "q", q.ID, "")
		if err := rtExpectRefused(t, sp, "q", "NOT_FOUND", ""); !strings.Contains(strings.ToLower(err.Message), "no such") {
			t.Errorf("refusal message %q", err.Message)
		}
		rtSubscribeOrg(sp, "x", "org_doesnotexist", "")
		rtExpectRefused(t, sp, "x", "NOT_FOUND", "")
		rtSubscribeOrg(sp, "c", p.ID, "not-a-cursor")
		rtExpectRefused(t, sp, "c", "BAD_USER_INPUT", "INVALID_CURSOR")
		rtWaitSubs(t, e, 0, -1)
		rtSubscribeOrg(sp, "p", p.ID, "")
		rtWaitSubs(t, e, 1, -1)

		sb := rtDial(t, e, both)
		rtSubscribeOrg(sb, "p", p.ID, "")
		rtSubscribeOrg(sb, "q", q.ID, "")
		rtWaitSubs(t, e, 3, -1)
		sq := rtOrgStream(t, e, qOwner, q.ID, 4)

		// Interleaved activity in both organizations, from several clients at once.
		const rounds = 6
		var wg sync.WaitGroup
		errs := make(chan error, 4*rounds)
		wg.Go(func() {
			for i := range rounds {
				errs <- rtPost(e, pOwner.Token, rtMRename, map[string]any{"organizationId": p.ID, "name": fmt.Sprintf("P %d", i)})
				errs <- rtPost(e, pOwner.Token, rtMInvite, map[string]any{"organizationId": p.ID, "email": fmt.Sprintf("p%d-%d@example.com", i, rand.Int64()), "role": "MEMBER"})
			}
		})
		wg.Go(func() {
			for i := range rounds {
				errs <- rtPost(e, qOwner.Token, rtMInvite, map[string]any{"organizationId": q.ID, "email": fmt.Sprintf("q%d-%d@example.com", i, rand.Int64()), "role": "MEMBER"})
				errs <- rtPost(e, qOwner.Token, rtMRename, map[string]any{"organizationId": q.ID, "name": fmt.Sprintf("Q %d", i)})
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// The members of P see P's renames only; the admin of Q sees all of Q's.
		check := func(who string, evs []rtEvent, orgID string, wantTypes map[string]int) {
			t.Helper()
			got := map[string]int{}
			var last int64
			for _, ev := range evs {
				if ev.OrganizationID != orgID {
					t.Fatalf("%s: an event of %s in the stream of %s: %+v", who, ev.OrganizationID, orgID, ev)
				}
				if seq := rtSeq(t, ev.Cursor); seq <= last {
					t.Fatalf("%s: sequence %d after %d", who, seq, last)
				} else {
					last = seq
				}
				got[ev.Type]++
			}
			if fmt.Sprint(got) != fmt.Sprint(wantTypes) {
				t.Fatalf("%s: got %v, want %v", who, got, wantTypes)
			}
		}
		var onlyPEvents []rtEvent
		for range rounds {
			onlyPEvents = append(onlyPEvents, rtNext(t, sp, "p"))
		}
		check("only-P member", onlyPEvents, p.ID, map[string]int{"ORGANIZATION_UPDATED": rounds})

		var qOwnerEvents []rtEvent
		for range 2 * rounds {
			qOwnerEvents = append(qOwnerEvents, rtNext(t, sq, "1"))
		}
		check("Q owner", qOwnerEvents, q.ID, map[string]int{"ORGANIZATION_UPDATED": rounds, "INVITATION_CREATED": rounds})

		byOp := map[string][]rtEvent{}
		for range rounds + 2*rounds {
			m := rtRead(t, sb, rtWait)
			byOp[m.ID] = append(byOp[m.ID], rtDecodeEvent(t, m))
		}
		check("member of both, P", byOp["p"], p.ID, map[string]int{"ORGANIZATION_UPDATED": rounds})
		check("member of both, Q", byOp["q"], q.ID, map[string]int{"ORGANIZATION_UPDATED": rounds, "INVITATION_CREATED": rounds})

		// Nothing else is on its way to anyone.
		rtRename(t, qOwner, q.ID, "Q final")
		if ev := rtNext(t, sq, "1"); ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, "Q final") {
			t.Fatalf("Q owner: want the final rename, got %+v", ev)
		}
		if ev := rtNext(t, sb, "q"); ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, "Q final") {
			t.Fatalf("member of both: want the final rename, got %+v", ev)
		}
		rtExpectQuiet(t, sp, 300*time.Millisecond)
	}, rtOptions()...)
}

// TestRealtimeResume: a subscriber that went away resumes with the cursor of the
// last event it saw: the stream replays exactly what it missed, then continues
// live. A cursor at the head replays nothing.
func TestRealtimeResume(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		mem := e.SignUp("Member")
		o := e.CreateOrg(owner, "Resume", "resume-rt")
		e.AddMember(o, mem, role.Member)

		s := rtOrgStream(t, e, mem, o.ID, 1)
		for i := 1; i <= 3; i++ {
			rtRename(t, owner, o.ID, fmt.Sprintf("seen %d", i))
		}
		var cursor string
		var last int64
		for range 3 {
			ev := rtNext(t, s, "1")
			cursor, last = ev.Cursor, rtSeq(t, ev.Cursor)
		}
		s.Conn.Close()
		rtWaitSubs(t, e, 0, -1) // the feed stops: the resume starts it again

		for i := 1; i <= 3; i++ {
			rtRename(t, owner, o.ID, fmt.Sprintf("missed %d", i))
		}
		// An invitation event in between: replayed to admins only, skipped here.
		rtInvite(t, owner, o.ID, fmt.Sprintf("x-%d@example.com", rand.Int64()), role.Member)
		rtRename(t, owner, o.ID, "missed 4")

		s = rtDial(t, e, mem)
		rtSubscribeOrg(s, "1", o.ID, cursor)
		resumed := last
		for i, want := range []string{"missed 1", "missed 2", "missed 3", "missed 4"} {
			ev := rtNext(t, s, "1")
			seq := rtSeq(t, ev.Cursor)
			wantSeq := resumed + int64(i) + 1
			if i == 3 {
				wantSeq++ // after the invitation
			}
			if ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, want) || seq != wantSeq {
				t.Fatalf("replay %d: want %q at %d, got %d %+v", i, want, wantSeq, seq, ev)
			}
			cursor, last = ev.Cursor, seq
		}
		rtWaitSubs(t, e, 1, -1)
		rtRename(t, owner, o.ID, "live")
		if ev := rtNext(t, s, "1"); !strings.Contains(*ev.Data, "live") || rtSeq(t, ev.Cursor) != last+1 {
			t.Fatalf("want the live event at %d, got %+v", last+1, ev)
		} else {
			cursor, last = ev.Cursor, last+1
		}

		// Resuming from the very beginning replays the whole history to an owner,
		// from the organization's creation on ...
		s3 := rtDial(t, e, owner)
		rtSubscribeOrg(s3, "1", o.ID, realtime.Cursor(0))
		for i, want := range []string{"ORGANIZATION_CREATED", "MEMBER_JOINED", "ORGANIZATION_UPDATED"} {
			if ev := rtNext(t, s3, "1"); ev.Type != want || rtSeq(t, ev.Cursor) != int64(i)+1 {
				t.Fatalf("replay from the start, event %d: want %s at %d, got %+v", i, want, i+1, ev)
			}
		}
		s3.Conn.Close()
		rtWaitSubs(t, e, 1, -1)
		// ... but a MEMBER only from when they joined: the history before is the
		// audit log's, for owners and admins.
		s4 := rtDial(t, e, mem)
		rtSubscribeOrg(s4, "1", o.ID, realtime.Cursor(0))
		if ev := rtNext(t, s4, "1"); ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, "seen 1") || rtSeq(t, ev.Cursor) != 3 {
			t.Fatalf("a member's replay from the start: want the first event after joining (seen 1, at 3), got %+v", ev)
		}
		s4.Conn.Close()
		rtWaitSubs(t, e, 1, -1)

		// Resuming at the head while the feed runs: nothing replayed, then live.
		s2 := rtDial(t, e, mem)
		rtSubscribeOrg(s2, "1", o.ID, cursor)
		rtWaitSubs(t, e, 2, -1)
		rtRename(t, owner, o.ID, "after head")
		for _, sock := range []*testenv.Socket{s, s2} {
			if ev := rtNext(t, sock, "1"); !strings.Contains(*ev.Data, "after head") || rtSeq(t, ev.Cursor) != last+1 {
				t.Fatalf("want the event at %d, got %+v", last+1, ev)
			}
		}
	}, rtOptions()...)
}

// TestRealtimeResumeDuringSwitchOver: events commit while a subscriber resumes,
// during its replay and its switch to live delivery. The stream it gets is the
// exact run of sequences after its cursor: no gap, no duplicate, in order. Twenty
// rounds, resuming from cursors up to 60 events back (a replay that takes a
// while) with the subscription landing before, amid or after the writes.
func TestRealtimeResumeDuringSwitchOver(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		admin := e.SignUp("Admin")
		o := e.CreateOrg(owner, "Switch", "switch-rt")
		e.AddMember(o, admin, role.Admin)

		ref := rtOrgStream(t, e, admin, o.ID, 1) // stays live throughout
		rtRename(t, owner, o.ID, "start")
		head := rtNext(t, ref, "1")
		first := rtSeq(t, head.Cursor)
		cursors := map[int64]string{first: head.Cursor} // every cursor seen, by sequence
		base := first

		const rounds, writers, each = 20, 2, 4
		for r := range rounds {
			k := int64(writers * each)
			from := base - rand.Int64N(min(base-first, 60)+1)
			var wg sync.WaitGroup
			errs := make(chan error, k)
			for w := range writers {
				u := owner
				if w == 1 {
					u = admin
				}
				wg.Go(func() {
					for i := range each {
						errs <- rtPost(e, u.Token, rtMRename, map[string]any{"organizationId": o.ID, "name": fmt.Sprintf("r%d w%d %d", r, w, i)})
					}
				})
			}
			time.Sleep(time.Duration(rand.IntN(12)) * time.Millisecond)
			s := rtDial(t, e, admin)
			rtSubscribeOrg(s, "1", o.ID, cursors[from])
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			var got []int64
			for range base + k - from {
				got = append(got, rtSeq(t, rtNext(t, s, "1").Cursor))
			}
			// A sentinel: the next message must be the next event, not a
			// duplicate of one already received.
			rtWaitSubs(t, e, 2, -1)
			rtRename(t, owner, o.ID, fmt.Sprintf("r%d sentinel", r))
			got = append(got, rtSeq(t, rtNext(t, s, "1").Cursor))
			for i, seq := range got {
				if seq != from+int64(i)+1 {
					t.Fatalf("round %d: resumed after %d, got sequences %v", r, from, got)
				}
			}
			for range k + 1 {
				ev := rtNext(t, ref, "1")
				cursors[rtSeq(t, ev.Cursor)] = ev.Cursor
			}
			if _, ok := cursors[base+k+1]; !ok {
				t.Fatalf("round %d: the live subscriber did not get %d", r, base+k+1)
			}
			base += k + 1
			s.Conn.Close()
			rtWaitSubs(t, e, 1, -1)
		}
	}, rtOptions()...)
}

// TestRealtimeRemovedSubscriberStreamEnds: removing a member ends their streams
// right after their MEMBER_REMOVED (every subscription of theirs completes) while
// the others continue; they cannot subscribe again, not even with a cursor.
func TestRealtimeRemovedSubscriberStreamEnds(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		gone := e.SignUp("Gone")
		stays := e.SignUp("Stays")
		o := e.CreateOrg(owner, "Removal", "removal-rt")
		goneMember := e.AddMember(o, gone, role.Admin)
		e.AddMember(o, stays, role.Member)

		so := rtOrgStream(t, e, owner, o.ID, 1)
		ss := rtOrgStream(t, e, stays, o.ID, 2)
		sg := rtDial(t, e, gone)
		rtSubscribeOrg(sg, "a", o.ID, "")
		rtSubscribeOrg(sg, "b", o.ID, "")
		rtWaitSubs(t, e, 4, -1)

		rtRename(t, owner, o.ID, "before")
		var cursor string
		for range 2 { // one event for each of "a" and "b", in either order
			m := rtRead(t, sg, rtWait)
			if m.ID != "a" && m.ID != "b" {
				t.Fatalf("unexpected message %+v", m)
			}
			cursor = rtDecodeEvent(t, m).Cursor
		}
		rtNext(t, so, "1")
		rtNext(t, ss, "1")

		rtRemove(t, owner, goneMember)
		ended := map[string]bool{}
		seen := map[string]bool{}
		for len(ended) < 2 {
			m := rtRead(t, sg, rtWait)
			switch {
			case m.Type == "next" && !seen[m.ID]:
				if ev := rtDecodeEvent(t, m); ev.Type != "MEMBER_REMOVED" || ev.MemberID == nil || *ev.MemberID != goneMember {
					t.Fatalf("%s: want their MEMBER_REMOVED, got %+v", m.ID, ev)
				}
				seen[m.ID] = true
			case m.Type == "complete" && seen[m.ID]:
				ended[m.ID] = true
			default:
				t.Fatalf("want MEMBER_REMOVED then complete, got %s %s: %s", m.ID, m.Type, m.Payload)
			}
		}
		for _, s := range []*testenv.Socket{so, ss} {
			if ev := rtNext(t, s, "1"); ev.Type != "MEMBER_REMOVED" {
				t.Fatalf("want MEMBER_REMOVED, got %+v", ev)
			}
		}
		rtWaitSubs(t, e, 2, -1)

		rtRename(t, owner, o.ID, "after")
		for _, s := range []*testenv.Socket{so, ss} {
			if ev := rtNext(t, s, "1"); ev.Type != "ORGANIZATION_UPDATED" {
				t.Fatalf("want ORGANIZATION_UPDATED, got %+v", ev)
			}
		}
		// No way back in: neither live nor from a cursor.
		rtSubscribeOrg(sg, "c", o.ID, "")
		rtExpectRefused(t, sg, "c", "NOT_FOUND", "")
		rtSubscribeOrg(sg, "d", o.ID, cursor)
		rtExpectRefused(t, sg, "d", "NOT_FOUND", "")
		rtExpectQuiet(t, sg, 300*time.Millisecond)
	}, rtOptions()...)
}

// TestRealtimeLeavingEndsStream: a member who leaves gets their MEMBER_LEFT and then
// their stream completes; the others continue.
func TestRealtimeLeavingEndsStream(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		leaver := e.SignUp("Leaver")
		o := e.CreateOrg(owner, "Leaving", "leaving-rt")
		leaverMember := e.AddMember(o, leaver, role.Member)
		so := rtOrgStream(t, e, owner, o.ID, 1)
		sl := rtOrgStream(t, e, leaver, o.ID, 2)

		rtLeave(t, leaver, o.ID)
		for _, s := range []*testenv.Socket{sl, so} {
			if ev := rtNext(t, s, "1"); ev.Type != "MEMBER_LEFT" || ev.MemberID == nil || *ev.MemberID != leaverMember {
				t.Fatalf("want MEMBER_LEFT of %s, got %+v", leaverMember, ev)
			}
		}
		rtExpectComplete(t, sl, "1")
		rtWaitSubs(t, e, 1, -1)
		rtRename(t, owner, o.ID, "after")
		if ev := rtNext(t, so, "1"); ev.Type != "ORGANIZATION_UPDATED" {
			t.Fatalf("want ORGANIZATION_UPDATED, got %+v", ev)
		}
		rtExpectQuiet(t, sl, 300*time.Millisecond)
	}, rtOptions()...)
}

// TestRealtimeDeletingOrganizationEndsEveryStream: every subscriber, whatever its
// role, gets ORGANIZATION_DELETED and then its stream completes; the feed stops.
func TestRealtimeDeletingOrganizationEndsEveryStream(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		admin := e.SignUp("Admin")
		mem := e.SignUp("Member")
		o := e.CreateOrg(owner, "Doomed", "doomed-rt")
		e.AddMember(o, admin, role.Admin)
		e.AddMember(o, mem, role.Member)
		socks := []*testenv.Socket{
			rtOrgStream(t, e, owner, o.ID, 1),
			rtOrgStream(t, e, admin, o.ID, 2),
			rtOrgStream(t, e, mem, o.ID, 3),
		}
		rtDelete(t, owner, o)
		for _, s := range socks {
			if ev := rtNext(t, s, "1"); ev.Type != "ORGANIZATION_DELETED" || ev.OrganizationID != o.ID {
				t.Fatalf("want ORGANIZATION_DELETED, got %+v", ev)
			}
			rtExpectComplete(t, s, "1")
		}
		rtWaitSubs(t, e, 0, -1)
		if feeds, _, _ := e.App.Feeds.Stats(); feeds != 0 {
			t.Fatalf("%d feeds still running", feeds)
		}
		// The organization is gone: subscribing is refused.
		rtSubscribeOrg(socks[0], "2", o.ID, "")
		rtExpectRefused(t, socks[0], "2", "NOT_FOUND", "")
	}, rtOptions()...)
}

// TestRealtimeDemotedAdminLosesInvitationEvents: authorization is decided per
// delivery: an ADMIN demoted to MEMBER stops receiving invitation events at once,
// and gets them again when promoted back.
func TestRealtimeDemotedAdminLosesInvitationEvents(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		admin := e.SignUp("Admin")
		o := e.CreateOrg(owner, "Demote", "demote-rt")
		adminMember := e.AddMember(o, admin, role.Admin)
		s := rtOrgStream(t, e, admin, o.ID, 1)
		invite := func() string {
			return rtInvite(t, owner, o.ID, fmt.Sprintf("i-%d@example.com", rand.Int64()), role.Member)
		}

		inv := invite()
		if ev := rtNext(t, s, "1"); ev.Type != "INVITATION_CREATED" || ev.Invitation == nil || ev.Invitation.ID != inv {
			t.Fatalf("admin: want INVITATION_CREATED with the invitation, got %+v", ev)
		}
		rtSetRole(t, owner, adminMember, role.Member)
		if ev := rtNext(t, s, "1"); ev.Type != "MEMBER_ROLE_CHANGED" || ev.Member == nil || ev.Member.Role != "MEMBER" {
			t.Fatalf("want their demotion, got %+v", ev)
		}
		invite()
		rtDo(t, owner.Client, rtMCancel, map[string]any{"invitationId": inv})
		rtRename(t, owner, o.ID, "after demotion")
		if ev := rtNext(t, s, "1"); ev.Type != "ORGANIZATION_UPDATED" {
			t.Fatalf("a demoted admin received %s", ev.Type)
		}
		rtSetRole(t, owner, adminMember, role.Admin)
		if ev := rtNext(t, s, "1"); ev.Type != "MEMBER_ROLE_CHANGED" || ev.Member == nil || ev.Member.Role != "ADMIN" {
			t.Fatalf("want their promotion, got %+v", ev)
		}
		inv3 := invite()
		if ev := rtNext(t, s, "1"); ev.Type != "INVITATION_CREATED" || ev.Invitation == nil || ev.Invitation.ID != inv3 {
			t.Fatalf("promoted again: want INVITATION_CREATED with the invitation, got %+v", ev)
		}
	}, rtOptions()...)
}

// TestRealtimeViewerEvents: viewerEvents tells a user what happens to them: an
// invitation to their verified address, their role changing
// (both sides of an ownership transfer), their removal, and the deletion of an
// organization they belong to; nothing about other users, and no invitation for an
// unverified address.
func TestRealtimeViewerEvents(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		invitee := e.SignUp("Invitee")
		unverified := e.SignUp("Unverified")
		bystander := e.SignUp("Bystander")
		removed := e.SignUp("Removed")
		rtVerify(t, e, invitee)
		o := e.CreateOrg(owner, "Viewer", "viewer-rt")
		e.AddMember(o, bystander, role.Member)
		removedMember := e.AddMember(o, removed, role.Member)
		// Another organization, for sentinel events.
		other := e.CreateOrg(owner, "Other", "other-rt")
		unverifiedOther := e.AddMember(other, unverified, role.Member)
		removedOther := e.AddMember(other, removed, role.Member)

		vo := rtViewerStream(t, e, owner, 1)
		vi := rtViewerStream(t, e, invitee, 2)
		vu := rtViewerStream(t, e, unverified, 3)
		vb := rtViewerStream(t, e, bystander, 4)
		vr := rtViewerStream(t, e, removed, 5)

		since := time.Now()
		inv := rtInvite(t, owner, o.ID, invitee.Email, role.Member)
		ev := rtNextViewer(t, vi)
		if ev.Type != "INVITATION_RECEIVED" || ev.OrganizationID != o.ID || ev.Invitation == nil || ev.Invitation.ID != inv ||
			ev.Invitation.Email != invitee.Email || ev.Organization != nil || ev.CreatedAt.Before(since.Add(-2*time.Second)) {
			t.Fatalf("invitee: want INVITATION_RECEIVED of %s (no organization: not a member yet), got %+v", inv, ev)
		}
		// An unverified address hears nothing of its invitation: its next event is
		// the sentinel from the other organization.
		rtInvite(t, owner, o.ID, unverified.Email, role.Member)
		rtSetRole(t, owner, unverifiedOther, role.Admin)
		if ev := rtNextViewer(t, vu); ev.Type != "ROLE_CHANGED" || ev.OrganizationID != other.ID {
			t.Fatalf("unverified: want only the sentinel ROLE_CHANGED of %s, got %+v", other.ID, ev)
		}

		inviteeMember := rtDo(t, invitee.Client, rtMAccept, map[string]any{"invitationId": inv}).Str(t, "acceptInvitation.member.id")
		rtSetRole(t, owner, inviteeMember, role.Admin)
		if ev := rtNextViewer(t, vi); ev.Type != "ROLE_CHANGED" || ev.OrganizationID != o.ID || ev.Member == nil ||
			ev.Member.ID != inviteeMember || ev.Member.Role != "ADMIN" || ev.Organization == nil || ev.Organization.ID != o.ID {
			t.Fatalf("invitee: want ROLE_CHANGED to ADMIN with member and organization, got %+v", ev)
		}

		rtRemove(t, owner, removedMember)
		if ev := rtNextViewer(t, vr); ev.Type != "REMOVED_FROM_ORGANIZATION" || ev.OrganizationID != o.ID || ev.Organization != nil {
			t.Fatalf("removed: want REMOVED_FROM_ORGANIZATION (no organization: no longer a member), got %+v", ev)
		}

		rtDo(t, owner.Client, rtMTransfer, map[string]any{"organizationId": o.ID, "memberId": inviteeMember})
		if ev := rtNextViewer(t, vi); ev.Type != "ROLE_CHANGED" || ev.Member == nil || ev.Member.ID != inviteeMember || ev.Member.Role != "OWNER" {
			t.Fatalf("new owner: want ROLE_CHANGED to OWNER, got %+v", ev)
		}
		if ev := rtNextViewer(t, vo); ev.Type != "ROLE_CHANGED" || ev.OrganizationID != o.ID || ev.Member == nil ||
			ev.Member.ID != o.OwnerMemberID || ev.Member.Role != "ADMIN" || ev.Member.User.ID != owner.ID {
			t.Fatalf("previous owner: want ROLE_CHANGED to ADMIN of their own membership, got %+v", ev)
		}

		rtDelete(t, invitee, o)
		for name, s := range map[string]*testenv.Socket{"invitee": vi, "previous owner": vo, "bystander": vb} {
			if ev := rtNextViewer(t, s); ev.Type != "ORGANIZATION_DELETED" || ev.OrganizationID != o.ID || ev.Organization != nil {
				t.Fatalf("%s: want ORGANIZATION_DELETED of %s, got %+v", name, o.ID, ev)
			}
		}
		// The removed member was no longer a member when it was deleted: their next
		// event is the sentinel.
		rtSetRole(t, owner, removedOther, role.Admin)
		if ev := rtNextViewer(t, vr); ev.Type != "ROLE_CHANGED" || ev.OrganizationID != other.ID {
			t.Fatalf("removed: want only the sentinel ROLE_CHANGED of %s, got %+v", other.ID, ev)
		}
		// Nothing else for anyone: the bystander heard only of the deletion, the
		// previous owner nothing of the role changes they made.
		rtExpectQuiet(t, vb, 300*time.Millisecond)
		rtExpectQuiet(t, vo, 100*time.Millisecond)
		rtExpectQuiet(t, vu, 100*time.Millisecond)
	}, rtOptions()...)
}

// TestRealtimeViewerEventsInvitationResent: an invitation sent again reaches the
// invitee's viewerEvents as INVITATION_RECEIVED again, with its new role
// (schema/realtime.graphql: "An invitation arrived ... (or was sent again)").
func TestRealtimeViewerEventsInvitationResent(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		invitee := e.SignUp("Invitee")
		rtVerify(t, e, invitee)
		o := e.CreateOrg(owner, "Resent", "resent-rt")
		vi := rtViewerStream(t, e, invitee, 1)

		inv := rtInvite(t, owner, o.ID, invitee.Email, role.Member)
		if ev := rtNextViewer(t, vi); ev.Type != "INVITATION_RECEIVED" || ev.Invitation == nil || ev.Invitation.ID != inv {
			t.Fatalf("want INVITATION_RECEIVED of %s, got %+v", inv, ev)
		}
		since := time.Now()
		rtDo(t, owner.Client, rtMResend, map[string]any{"invitationId": inv, "role": "ADMIN"})
		if ev := rtNextViewer(t, vi); ev.Type != "INVITATION_RECEIVED" || ev.OrganizationID != o.ID || ev.Invitation == nil ||
			ev.Invitation.ID != inv || ev.Invitation.Role != "ADMIN" || ev.CreatedAt.Before(since.Add(-2*time.Second)) {
			t.Fatalf("want INVITATION_RECEIVED again with the new role, got %+v", ev)
		}
	}, rtOptions()...)
}

// TestRealtimeSlowSubscriber: a subscriber that falls too far behind (here: an
// instance whose feed learns of 20 events at once by polling, with a buffer of 2)
// is ended with RATE_LIMITED / SUBSCRIBER_TOO_SLOW and the cursor of the last event
// it was given; resuming from that cursor yields exactly the rest. The writer was
// never held up.
func TestRealtimeSlowSubscriber(t *testing.T) {
	for _, kind := range testenv.Kinds() {
		t.Run(kind, func(t *testing.T) {
			cl := testenv.NewCluster(t, kind, 1, rtOptions(testenv.WithConfig(func(c *config.Config) {
				c.RealtimePollInterval = time.Hour // the writer's instance
			}))...)
			writer := cl.Envs[0]
			reader := cl.Add(testenv.WithConfig(func(c *config.Config) {
				c.RealtimePollInterval = 300 * time.Millisecond // no bus: polling only
				c.SubscriberBuffer = 2
			}))
			owner := writer.SignUp("Owner")
			mem := writer.SignUp("Member")
			o := writer.CreateOrg(owner, "Slow", "slow-rt")
			writer.AddMember(o, mem, role.Member)

			s := rtOrgStream(t, reader, mem, o.ID, 1)
			rtRename(t, owner, o.ID, "first")
			first := rtNext(t, s, "1")
			base := rtSeq(t, first.Cursor)

			const n = 20
			for i := range n {
				rtRename(t, owner, o.ID, fmt.Sprintf("burst %d", i))
			}
			var got []int64
			var stop testenv.Error
			for {
				m := rtRead(t, s, rtWait)
				if m.Type == "next" {
					got = append(got, rtSeq(t, rtDecodeEvent(t, m).Cursor))
					continue
				}
				if m.Type != "error" {
					t.Fatalf("want events then an error, got %s after %v: %s", m.Type, got, m.Payload)
				}
				var errs []testenv.Error
				if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
					t.Fatalf("error payload %s", m.Payload)
				}
				stop = errs[0]
				break
			}
			if stop.Code() != "RATE_LIMITED" || stop.Reason() != realtime.ReasonTooSlow {
				t.Fatalf("want RATE_LIMITED/%s, got %+v", realtime.ReasonTooSlow, stop)
			}
			cursor, _ := stop.Extensions["cursor"].(string)
			resumeAt := base
			if len(got) > 0 {
				resumeAt = got[len(got)-1]
			}
			if cursor == "" || rtSeq(t, cursor) != resumeAt {
				t.Fatalf("error cursor %q, want the cursor of the last event delivered (%d); got %v", cursor, resumeAt, got)
			}
			if len(got) >= n {
				t.Fatalf("all %d events arrived and the stream was still ended", len(got))
			}
			rtSubscribeOrg(s, "2", o.ID, cursor)
			for len(got) < n {
				got = append(got, rtSeq(t, rtNext(t, s, "2").Cursor))
			}
			for i, seq := range got {
				if seq != base+int64(i)+1 {
					t.Fatalf("events before the error and after resuming: %v, want %d..%d", got, base+1, base+n)
				}
			}
		})
	}
}

// TestRealtimeSignOutClosesSessionSockets: signing out closes the sockets of that
// session with 4403 at once; the sockets of the account's other sessions go on until
// it signs out everywhere.
func TestRealtimeSignOutClosesSessionSockets(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		u := e.SignUp("User")
		o := e.CreateOrg(owner, "Sessions", "sessions-rt")
		e.AddMember(o, u, role.Member)
		other := &testenv.User{Client: e.Client(), ID: u.ID, Email: u.Email, Password: u.Password}
		other.Token = rtDo(t, other.Client, rtMSignIn, map[string]any{"email": u.Email, "password": u.Password}).Str(t, "signIn.token")

		s1 := rtOrgStream(t, e, u, o.ID, 1)
		s2 := rtOrgStream(t, e, other, o.ID, 2)
		rtDo(t, u.Client, rtMSignOut, map[string]any{})
		s1.ExpectClose(4403, rtWait)
		rtWaitSubs(t, e, 1, -1)
		rtRename(t, owner, o.ID, "still here")
		if ev := rtNext(t, s2, "1"); ev.Type != "ORGANIZATION_UPDATED" {
			t.Fatalf("the other session's stream: want ORGANIZATION_UPDATED, got %+v", ev)
		}
		rtDo(t, other.Client, rtMSignOut, map[string]any{"everywhere": true})
		s2.ExpectClose(4403, rtWait)
		rtWaitSubs(t, e, 0, -1)
	}, rtOptions()...)
}

// TestRealtimeExpiredSessionClosesSockets: a socket closes with 4403 when its
// session reaches its maximum age, without any message from the client.
func TestRealtimeExpiredSessionClosesSockets(t *testing.T) {
	e := testenv.New(t, "sqlite", testenv.WithConfig(func(c *config.Config) { c.SessionMaxAge = 2 * time.Second }))
	u := e.SignUp("Short")
	start := time.Now()
	s := rtViewerStream(t, e, u, 1)
	s.ExpectClose(4403, 10*time.Second)
	if waited := time.Since(start); waited > 8*time.Second {
		t.Fatalf("closed after %s, the session lasted 2s", waited)
	}
	rtWaitSubs(t, e, -1, 0)
}
