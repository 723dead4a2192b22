package graph_test

// Black-box tests of the role matrix (GUIDE §2) through the GraphQL API, on every
// database of testenv.Kinds: for every row of the matrix and every actor role
// (OWNER, ADMIN, MEMBER), the allowed and the refused case; the capability fields
// (viewerRole, viewerCan, Member.viewerCanChangeRole / viewerCanRemove) checked
// against hand-written expectations and against what the mutations then do; tenant
// isolation between organizations; immediate revocation on removal and departure;
// and unauthenticated callers.
//
// Every refusal must change nothing (the database state below: organizations,
// members, sessions' active organization, event counts) and every success must
// write exactly the expected change and exactly one audit-log event, read back
// through the audit log by an ADMIN ("auditor") who takes no part in the case.
//
// The expected outcomes are written by hand from GUIDE §2; the tables of member
// mutations are checked for exhaustiveness like the unit tables of package authz.

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/internal/ids"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
	"github.com/orgql/orgql/internal/viewer"
)

// --- operations ---

const (
	rmQOrg = `query($slug: String!) { organization(slug: $slug) {
		id name slug viewerRole memberCount
		viewerCan { updateSettings inviteMembers viewInvitations viewAuditLog manageMembers manageOwners manageApplications transferOwnership deleteOrganization leave }
		members(first: 100) { totalCount edges { node { id role joinedAt viewerCanChangeRole viewerCanRemove user { id name email } } } }
	} }`
	rmQAudit = `query($slug: String!) { organization(slug: $slug) { id name auditLog(first: 100) {
		totalCount edges { node { id type memberId oldRole newRole data actor { id } user { id } } } } } }`
	rmQOrgOnly   = `query($slug: String!) { organization(slug: $slug) { id } }`
	rmQNode      = `query($id: ID!) { node(id: $id) { __typename id } }`
	rmQNodes     = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`
	rmQActive    = `{ viewer { id activeOrganization { id } organizations(first: 100) { edges { node { id viewerRole } } } } }`
	rmMCreateOrg = `mutation($in: CreateOrganizationInput!) { createOrganization(input: $in) { organization { id } } }`
	rmMUpdateOrg = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { organization { id name viewerRole } } }`
	rmMDeleteOrg = `mutation($in: DeleteOrganizationInput!) { deleteOrganization(input: $in) { deletedOrganizationId } }`
	rmMSetActive = `mutation($in: SetActiveOrganizationInput!) { setActiveOrganization(input: $in) { activeOrganization { id } viewer { id } } }`
	rmMRole      = `mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id role user { id } } } }`
	rmMRemove    = `mutation($in: RemoveMemberInput!) { removeMember(input: $in) { removedMemberId organization { id memberCount } } }`
	rmMLeave     = `mutation($in: LeaveOrganizationInput!) { leaveOrganization(input: $in) { removedMemberId organizationId } }`
	rmMTransfer  = `mutation($in: TransferOwnershipInput!) { transferOwnership(input: $in) {
		newOwner { id role user { id } } previousOwner { id role user { id } } organization { id viewerRole } } }`
)

func rmIn(kv ...any) map[string]any {
	in := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		in[kv[i].(string)] = kv[i+1]
	}
	return map[string]any{"in": in}
}

func rmUpdateOrg(c *testenv.Client, orgID, name string) *testenv.Response {
	return c.Do(rmMUpdateOrg, rmIn("organizationId", orgID, "name", name))
}

func rmDeleteOrg(c *testenv.Client, orgID, slug string) *testenv.Response {
	return c.Do(rmMDeleteOrg, rmIn("organizationId", orgID, "confirmSlug", slug))
}

func rmSetActive(c *testenv.Client, orgID string) *testenv.Response {
	return c.Do(rmMSetActive, rmIn("organizationId", orgID))
}

func rmChangeRole(c *testenv.Client, memberID string, r role.Role) *testenv.Response {
	return c.Do(rmMRole, rmIn("memberId", memberID, "role", string(r)))
}

func rmRemove(c *testenv.Client, memberID string) *testenv.Response {
	return c.Do(rmMRemove, rmIn("memberId", memberID))
}

func rmLeave(c *testenv.Client, orgID string) *testenv.Response {
	return c.Do(rmMLeave, rmIn("organizationId", orgID))
}

func rmTransfer(c *testenv.Client, orgID, memberID string) *testenv.Response {
	return c.Do(rmMTransfer, rmIn("organizationId", orgID, "memberId", memberID))
}

// --- the organization as a viewer sees it ---

type rmPerms struct {
	UpdateSettings     bool `json:"updateSettings"`
	InviteMembers      bool `json:"inviteMembers"`
	ViewInvitations    bool `json:"viewInvitations"`
	ViewAuditLog       bool `json:"viewAuditLog"`
	ManageMembers      bool `json:"manageMembers"`
	ManageOwners       bool `json:"manageOwners"`
	ManageApplications bool `json:"manageApplications"`
	TransferOwnership  bool `json:"transferOwnership"`
	DeleteOrganization bool `json:"deleteOrganization"`
	Leave              bool `json:"leave"`
}

type rmMemberNode struct {
	ID                  string `json:"id"`
	Role                string `json:"role"`
	JoinedAt            string `json:"joinedAt"`
	ViewerCanChangeRole bool   `json:"viewerCanChangeRole"`
	ViewerCanRemove     bool   `json:"viewerCanRemove"`
	User                struct {
		ID, Name, Email string
	} `json:"user"`
}

type rmOrgView struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	ViewerRole  *string `json:"viewerRole"`
	MemberCount int     `json:"memberCount"`
	ViewerCan   rmPerms `json:"viewerCan"`
	Members     struct {
		TotalCount int `json:"totalCount"`
		Edges      []struct {
			Node rmMemberNode `json:"node"`
		} `json:"edges"`
	} `json:"members"`
}

// rmView reads the organization as u sees it; it must be visible.
func rmView(t testing.TB, u *testenv.User, slug string) *rmOrgView {
	t.Helper()
	var d struct{ Organization *rmOrgView }
	u.Do(rmQOrg, map[string]any{"slug": slug}).OK(t, &d)
	if d.Organization == nil {
		t.Fatalf("%s cannot see organization %s", u.Name, slug)
	}
	return d.Organization
}

// rmMemberView returns the member node with this ID from v.
func rmMemberView(t testing.TB, v *rmOrgView, memberID string) rmMemberNode {
	t.Helper()
	for _, e := range v.Members.Edges {
		if e.Node.ID == memberID {
			return e.Node
		}
	}
	t.Fatalf("member %s is not in the member list", memberID)
	return rmMemberNode{}
}

type rmEvent struct {
	ID       string  `json:"id"`
	Type     string  `json:"type"`
	MemberID *string `json:"memberId"`
	OldRole  *string `json:"oldRole"`
	NewRole  *string `json:"newRole"`
	Data     *string `json:"data"`
	Actor    *struct{ ID string }
	User     *struct{ ID string }
}

// rmAudit reads the audit log as reader (an OWNER or ADMIN), newest first.
func rmAudit(t testing.TB, reader *testenv.User, slug string) (total int, evs []rmEvent) {
	t.Helper()
	var d struct {
		Organization *struct {
			AuditLog *struct {
				TotalCount int `json:"totalCount"`
				Edges      []struct{ Node rmEvent }
			} `json:"auditLog"`
		}
	}
	reader.Do(rmQAudit, map[string]any{"slug": slug}).OK(t, &d)
	if d.Organization == nil || d.Organization.AuditLog == nil {
		t.Fatalf("%s cannot read the audit log of %s", reader.Name, slug)
	}
	for _, e := range d.Organization.AuditLog.Edges {
		evs = append(evs, e.Node)
	}
	return d.Organization.AuditLog.TotalCount, evs
}

func rmStr(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// rmWantEvent is what one new audit-log event must say ("" fields are not checked,
// except OldRole/NewRole where "-" means null).
type rmWantEvent struct {
	Type, MemberID, OldRole, NewRole, ActorID, UserID, DataContains string
}

// rmWantOneEvent fails unless exactly one event was added to the audit log since
// it had before entries, and that event is want.
func rmWantOneEvent(t testing.TB, reader *testenv.User, slug string, before int, want rmWantEvent) rmEvent {
	t.Helper()
	total, evs := rmAudit(t, reader, slug)
	if total != before+1 {
		var types []string
		for _, e := range evs[:min(len(evs), total-before+1)] {
			types = append(types, e.Type)
		}
		t.Fatalf("audit log has %d new events (newest first: %v), want exactly one %s", total-before, types, want.Type)
	}
	got := evs[0]
	check := func(field, gotV, wantV string) {
		t.Helper()
		if wantV == "-" {
			wantV = "<null>"
		}
		if wantV != "" && gotV != wantV {
			t.Errorf("%s event: %s = %s, want %s", want.Type, field, gotV, wantV)
		}
	}
	check("type", got.Type, want.Type)
	check("memberId", rmStr(got.MemberID), want.MemberID)
	check("oldRole", rmStr(got.OldRole), want.OldRole)
	check("newRole", rmStr(got.NewRole), want.NewRole)
	if want.ActorID != "" {
		if got.Actor == nil || got.Actor.ID != want.ActorID {
			t.Errorf("%s event: actor = %+v, want %s", want.Type, got.Actor, want.ActorID)
		}
	}
	if want.UserID != "" {
		if got.User == nil || got.User.ID != want.UserID {
			t.Errorf("%s event: user = %+v, want %s", want.Type, got.User, want.UserID)
		}
	}
	if want.DataContains != "" && !strings.Contains(rmStr(got.Data), want.DataContains) {
		t.Errorf("%s event: data = %s, want it to contain %s", want.Type, rmStr(got.Data), want.DataContains)
	}
	return got
}

// --- database state ---

// rmState is what the mutations under test may change, as text per row:
// "org/<id>" name|slug|logo, "mem/<id>" org|user|role, "ses/<id>" user|active
// organization, "evt/<org>" number of events.
type rmState map[string]string

func rmSnapshot(t testing.TB, e *testenv.Env) rmState {
	t.Helper()
	ctx := viewer.System(context.Background())
	db := e.App.DB.Client
	s := rmState{}
	orgs, err := db.Organization.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		s["org/"+o.ID] = fmt.Sprintf("%s|%s|%s", o.Name, o.Slug, rmStr(o.LogoHash))
	}
	ms, err := db.Member.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		s["mem/"+m.ID] = fmt.Sprintf("%s|%s|%s", m.OrganizationID, m.UserID, m.Role)
	}
	ss, err := db.Session.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ss {
		s["ses/"+x.ID] = x.UserID + "|" + rmStr(x.ActiveOrganizationID)
	}
	var counts []struct {
		OrganizationID string `json:"organization_id"`
		Count          int    `json:"count"`
	}
	if err := db.Event.Query().GroupBy(event.FieldOrganizationID).Aggregate(func(s *sql.Selector) string {
		return sql.As(sql.Count("*"), "count")
	}).Scan(ctx, &counts); err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		s["evt/"+c.OrganizationID] = fmt.Sprint(c.Count)
	}
	return s
}

func (s rmState) clone() rmState {
	c := make(rmState, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// addEvent expects one more event of org.
func (s rmState) addEvent(orgID string) {
	n := 0
	fmt.Sscan(s["evt/"+orgID], &n)
	s["evt/"+orgID] = fmt.Sprint(n + 1)
}

// setRole expects member id to have role r.
func (s rmState) setRole(t testing.TB, id string, r role.Role) {
	t.Helper()
	v, ok := s["mem/"+id]
	if !ok {
		t.Fatalf("no member %s in the state", id)
	}
	parts := strings.Split(v, "|")
	s["mem/"+id] = parts[0] + "|" + parts[1] + "|" + string(r)
}

// dropMember expects member id gone and its user's sessions to have lost the
// organization as their active one.
func (s rmState) dropMember(t testing.TB, id string) {
	t.Helper()
	v, ok := s["mem/"+id]
	if !ok {
		t.Fatalf("no member %s in the state", id)
	}
	parts := strings.Split(v, "|")
	delete(s, "mem/"+id)
	for k, sv := range s {
		if strings.HasPrefix(k, "ses/") && sv == parts[1]+"|"+parts[0] {
			s[k] = parts[1] + "|<null>"
		}
	}
}

func rmDiff(want, got rmState) []string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			d = append(d, fmt.Sprintf("%s: gone (want %s)", k, v))
		} else if g != v {
			d = append(d, fmt.Sprintf("%s: %s (want %s)", k, g, v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: new %s", k, v))
		}
	}
	sort.Strings(d)
	return d
}

// rmWantState fails unless the database state is want.
func rmWantState(t testing.TB, e *testenv.Env, want rmState, what string) {
	t.Helper()
	if d := rmDiff(want, rmSnapshot(t, e)); len(d) > 0 {
		t.Fatalf("%s: database state differs from what was expected:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// --- fixtures ---

var rmSlugSeq atomic.Int64

// rmFixture is an organization with, by name: owner (its creator), owner2 (when it
// has two owners), admin, admin2, member, member2, and auditor (an ADMIN who only
// reads the audit log).
type rmFixture struct {
	e      *testenv.Env
	org    *testenv.Org
	owners int
	users  map[string]*testenv.User
	mids   map[string]string
	// dirty marks a shared fixture that a case may have changed.
	dirty bool
}

var rmFixtureRoles = map[string]role.Role{
	"owner": role.Owner, "owner2": role.Owner,
	"admin": role.Admin, "admin2": role.Admin, "auditor": role.Admin,
	"member": role.Member, "member2": role.Member,
}

func rmNewFixture(t testing.TB, e *testenv.Env, owners int) *rmFixture {
	t.Helper()
	n := rmSlugSeq.Add(1)
	f := &rmFixture{e: e, owners: owners, users: map[string]*testenv.User{}, mids: map[string]string{}}
	f.users["owner"] = e.SignUp(fmt.Sprintf("Owner %d", n))
	f.org = e.CreateOrg(f.users["owner"], fmt.Sprintf("Matrix %d", n), fmt.Sprintf("matrix-%d", n))
	f.mids["owner"] = f.org.OwnerMemberID
	names := []string{"admin", "admin2", "member", "member2", "auditor"}
	if owners == 2 {
		names = append([]string{"owner2"}, names...)
	}
	for _, name := range names {
		u := e.SignUp(fmt.Sprintf("%s %d", name, n))
		f.users[name] = u
		f.mids[name] = e.AddMember(f.org, u, rmFixtureRoles[name])
	}
	return f
}

func (f *rmFixture) auditor() *testenv.User { return f.users["auditor"] }

// actorName is the fixture member who acts with role r.
func rmActorName(r role.Role) string {
	return map[role.Role]string{role.Owner: "owner", role.Admin: "admin", role.Member: "member"}[r]
}

// rmTargetName is the fixture member an actor with role actor aims at when the
// target is "self" or another member with role target.
func rmTargetName(actor role.Role, target string) string {
	if target == "self" {
		return rmActorName(actor)
	}
	name := rmActorName(role.Role(target))
	if role.Role(target) == actor {
		name += "2"
	}
	return name
}

// rmPool hands out fixtures: a shared one per owner count for cases expected to
// change nothing (rebuilt when a case may have changed it), a fresh one otherwise.
type rmPool struct {
	e      *testenv.Env
	shared map[int]*rmFixture
}

func (p *rmPool) get(t testing.TB, owners int, fresh bool) *rmFixture {
	t.Helper()
	if fresh {
		return rmNewFixture(t, p.e, owners)
	}
	if f := p.shared[owners]; f != nil && !f.dirty {
		return f
	}
	if p.shared == nil {
		p.shared = map[int]*rmFixture{}
	}
	p.shared[owners] = rmNewFixture(t, p.e, owners)
	return p.shared[owners]
}

// --- expectations, by hand from GUIDE §2 ---

// Outcomes of the tables. Refusals are FORBIDDEN with the reason.
const (
	rmOK    = "ok"   // allowed and changes something
	rmNoop  = "noop" // allowed, changes nothing (the member already has the role)
	rmIns   = "INSUFFICIENT_ROLE"
	rmNotA  = "ROLE_NOT_ASSIGNABLE"
	rmLast  = "LAST_OWNER"
	rmRmSlf = "CANNOT_REMOVE_SELF"
	rmXfSlf = "CANNOT_TRANSFER_TO_SELF"
)

// rmSit is an actor role, a target ("self", or another member's role) and the
// organization's owner count.
type rmSit struct {
	actor  role.Role
	target string
	owners int
}

func (s rmSit) String() string {
	return fmt.Sprintf("%s_on_%s_%downer", s.actor, s.target, s.owners)
}

var (
	rmActors  = []role.Role{role.Owner, role.Admin, role.Member}
	rmTargets = []string{"self", "OWNER", "ADMIN", "MEMBER"}
	rmNewRole = []role.Role{role.Owner, role.Admin, role.Member}
)

// rmFeasible: an OWNER acting on another OWNER needs two owners.
func rmFeasible(s rmSit) bool {
	return !(s.actor == role.Owner && s.target == "OWNER" && s.owners == 1)
}

// rmSits lists every feasible situation.
func rmSits() []rmSit {
	var out []rmSit
	for _, a := range rmActors {
		for _, tg := range rmTargets {
			for _, n := range []int{1, 2} {
				if s := (rmSit{a, tg, n}); rmFeasible(s) {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// rmCheckTable fails unless keys are exactly the feasible situations.
func rmCheckTable(t *testing.T, name string, keys []rmSit) {
	t.Helper()
	have := map[rmSit]bool{}
	for _, k := range keys {
		have[k] = true
		if !rmFeasible(k) {
			t.Errorf("%s lists %v, which cannot happen", name, k)
		}
	}
	for _, s := range rmSits() {
		if !have[s] {
			t.Errorf("%s has no expectation for %v", name, s)
		}
	}
}

// rmRoleTable: updateMemberRole to OWNER, ADMIN, MEMBER. OWNERs and ADMINs move
// members between MEMBER and ADMIN (an ADMIN also themselves); only OWNERs grant
// OWNER (ADMIN: ROLE_NOT_ASSIGNABLE) or change an OWNER's role (ADMIN:
// INSUFFICIENT_ROLE); the last owner cannot step down; the member's current role is
// accepted and changes nothing; MEMBERs change nothing (the directive refuses).
var rmRoleTable = map[rmSit][3]string{
	{role.Owner, "self", 1}:   {rmNoop, rmLast, rmLast},
	{role.Owner, "self", 2}:   {rmNoop, rmOK, rmOK},
	{role.Owner, "OWNER", 2}:  {rmNoop, rmOK, rmOK},
	{role.Owner, "ADMIN", 1}:  {rmOK, rmNoop, rmOK},
	{role.Owner, "ADMIN", 2}:  {rmOK, rmNoop, rmOK},
	{role.Owner, "MEMBER", 1}: {rmOK, rmOK, rmNoop},
	{role.Owner, "MEMBER", 2}: {rmOK, rmOK, rmNoop},

	{role.Admin, "self", 1}:   {rmNotA, rmNoop, rmOK},
	{role.Admin, "self", 2}:   {rmNotA, rmNoop, rmOK},
	{role.Admin, "OWNER", 1}:  {rmNoop, rmIns, rmIns},
	{role.Admin, "OWNER", 2}:  {rmNoop, rmIns, rmIns},
	{role.Admin, "ADMIN", 1}:  {rmNotA, rmNoop, rmOK},
	{role.Admin, "ADMIN", 2}:  {rmNotA, rmNoop, rmOK},
	{role.Admin, "MEMBER", 1}: {rmNotA, rmOK, rmNoop},
	{role.Admin, "MEMBER", 2}: {rmNotA, rmOK, rmNoop},

	{role.Member, "self", 1}:   {rmIns, rmIns, rmIns},
	{role.Member, "self", 2}:   {rmIns, rmIns, rmIns},
	{role.Member, "OWNER", 1}:  {rmIns, rmIns, rmIns},
	{role.Member, "OWNER", 2}:  {rmIns, rmIns, rmIns},
	{role.Member, "ADMIN", 1}:  {rmIns, rmIns, rmIns},
	{role.Member, "ADMIN", 2}:  {rmIns, rmIns, rmIns},
	{role.Member, "MEMBER", 1}: {rmIns, rmIns, rmIns},
	{role.Member, "MEMBER", 2}: {rmIns, rmIns, rmIns},
}

// rmRemoveTable: removeMember. OWNERs and ADMINs remove MEMBERs and ADMINs; only
// OWNERs remove OWNERs; nobody removes themselves (they leave).
var rmRemoveTable = map[rmSit]string{
	{role.Owner, "self", 1}:   rmRmSlf,
	{role.Owner, "self", 2}:   rmRmSlf,
	{role.Owner, "OWNER", 2}:  rmOK,
	{role.Owner, "ADMIN", 1}:  rmOK,
	{role.Owner, "ADMIN", 2}:  rmOK,
	{role.Owner, "MEMBER", 1}: rmOK,
	{role.Owner, "MEMBER", 2}: rmOK,

	{role.Admin, "self", 1}:   rmRmSlf,
	{role.Admin, "self", 2}:   rmRmSlf,
	{role.Admin, "OWNER", 1}:  rmIns,
	{role.Admin, "OWNER", 2}:  rmIns,
	{role.Admin, "ADMIN", 1}:  rmOK,
	{role.Admin, "ADMIN", 2}:  rmOK,
	{role.Admin, "MEMBER", 1}: rmOK,
	{role.Admin, "MEMBER", 2}: rmOK,

	{role.Member, "self", 1}:   rmIns,
	{role.Member, "self", 2}:   rmIns,
	{role.Member, "OWNER", 1}:  rmIns,
	{role.Member, "OWNER", 2}:  rmIns,
	{role.Member, "ADMIN", 1}:  rmIns,
	{role.Member, "ADMIN", 2}:  rmIns,
	{role.Member, "MEMBER", 1}: rmIns,
	{role.Member, "MEMBER", 2}: rmIns,
}

// rmTransferTable: transferOwnership. OWNER only; to any other member, also
// another OWNER; never to oneself.
var rmTransferTable = map[rmSit]string{
	{role.Owner, "self", 1}:   rmXfSlf,
	{role.Owner, "self", 2}:   rmXfSlf,
	{role.Owner, "OWNER", 2}:  rmOK,
	{role.Owner, "ADMIN", 1}:  rmOK,
	{role.Owner, "ADMIN", 2}:  rmOK,
	{role.Owner, "MEMBER", 1}: rmOK,
	{role.Owner, "MEMBER", 2}: rmOK,

	{role.Admin, "self", 1}:   rmIns,
	{role.Admin, "self", 2}:   rmIns,
	{role.Admin, "OWNER", 1}:  rmIns,
	{role.Admin, "OWNER", 2}:  rmIns,
	{role.Admin, "ADMIN", 1}:  rmIns,
	{role.Admin, "ADMIN", 2}:  rmIns,
	{role.Admin, "MEMBER", 1}: rmIns,
	{role.Admin, "MEMBER", 2}: rmIns,

	{role.Member, "self", 1}:   rmIns,
	{role.Member, "self", 2}:   rmIns,
	{role.Member, "OWNER", 1}:  rmIns,
	{role.Member, "OWNER", 2}:  rmIns,
	{role.Member, "ADMIN", 1}:  rmIns,
	{role.Member, "ADMIN", 2}:  rmIns,
	{role.Member, "MEMBER", 1}: rmIns,
	{role.Member, "MEMBER", 2}: rmIns,
}

// rmPermsTable: viewerCan by the viewer's role and the owner count.
var rmPermsTable = map[role.Role]map[int]rmPerms{
	role.Owner: {
		1: {true, true, true, true, true, true, true, true, true, false}, // the last owner cannot leave
		2: {true, true, true, true, true, true, true, true, true, true},
	},
	role.Admin: {
		1: {UpdateSettings: true, InviteMembers: true, ViewInvitations: true, ViewAuditLog: true, ManageMembers: true, ManageApplications: true, Leave: true},
		2: {UpdateSettings: true, InviteMembers: true, ViewInvitations: true, ViewAuditLog: true, ManageMembers: true, ManageApplications: true, Leave: true},
	},
	role.Member: {
		1: {Leave: true},
		2: {Leave: true},
	},
}

// rmRoleOnlyTable: the mutations decided by the actor's role (and owner count)
// alone: updateOrganization, deleteOrganization, leaveOrganization, and reading
// the audit log.
var rmRoleOnlyTable = map[role.Role]map[int]struct{ update, del, leave, audit string }{
	role.Owner:  {1: {rmOK, rmOK, rmLast, rmOK}, 2: {rmOK, rmOK, rmOK, rmOK}},
	role.Admin:  {1: {rmOK, rmIns, rmOK, rmOK}, 2: {rmOK, rmIns, rmOK, rmOK}},
	role.Member: {1: {rmIns, rmIns, rmOK, rmIns}, 2: {rmIns, rmIns, rmOK, rmIns}},
}

func TestRoleMatrixTablesComplete(t *testing.T) {
	var roleKeys, removeKeys, transferKeys []rmSit
	for k := range rmRoleTable {
		roleKeys = append(roleKeys, k)
	}
	for k := range rmRemoveTable {
		removeKeys = append(removeKeys, k)
	}
	for k := range rmTransferTable {
		transferKeys = append(transferKeys, k)
	}
	rmCheckTable(t, "rmRoleTable", roleKeys)
	rmCheckTable(t, "rmRemoveTable", removeKeys)
	rmCheckTable(t, "rmTransferTable", transferKeys)
	for _, a := range rmActors {
		for _, n := range []int{1, 2} {
			p, ok := rmPermsTable[a][n]
			if !ok {
				t.Errorf("rmPermsTable: no row for %s with %d owners", a, n)
			}
			ro, ok := rmRoleOnlyTable[a][n]
			if !ok {
				t.Errorf("rmRoleOnlyTable: no row for %s with %d owners", a, n)
			}
			// The hand-written tables agree with each other: each viewerCan flag is
			// what the corresponding mutation table says.
			onMember := rmRoleTable[rmSit{a, "MEMBER", n}]
			for _, c := range []struct {
				flag string
				got  bool
				want bool
			}{
				{"updateSettings", p.UpdateSettings, ro.update == rmOK},
				{"deleteOrganization", p.DeleteOrganization, ro.del == rmOK},
				{"leave", p.Leave, ro.leave == rmOK},
				{"viewAuditLog", p.ViewAuditLog, ro.audit == rmOK},
				{"manageMembers (MEMBER -> ADMIN)", p.ManageMembers, onMember[1] == rmOK},
				{"manageMembers (remove a MEMBER)", p.ManageMembers, rmRemoveTable[rmSit{a, "MEMBER", n}] == rmOK},
				{"manageOwners (grant OWNER)", p.ManageOwners, onMember[0] == rmOK},
				// (with one owner, an OWNER has no other owner to remove: ask the two-owner row)
				{"manageOwners (remove another OWNER)", p.ManageOwners, rmRemoveTable[rmSit{a, "OWNER", 2}] == rmOK},
				{"transferOwnership", p.TransferOwnership, rmTransferTable[rmSit{a, "MEMBER", n}] == rmOK},
			} {
				if c.got != c.want {
					t.Errorf("%s with %d owners: viewerCan.%s = %v in rmPermsTable, but the mutation tables say %v", a, n, c.flag, c.got, c.want)
				}
			}
		}
	}
}

// --- reads ---

// TestRoleMatrixRead: every role sees the organization and its members with role,
// join date, name and email; OWNER and ADMIN read the audit log; a MEMBER gets
// FORBIDDEN / INSUFFICIENT_ROLE on that one field and the rest of the organization.
func TestRoleMatrixRead(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		f := rmNewFixture(t, e, 2)
		_, evs := rmAudit(t, f.auditor(), f.org.Slug)
		if len(evs) == 0 {
			t.Fatal("the audit log of a new organization is empty")
		}
		eventID := evs[0].ID
		var mids []string
		for _, id := range f.mids {
			mids = append(mids, id)
		}
		sort.Strings(mids)
		before := rmSnapshot(t, e)

		for _, r := range rmActors {
			t.Run(string(r), func(t *testing.T) {
				u := f.users[rmActorName(r)]
				v := rmView(t, u, f.org.Slug)
				if v.ID != f.org.ID || v.Name != f.org.Name || v.Slug != f.org.Slug {
					t.Errorf("organization = %s %q %q, want %s %q %q", v.ID, v.Name, v.Slug, f.org.ID, f.org.Name, f.org.Slug)
				}
				if rmStr(v.ViewerRole) != string(r) {
					t.Errorf("viewerRole = %s, want %s", rmStr(v.ViewerRole), r)
				}
				if v.MemberCount != len(f.mids) || v.Members.TotalCount != len(f.mids) || len(v.Members.Edges) != len(f.mids) {
					t.Errorf("memberCount %d, totalCount %d, %d edges; want %d", v.MemberCount, v.Members.TotalCount, len(v.Members.Edges), len(f.mids))
				}
				for name, id := range f.mids {
					m := rmMemberView(t, v, id)
					want := f.users[name]
					if m.Role != string(rmFixtureRoles[name]) || m.User.ID != want.ID || m.User.Name != want.Name || m.User.Email != want.Email {
						t.Errorf("member %s = %+v, want role %s, user %s %q %s", name, m, rmFixtureRoles[name], want.ID, want.Name, want.Email)
					}
					if ts, err := time.Parse(time.RFC3339Nano, m.JoinedAt); err != nil || ts.IsZero() || time.Since(ts) > time.Hour || time.Until(ts) > time.Minute {
						t.Errorf("member %s joinedAt = %q, want a recent time", name, m.JoinedAt)
					}
				}

				// The organization and its members by ID.
				res := u.Do(rmQNodes, map[string]any{"ids": append([]string{f.org.ID}, mids...)}).OK(t, nil)
				var nd struct {
					Nodes []*struct{ Typename, ID string }
				}
				_ = json.Unmarshal(res.Data, &nd)
				for i, n := range nd.Nodes {
					if n == nil {
						t.Errorf("nodes: %s is null for a %s", append([]string{f.org.ID}, mids...)[i], r)
					}
				}

				// The audit log, and an event by ID.
				res = u.Do(rmQAudit, map[string]any{"slug": f.org.Slug})
				node := u.Do(rmQNode, map[string]any{"id": eventID}).OK(t, nil)
				if v.ViewerCan.ViewAuditLog != (rmRoleOnlyTable[r][2].audit == rmOK) {
					t.Errorf("viewerCan.viewAuditLog = %v, but reading the audit log is %s", v.ViewerCan.ViewAuditLog, rmRoleOnlyTable[r][2].audit)
				}
				if rmRoleOnlyTable[r][2].audit == rmOK {
					res.OK(t, nil)
					if total, _ := res.Get(t, "organization.auditLog.totalCount").(float64); total < 1 {
						t.Errorf("audit log totalCount = %v", total)
					}
					if node.Get(t, "node") == nil {
						t.Errorf("node(event) is null for a %s", r)
					}
				} else {
					err := res.Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
					if fmt.Sprint(err.Path) != "[organization auditLog]" {
						t.Errorf("error path = %v, want [organization auditLog]", err.Path)
					}
					if len(res.Errors) != 1 {
						t.Errorf("want one error, got %s", res.Raw)
					}
					if al := res.Get(t, "organization.auditLog"); al != nil {
						t.Errorf("organization.auditLog = %v, want null", al)
					}
					if res.Get(t, "organization.id") != f.org.ID || res.Get(t, "organization.name") != f.org.Name {
						t.Errorf("a denied auditLog must leave the rest of the organization: %s", res.Raw)
					}
					if n := node.Get(t, "node"); n != nil {
						t.Errorf("node(event) = %v for a MEMBER, who may not see the audit log", n)
					}
				}

				// The organization is in the viewer's list with the role.
				var d struct {
					Viewer struct {
						Organizations struct {
							Edges []struct {
								Node struct{ ID, ViewerRole string }
							}
						}
					}
				}
				u.Do(rmQActive, nil).OK(t, &d)
				found := false
				for _, e := range d.Viewer.Organizations.Edges {
					if e.Node.ID == f.org.ID {
						found = e.Node.ViewerRole == string(r)
					}
				}
				if !found {
					t.Errorf("viewer.organizations lacks %s with role %s: %+v", f.org.ID, r, d)
				}
			})
		}
		rmWantState(t, e, before, "reading")
	})
}

// TestRoleMatrixViewerCan: viewerRole, viewerCan and the member capability fields
// for every actor role, owner count and target.
func TestRoleMatrixViewerCan(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		for _, n := range []int{1, 2} {
			f := rmNewFixture(t, e, n)
			for _, r := range rmActors {
				t.Run(fmt.Sprintf("%s_%downer", r, n), func(t *testing.T) {
					actorName := rmActorName(r)
					v := rmView(t, f.users[actorName], f.org.Slug)
					if rmStr(v.ViewerRole) != string(r) {
						t.Errorf("viewerRole = %s, want %s", rmStr(v.ViewerRole), r)
					}
					if want := rmPermsTable[r][n]; v.ViewerCan != want {
						t.Errorf("viewerCan = %+v\nwant        %+v", v.ViewerCan, want)
					}
					for name, id := range f.mids {
						target := string(rmFixtureRoles[name])
						if name == actorName {
							target = "self"
						}
						s := rmSit{r, target, n}
						canChange := false
						for i, nr := range rmNewRole {
							if string(nr) != string(rmFixtureRoles[name]) && rmRoleTable[s][i] == rmOK {
								canChange = true
							}
						}
						canRemove := rmRemoveTable[s] == rmOK
						m := rmMemberView(t, v, id)
						if m.ViewerCanChangeRole != canChange || m.ViewerCanRemove != canRemove {
							t.Errorf("%s on %s (%s): viewerCanChangeRole %v viewerCanRemove %v, want %v %v",
								r, name, target, m.ViewerCanChangeRole, m.ViewerCanRemove, canChange, canRemove)
						}
					}
				})
			}
		}
	})
}

// --- member mutations ---

// rmMemberCase runs one member mutation of a table: it reads the actor's
// capability for the target first, runs the mutation, and checks the outcome, the
// database state, the audit log and that the capability matched the outcome.
// It returns whether the mutation was allowed, and the capability read before.
func rmMemberCase(t *testing.T, pool *rmPool, s rmSit, want string, capability func(rmMemberNode, *rmOrgView) bool,
	run func(f *rmFixture, actor *testenv.User, actorMID, targetMID string) *testenv.Response,
	success func(t *testing.T, f *rmFixture, res *testenv.Response, before rmState, auditBefore int, actorName, targetName string)) (allowed, capable bool) {
	t.Helper()
	f := pool.get(t, s.owners, want == rmOK)
	actorName := rmActorName(s.actor)
	targetName := rmTargetName(s.actor, s.target)
	actor := f.users[actorName]
	v := rmView(t, actor, f.org.Slug)
	capable = capability(rmMemberView(t, v, f.mids[targetName]), v)

	before := rmSnapshot(t, f.e)
	auditBefore, _ := rmAudit(t, f.auditor(), f.org.Slug)
	f.dirty = true
	res := run(f, actor, f.mids[actorName], f.mids[targetName])
	switch want {
	case rmOK:
		res.OK(t, nil)
		success(t, f, res, before, auditBefore, actorName, targetName)
	case rmNoop:
		res.OK(t, nil)
		rmWantState(t, f.e, before, "a change to the current role")
		if total, _ := rmAudit(t, f.auditor(), f.org.Slug); total != auditBefore {
			t.Fatalf("a change to the current role wrote %d audit-log events, want none", total-auditBefore)
		}
		f.dirty = false
	default:
		res.Fails(t, "FORBIDDEN", want)
		rmWantState(t, f.e, before, "a refusal")
		if total, _ := rmAudit(t, f.auditor(), f.org.Slug); total != auditBefore {
			t.Fatalf("a refusal wrote %d audit-log events", total-auditBefore)
		}
		f.dirty = false
	}
	return want == rmOK || want == rmNoop, capable
}

// rmWantCapability fails unless a capability field agrees with the outcome.
func rmWantCapability(t *testing.T, field string, capable, allowed bool) {
	t.Helper()
	if capable != allowed {
		t.Errorf("%s said %v, but the mutation was %s", field, capable, map[bool]string{true: "allowed", false: "refused"}[allowed])
	}
}

// TestRoleMatrixUpdateMemberRole: updateMemberRole for every actor role, target and
// new role; Member.viewerCanChangeRole must be true exactly when some other role
// is accepted.
func TestRoleMatrixUpdateMemberRole(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		pool := &rmPool{e: e}
		for _, s := range rmSits() {
			var capable, anyOther bool
			for i, nr := range rmNewRole {
				want := rmRoleTable[s][i]
				t.Run(fmt.Sprintf("%v_to_%s", s, nr), func(t *testing.T) {
					allowed, c := rmMemberCase(t, pool, s, want,
						func(m rmMemberNode, _ *rmOrgView) bool { return m.ViewerCanChangeRole },
						func(f *rmFixture, actor *testenv.User, _, targetMID string) *testenv.Response {
							return rmChangeRole(actor.Client, targetMID, nr)
						},
						func(t *testing.T, f *rmFixture, res *testenv.Response, before rmState, auditBefore int, actorName, targetName string) {
							oldRole := rmFixtureRoles[targetName]
							if got := res.Str(t, "updateMemberRole.member.role"); got != string(nr) {
								t.Errorf("payload role = %s, want %s", got, nr)
							}
							if got := res.Str(t, "updateMemberRole.member.id"); got != f.mids[targetName] {
								t.Errorf("payload member = %s, want %s", got, f.mids[targetName])
							}
							want := before.clone()
							want.setRole(t, f.mids[targetName], nr)
							want.addEvent(f.org.ID)
							rmWantState(t, f.e, want, "updateMemberRole")
							rmWantOneEvent(t, f.auditor(), f.org.Slug, auditBefore, rmWantEvent{
								Type: "MEMBER_ROLE_CHANGED", MemberID: f.mids[targetName], OldRole: string(oldRole), NewRole: string(nr),
								ActorID: f.users[actorName].ID, UserID: f.users[targetName].ID,
							})
						})
					capable = c
					if allowed && want == rmOK {
						anyOther = true
					}
				})
			}
			if capable != anyOther {
				t.Errorf("%v: viewerCanChangeRole = %v, but a change to another role was %v", s, capable,
					map[bool]string{true: "accepted", false: "refused for every role"}[anyOther])
			}
		}
	})
}

// TestRoleMatrixRemoveMember: removeMember for every actor role and target;
// Member.viewerCanRemove must match.
func TestRoleMatrixRemoveMember(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		pool := &rmPool{e: e}
		for _, s := range rmSits() {
			t.Run(s.String(), func(t *testing.T) {
				allowed, capable := rmMemberCase(t, pool, s, rmRemoveTable[s],
					func(m rmMemberNode, _ *rmOrgView) bool { return m.ViewerCanRemove },
					func(f *rmFixture, actor *testenv.User, _, targetMID string) *testenv.Response {
						return rmRemove(actor.Client, targetMID)
					},
					func(t *testing.T, f *rmFixture, res *testenv.Response, before rmState, auditBefore int, actorName, targetName string) {
						if got := res.Str(t, "removeMember.removedMemberId"); got != f.mids[targetName] {
							t.Errorf("removedMemberId = %s, want %s", got, f.mids[targetName])
						}
						if got, _ := res.Get(t, "removeMember.organization.memberCount").(float64); int(got) != len(f.mids)-1 {
							t.Errorf("payload memberCount = %v, want %d", got, len(f.mids)-1)
						}
						want := before.clone()
						want.dropMember(t, f.mids[targetName])
						want.addEvent(f.org.ID)
						rmWantState(t, f.e, want, "removeMember")
						rmWantOneEvent(t, f.auditor(), f.org.Slug, auditBefore, rmWantEvent{
							Type: "MEMBER_REMOVED", MemberID: f.mids[targetName], OldRole: string(rmFixtureRoles[targetName]),
							NewRole: "-", ActorID: f.users[actorName].ID,
						})
						// The removed user no longer sees the organization.
						gone := f.users[targetName]
						if o := gone.Do(rmQOrgOnly, map[string]any{"slug": f.org.Slug}).OK(t, nil).Get(t, "organization"); o != nil {
							t.Errorf("the removed member still sees the organization: %v", o)
						}
					})
				rmWantCapability(t, "viewerCanRemove", capable, allowed)
			})
		}
	})
}

// TestRoleMatrixTransferOwnership: transferOwnership for every actor role and
// target. The target becomes OWNER and the caller ADMIN in one step, with one
// OWNERSHIP_TRANSFERRED event; viewerCan.transferOwnership must match.
func TestRoleMatrixTransferOwnership(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		pool := &rmPool{e: e}
		for _, s := range rmSits() {
			t.Run(s.String(), func(t *testing.T) {
				allowed, capable := rmMemberCase(t, pool, s, rmTransferTable[s],
					func(_ rmMemberNode, v *rmOrgView) bool { return v.ViewerCan.TransferOwnership && s.target != "self" },
					func(f *rmFixture, actor *testenv.User, _, targetMID string) *testenv.Response {
						return rmTransfer(actor.Client, f.org.ID, targetMID)
					},
					func(t *testing.T, f *rmFixture, res *testenv.Response, before rmState, auditBefore int, actorName, targetName string) {
						var d struct {
							TransferOwnership struct {
								NewOwner, PreviousOwner struct {
									ID, Role string
									User     struct{ ID string }
								}
								Organization struct{ ID, ViewerRole string }
							}
						}
						res.OK(t, &d)
						p := d.TransferOwnership
						if p.NewOwner.ID != f.mids[targetName] || p.NewOwner.Role != "OWNER" || p.NewOwner.User.ID != f.users[targetName].ID {
							t.Errorf("newOwner = %+v, want %s as OWNER", p.NewOwner, f.mids[targetName])
						}
						if p.PreviousOwner.ID != f.mids[actorName] || p.PreviousOwner.Role != "ADMIN" || p.PreviousOwner.User.ID != f.users[actorName].ID {
							t.Errorf("previousOwner = %+v, want %s as ADMIN", p.PreviousOwner, f.mids[actorName])
						}
						if p.Organization.ID != f.org.ID || p.Organization.ViewerRole != "ADMIN" {
							t.Errorf("payload organization = %+v, want %s with viewerRole ADMIN", p.Organization, f.org.ID)
						}
						want := before.clone()
						want.setRole(t, f.mids[targetName], role.Owner)
						want.setRole(t, f.mids[actorName], role.Admin)
						want.addEvent(f.org.ID)
						rmWantState(t, f.e, want, "transferOwnership")
						rmWantOneEvent(t, f.auditor(), f.org.Slug, auditBefore, rmWantEvent{
							Type: "OWNERSHIP_TRANSFERRED", MemberID: f.mids[targetName], OldRole: string(rmFixtureRoles[targetName]),
							NewRole: "OWNER", ActorID: f.users[actorName].ID, UserID: f.users[targetName].ID,
						})
						// The former owner is an ADMIN now: no more owner-only actions.
						former := f.users[actorName]
						rmDeleteOrg(former.Client, f.org.ID, f.org.Slug).Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
						if v := rmView(t, former, f.org.Slug); rmStr(v.ViewerRole) != "ADMIN" || v.ViewerCan != rmPermsTable[role.Admin][f.owners] {
							t.Errorf("former owner sees viewerRole %s viewerCan %+v", rmStr(v.ViewerRole), v.ViewerCan)
						}
					})
				rmWantCapability(t, "viewerCan.transferOwnership", capable, allowed)
			})
		}
	})
}

// --- mutations decided by the role alone ---

// TestRoleMatrixUpdateOrganization: OWNER and ADMIN change the name; a MEMBER is
// refused and nothing changes.
func TestRoleMatrixUpdateOrganization(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		for _, n := range []int{1, 2} {
			f := rmNewFixture(t, e, n)
			for _, r := range rmActors {
				t.Run(fmt.Sprintf("%s_%downer", r, n), func(t *testing.T) {
					u := f.users[rmActorName(r)]
					can := rmView(t, u, f.org.Slug).ViewerCan.UpdateSettings
					before := rmSnapshot(t, e)
					auditBefore, _ := rmAudit(t, f.auditor(), f.org.Slug)
					oldName := strings.Split(before["org/"+f.org.ID], "|")[0]
					newName := "Renamed by " + string(r)
					res := rmUpdateOrg(u.Client, f.org.ID, newName)
					want := rmRoleOnlyTable[r][n].update
					if want == rmOK {
						res.OK(t, nil)
						if got := res.Str(t, "updateOrganization.organization.name"); got != newName {
							t.Errorf("payload name = %q, want %q", got, newName)
						}
						ws := before.clone()
						ws["org/"+f.org.ID] = strings.Replace(before["org/"+f.org.ID], oldName+"|", newName+"|", 1)
						ws.addEvent(f.org.ID)
						rmWantState(t, e, ws, "updateOrganization")
						rmWantOneEvent(t, f.auditor(), f.org.Slug, auditBefore, rmWantEvent{
							Type: "ORGANIZATION_UPDATED", ActorID: u.ID, DataContains: newName,
						})
					} else {
						res.Fails(t, "FORBIDDEN", want)
						rmWantState(t, e, before, "a refused updateOrganization")
						if total, _ := rmAudit(t, f.auditor(), f.org.Slug); total != auditBefore {
							t.Errorf("a refusal wrote %d events", total-auditBefore)
						}
					}
					if can != (want == rmOK) {
						t.Errorf("viewerCan.updateSettings = %v, but updateOrganization was %s", can, want)
					}
				})
			}
		}
	})
}

// TestRoleMatrixDeleteOrganization: only an OWNER deletes; the organization, its
// members and its audit log are then out of everyone's reach, though the
// ORGANIZATION_DELETED event row is kept.
func TestRoleMatrixDeleteOrganization(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		for _, n := range []int{1, 2} {
			for _, r := range rmActors {
				t.Run(fmt.Sprintf("%s_%downer", r, n), func(t *testing.T) {
					f := rmNewFixture(t, e, n)
					u := f.users[rmActorName(r)]
					can := rmView(t, u, f.org.Slug).ViewerCan.DeleteOrganization
					before := rmSnapshot(t, e)
					auditBefore, _ := rmAudit(t, f.auditor(), f.org.Slug)
					want := rmRoleOnlyTable[r][n].del

					// A wrong confirmation changes nothing, whoever asks.
					wrong := rmDeleteOrg(u.Client, f.org.ID, f.org.Slug+"-x")
					if want == rmOK {
						wrong.Fails(t, "BAD_USER_INPUT", "SLUG_MISMATCH")
					} else {
						wrong.Fails(t, "FORBIDDEN", want)
					}
					rmWantState(t, e, before, "deleteOrganization with a wrong slug")

					res := rmDeleteOrg(u.Client, f.org.ID, f.org.Slug)
					if can != (want == rmOK) {
						t.Errorf("viewerCan.deleteOrganization = %v, but deleteOrganization was %s", can, want)
					}
					if want != rmOK {
						res.Fails(t, "FORBIDDEN", want)
						rmWantState(t, e, before, "a refused deleteOrganization")
						if total, _ := rmAudit(t, f.auditor(), f.org.Slug); total != auditBefore {
							t.Errorf("a refusal wrote %d events", total-auditBefore)
						}
						return
					}
					res.OK(t, nil)
					if got := res.Str(t, "deleteOrganization.deletedOrganizationId"); got != f.org.ID {
						t.Errorf("deletedOrganizationId = %s, want %s", got, f.org.ID)
					}
					ws := before.clone()
					delete(ws, "org/"+f.org.ID)
					for _, id := range f.mids {
						ws.dropMember(t, id)
					}
					ws.addEvent(f.org.ID)
					rmWantState(t, e, ws, "deleteOrganization")

					// The last event of the organization is its deletion; nobody reads it.
					ctx := viewer.System(context.Background())
					last, err := e.App.DB.Client.Event.Query().Where(event.OrganizationID(f.org.ID)).
						Order(event.BySequence(sql.OrderDesc())).First(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if last.Type != "ORGANIZATION_DELETED" || last.ActorID == nil || *last.ActorID != u.ID {
						t.Errorf("last event = %s by %v, want ORGANIZATION_DELETED by %s", last.Type, last.ActorID, u.ID)
					}
					for name, x := range f.users {
						if o := x.Do(rmQOrgOnly, map[string]any{"slug": f.org.Slug}).OK(t, nil).Get(t, "organization"); o != nil {
							t.Errorf("%s still sees the deleted organization", name)
						}
						res := x.Do(rmQNodes, map[string]any{"ids": []string{f.org.ID, last.ID, f.mids[name]}}).OK(t, nil)
						if nodes := res.Get(t, "nodes").([]any); nodes[0] != nil || nodes[1] != nil || nodes[2] != nil {
							t.Errorf("%s reads nodes of the deleted organization: %s", name, res.Raw)
						}
					}
				})
			}
		}
	})
}

// TestRoleMatrixLeave: everyone may leave except the last owner.
func TestRoleMatrixLeave(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		for _, n := range []int{1, 2} {
			for _, r := range rmActors {
				t.Run(fmt.Sprintf("%s_%downer", r, n), func(t *testing.T) {
					f := rmNewFixture(t, e, n)
					name := rmActorName(r)
					u := f.users[name]
					can := rmView(t, u, f.org.Slug).ViewerCan.Leave
					before := rmSnapshot(t, e)
					auditBefore, _ := rmAudit(t, f.auditor(), f.org.Slug)
					want := rmRoleOnlyTable[r][n].leave
					res := rmLeave(u.Client, f.org.ID)
					if can != (want == rmOK) {
						t.Errorf("viewerCan.leave = %v, but leaveOrganization was %s", can, want)
					}
					if want != rmOK {
						res.Fails(t, "FORBIDDEN", want)
						rmWantState(t, e, before, "a refused leaveOrganization")
						if total, _ := rmAudit(t, f.auditor(), f.org.Slug); total != auditBefore {
							t.Errorf("a refusal wrote %d events", total-auditBefore)
						}
						return
					}
					res.OK(t, nil)
					if got := res.Str(t, "leaveOrganization.removedMemberId"); got != f.mids[name] {
						t.Errorf("removedMemberId = %s, want %s", got, f.mids[name])
					}
					if got := res.Str(t, "leaveOrganization.organizationId"); got != f.org.ID {
						t.Errorf("organizationId = %s, want %s", got, f.org.ID)
					}
					ws := before.clone()
					ws.dropMember(t, f.mids[name])
					ws.addEvent(f.org.ID)
					rmWantState(t, e, ws, "leaveOrganization")
					rmWantOneEvent(t, f.auditor(), f.org.Slug, auditBefore, rmWantEvent{
						Type: "MEMBER_LEFT", MemberID: f.mids[name], OldRole: string(r), NewRole: "-", ActorID: u.ID,
					})
				})
			}
		}
	})
}

// TestRoleMatrixMemberChangesNothing: a MEMBER of an organization tries every
// mutation on it (except leaving) and on each of its members; every attempt is
// FORBIDDEN / INSUFFICIENT_ROLE and nothing changes.
func TestRoleMatrixMemberChangesNothing(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		f := rmNewFixture(t, e, 2)
		m := f.users["member"].Client
		before := rmSnapshot(t, e)
		try := func(what string, res *testenv.Response) {
			t.Helper()
			if len(res.Errors) == 0 || res.Errors[0].Code() != "FORBIDDEN" || res.Errors[0].Reason() != "INSUFFICIENT_ROLE" {
				t.Errorf("MEMBER %s: want FORBIDDEN/INSUFFICIENT_ROLE, got %s", what, res.Raw)
			}
		}
		try("updateOrganization", rmUpdateOrg(m, f.org.ID, "Taken over"))
		try("deleteOrganization", rmDeleteOrg(m, f.org.ID, f.org.Slug))
		for name, id := range f.mids {
			for _, r := range rmNewRole {
				try("updateMemberRole "+name+" "+string(r), rmChangeRole(m, id, r))
			}
			try("removeMember "+name, rmRemove(m, id))
			try("transferOwnership to "+name, rmTransfer(m, f.org.ID, id))
		}
		rmWantState(t, e, before, "a MEMBER's attempts")
	})
}

// TestRoleMatrixSameOperation: roles are decided again for every mutation of one
// operation, so a change made by the first is in force for the next, and payloads
// show the new state.
func TestRoleMatrixSameOperation(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		t.Run("ADMIN_demotes_self_then_renames", func(t *testing.T) {
			f := rmNewFixture(t, e, 1)
			before := rmSnapshot(t, e)
			auditBefore, _ := rmAudit(t, f.auditor(), f.org.Slug)
			res := f.users["admin"].Do(`mutation($self: ID!, $org: ID!) {
				a: updateMemberRole(input: {memberId: $self, role: MEMBER}) {
					member { role organization { viewerRole viewerCan { updateSettings manageMembers leave } } } }
				b: updateOrganization(input: {organizationId: $org, name: "After demotion"}) { organization { name } }
			}`, map[string]any{"self": f.mids["admin"], "org": f.org.ID})
			if len(res.Errors) != 1 || res.Errors[0].Code() != "FORBIDDEN" || res.Errors[0].Reason() != "INSUFFICIENT_ROLE" ||
				fmt.Sprint(res.Errors[0].Path) != "[b]" {
				t.Fatalf("want only b refused with FORBIDDEN/INSUFFICIENT_ROLE: %s", res.Raw)
			}
			want := before.clone()
			want.setRole(t, f.mids["admin"], role.Member)
			want.addEvent(f.org.ID)
			rmWantState(t, e, want, "demotion then rename")
			rmWantOneEvent(t, f.auditor(), f.org.Slug, auditBefore, rmWantEvent{
				Type: "MEMBER_ROLE_CHANGED", MemberID: f.mids["admin"], OldRole: "ADMIN", NewRole: "MEMBER",
			})
			// The payload of a, alone, shows the new role.
			f2 := rmNewFixture(t, e, 1)
			var d struct {
				A struct {
					Member struct {
						Role         string
						Organization struct {
							ViewerRole string
							ViewerCan  rmPerms
						}
					}
				}
			}
			f2.users["admin"].Do(`mutation($self: ID!) {
				a: updateMemberRole(input: {memberId: $self, role: MEMBER}) {
					member { role organization { viewerRole viewerCan { updateSettings inviteMembers viewInvitations viewAuditLog manageMembers manageOwners manageApplications transferOwnership deleteOrganization leave } } } }
			}`, map[string]any{"self": f2.mids["admin"]}).OK(t, &d)
			if d.A.Member.Role != "MEMBER" || d.A.Member.Organization.ViewerRole != "MEMBER" || d.A.Member.Organization.ViewerCan != rmPermsTable[role.Member][1] {
				t.Errorf("payload after demoting oneself = %+v, want MEMBER everywhere", d.A.Member)
			}
		})
		t.Run("OWNER_transfers_then_deletes", func(t *testing.T) {
			f := rmNewFixture(t, e, 1)
			before := rmSnapshot(t, e)
			res := f.users["owner"].Do(`mutation($org: ID!, $to: ID!, $slug: String!) {
				t: transferOwnership(input: {organizationId: $org, memberId: $to}) { organization { viewerRole } }
				d: deleteOrganization(input: {organizationId: $org, confirmSlug: $slug}) { deletedOrganizationId }
			}`, map[string]any{"org": f.org.ID, "to": f.mids["member"], "slug": f.org.Slug})
			if len(res.Errors) != 1 || res.Errors[0].Code() != "FORBIDDEN" || res.Errors[0].Reason() != "INSUFFICIENT_ROLE" ||
				fmt.Sprint(res.Errors[0].Path) != "[d]" {
				t.Fatalf("want only d refused with FORBIDDEN/INSUFFICIENT_ROLE: %s", res.Raw)
			}
			want := before.clone()
			want.setRole(t, f.mids["member"], role.Owner)
			want.setRole(t, f.mids["owner"], role.Admin)
			want.addEvent(f.org.ID)
			rmWantState(t, e, want, "transfer then delete")
		})
		t.Run("OWNER_removes_admin_who_then_acts", func(t *testing.T) {
			// Two operations of two users, interleaved: the removed admin's next
			// request is decided on the membership table, not on anything cached.
			f := rmNewFixture(t, e, 1)
			admin := f.users["admin"]
			rmView(t, admin, f.org.Slug) // the admin has read the organization before
			rmRemove(f.users["owner"].Client, f.mids["admin"]).OK(t, nil)
			before := rmSnapshot(t, e)
			rmUpdateOrg(admin.Client, f.org.ID, "Too late").Fails(t, "NOT_FOUND", "")
			rmRemove(admin.Client, f.mids["member"]).Fails(t, "NOT_FOUND", "")
			rmWantState(t, e, before, "a removed admin's requests")
		})
	})
}

// --- tenant isolation ---

// TestIsolationBetweenOrganizations: a member of A, even its OWNER, cannot read or
// change anything of B: reads are null without an error, mutations NOT_FOUND
// (never FORBIDDEN, which would confirm that B exists), and nothing changes. A
// nonexistent ID gets the very same answer.
func TestIsolationBetweenOrganizations(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		a := rmNewFixture(t, e, 1)
		b := rmNewFixture(t, e, 2)
		_, bEvents := rmAudit(t, b.auditor(), b.org.Slug)
		bIDs := []string{b.org.ID, bEvents[0].ID}
		var bMembers []string
		for _, name := range []string{"owner", "owner2", "admin", "member"} {
			bMembers = append(bMembers, b.mids[name])
			bIDs = append(bIDs, b.mids[name])
		}
		fakeOrg, fakeMember := ids.New(ids.Organization), ids.New(ids.Member)
		before := rmSnapshot(t, e)

		for _, name := range []string{"owner", "admin", "member"} {
			t.Run("A_"+name, func(t *testing.T) {
				u := a.users[name]
				c := u.Client
				// Reads.
				for _, slug := range []string{b.org.Slug, strings.ToUpper(b.org.Slug)} {
					res := c.Do(rmQOrgOnly, map[string]any{"slug": slug}).OK(t, nil)
					if o := res.Get(t, "organization"); o != nil {
						t.Errorf("organization(slug: %q) = %v, want null", slug, o)
					}
				}
				for _, id := range bIDs {
					if n := c.Do(rmQNode, map[string]any{"id": id}).OK(t, nil).Get(t, "node"); n != nil {
						t.Errorf("node(%s) = %v, want null", id, n)
					}
				}
				res := c.Do(rmQNodes, map[string]any{"ids": append(append([]string{}, bIDs...), a.org.ID)}).OK(t, nil)
				nodes, _ := res.Get(t, "nodes").([]any)
				if len(nodes) != len(bIDs)+1 || nodes[len(bIDs)] == nil {
					t.Fatalf("nodes = %s, want %d nulls and then A", res.Raw, len(bIDs))
				}
				for i := range bIDs {
					if nodes[i] != nil {
						t.Errorf("nodes[%d] (%s) = %v, want null", i, bIDs[i], nodes[i])
					}
				}

				// Mutations: NOT_FOUND, exactly like for IDs that do not exist.
				notFound := func(what string, res, fake *testenv.Response) {
					t.Helper()
					if len(res.Errors) == 0 || res.Errors[0].Code() != "NOT_FOUND" {
						t.Errorf("%s on B: want NOT_FOUND, got %s", what, res.Raw)
						return
					}
					if fake != nil && (len(fake.Errors) == 0 || res.Errors[0].Message != fake.Errors[0].Message || res.Errors[0].Reason() != fake.Errors[0].Reason()) {
						t.Errorf("%s: B's answer %s differs from a nonexistent ID's %s", what, res.Raw, fake.Raw)
					}
				}
				notFound("updateOrganization", rmUpdateOrg(c, b.org.ID, "Mine"), rmUpdateOrg(c, fakeOrg, "Mine"))
				notFound("deleteOrganization", rmDeleteOrg(c, b.org.ID, b.org.Slug), rmDeleteOrg(c, fakeOrg, b.org.Slug))
				notFound("leaveOrganization", rmLeave(c, b.org.ID), rmLeave(c, fakeOrg))
				notFound("setActiveOrganization", rmSetActive(c, b.org.ID), rmSetActive(c, fakeOrg))
				for _, mid := range bMembers {
					for _, r := range rmNewRole {
						notFound("updateMemberRole "+string(r), rmChangeRole(c, mid, r), rmChangeRole(c, fakeMember, r))
					}
					notFound("removeMember", rmRemove(c, mid), rmRemove(c, fakeMember))
					notFound("transferOwnership (B, B's member)", rmTransfer(c, b.org.ID, mid), rmTransfer(c, fakeOrg, mid))
					// A's organization with B's member: for A's owner the member is not
					// in A (NOT_FOUND); A's admin and member lack the role in A, and
					// must get exactly the answer a nonexistent member gets.
					res, fake := rmTransfer(c, a.org.ID, mid), rmTransfer(c, a.org.ID, fakeMember)
					if name == "owner" {
						notFound("transferOwnership (A, B's member)", res, fake)
					} else if len(res.Errors) == 0 || len(fake.Errors) == 0 || res.Errors[0].Code() != fake.Errors[0].Code() ||
						res.Errors[0].Reason() != fake.Errors[0].Reason() || res.Errors[0].Message != fake.Errors[0].Message {
						t.Errorf("transferOwnership (A, B's member) = %s; with a nonexistent member: %s", res.Raw, fake.Raw)
					}
				}
			})
		}
		rmWantState(t, e, before, "attempts across organizations")
	})
}

// --- revocation ---

// TestRevokedOnRemovalAndLeave: a member whose active organization is A and who is
// removed (or leaves) loses A at once: no active organization, no organization by
// slug or ID, and every mutation on A is NOT_FOUND.
func TestRevokedOnRemovalAndLeave(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		for _, how := range []string{"removed", "left"} {
			for _, r := range []role.Role{role.Admin, role.Member} {
				t.Run(how+"_"+string(r), func(t *testing.T) {
					f := rmNewFixture(t, e, 2)
					name := rmActorName(r)
					u := f.users[name]
					// A second session of the same user, also working in A.
					other := e.Client()
					other.Token = acctSignIn(e.Client(), u.Email, u.Password).OK(t, nil).Str(t, "signIn.token")
					for _, c := range []*testenv.Client{u.Client, other} {
						rmSetActive(c, f.org.ID).OK(t, nil)
						if got := c.Do(rmQActive, nil).OK(t, nil).Get(t, "viewer.activeOrganization.id"); got != f.org.ID {
							t.Fatalf("active organization = %v, want %s", got, f.org.ID)
						}
					}
					if how == "removed" {
						rmRemove(f.users["owner"].Client, f.mids[name]).OK(t, nil)
					} else {
						rmLeave(u.Client, f.org.ID).OK(t, nil)
					}
					before := rmSnapshot(t, e)
					for i, c := range []*testenv.Client{u.Client, other} {
						res := c.Do(rmQActive, nil).OK(t, nil)
						if got := res.Get(t, "viewer.activeOrganization"); got != nil {
							t.Errorf("session %d: activeOrganization = %v, want null", i, got)
						}
						if orgs := fmt.Sprint(res.Get(t, "viewer.organizations")); strings.Contains(orgs, f.org.ID) {
							t.Errorf("session %d: organizations still lists A: %s", i, orgs)
						}
						if o := c.Do(rmQOrgOnly, map[string]any{"slug": f.org.Slug}).OK(t, nil).Get(t, "organization"); o != nil {
							t.Errorf("session %d: organization(slug) = %v, want null", i, o)
						}
						res = c.Do(rmQNodes, map[string]any{"ids": []string{f.org.ID, f.mids[name], f.mids["owner"]}}).OK(t, nil)
						for j, n := range res.Get(t, "nodes").([]any) {
							if n != nil {
								t.Errorf("session %d: nodes[%d] = %v, want null", i, j, n)
							}
						}
						want := func(what string, res *testenv.Response) {
							t.Helper()
							if len(res.Errors) == 0 || res.Errors[0].Code() != "NOT_FOUND" {
								t.Errorf("session %d: %s after being %s: want NOT_FOUND, got %s", i, what, how, res.Raw)
							}
						}
						want("updateOrganization", rmUpdateOrg(c, f.org.ID, "Still here"))
						want("deleteOrganization", rmDeleteOrg(c, f.org.ID, f.org.Slug))
						want("leaveOrganization", rmLeave(c, f.org.ID))
						want("setActiveOrganization", rmSetActive(c, f.org.ID))
						want("updateMemberRole", rmChangeRole(c, f.mids["member2"], role.Admin))
						want("updateMemberRole of self", rmChangeRole(c, f.mids[name], role.Admin))
						want("removeMember", rmRemove(c, f.mids["member2"]))
						want("transferOwnership", rmTransfer(c, f.org.ID, f.mids["member2"]))
					}
					rmWantState(t, e, before, "attempts of a former member")
				})
			}
		}
	})
}

// --- unauthenticated ---

// TestRoleMatrixUnauthenticated: without a session every organization mutation is
// UNAUTHENTICATED and changes nothing.
func TestRoleMatrixUnauthenticated(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		f := rmNewFixture(t, e, 2)
		before := rmSnapshot(t, e)
		anon := e.Client()
		bogus := e.Client()
		bogus.Token = "not-a-session-token"
		for i, c := range []*testenv.Client{anon, bogus} {
			want := func(what string, res *testenv.Response) {
				t.Helper()
				if len(res.Errors) == 0 || res.Errors[0].Code() != "UNAUTHENTICATED" {
					t.Errorf("client %d: %s: want UNAUTHENTICATED, got %s", i, what, res.Raw)
				}
			}
			want("createOrganization", c.Do(rmMCreateOrg, rmIn("name", "Anon", "slug", "anon-org")))
			want("updateOrganization", rmUpdateOrg(c, f.org.ID, "Anon"))
			want("deleteOrganization", rmDeleteOrg(c, f.org.ID, f.org.Slug))
			want("setActiveOrganization", rmSetActive(c, f.org.ID))
			want("setActiveOrganization(null)", c.Do(rmMSetActive, rmIn("organizationId", nil)))
			want("updateMemberRole", rmChangeRole(c, f.mids["member"], role.Admin))
			want("removeMember", rmRemove(c, f.mids["member"]))
			want("leaveOrganization", rmLeave(c, f.org.ID))
			want("transferOwnership", rmTransfer(c, f.org.ID, f.mids["member"]))
			// Reads: nothing of the organization, and no error that says it exists.
			if res := c.Do(rmQOrgOnly, map[string]any{"slug": f.org.Slug}); len(res.Errors) > 0 && res.Errors[0].Code() != "UNAUTHENTICATED" ||
				len(res.Errors) == 0 && res.Get(t, "organization") != nil {
				t.Errorf("client %d: organization(slug) = %s, want null or UNAUTHENTICATED", i, res.Raw)
			}
			if res := c.Do(rmQNodes, map[string]any{"ids": []string{f.org.ID, f.mids["owner"]}}); len(res.Errors) > 0 && res.Errors[0].Code() != "UNAUTHENTICATED" ||
				len(res.Errors) == 0 && fmt.Sprint(res.Get(t, "nodes")) != "[<nil> <nil>]" {
				t.Errorf("client %d: nodes = %s, want nulls or UNAUTHENTICATED", i, res.Raw)
			}
		}
		rmWantState(t, e, before, "unauthenticated attempts")
	})
}
