package graph_test

// Tests of invitations (issue 4) through the real HTTP handler, on SQLite and, with
// ORGQL_TEST_MYSQL_DSN, on MariaDB/MySQL: inviting (one and many), the email, the
// token, the public preview, accepting (by token, by inbox ID, at sign-up),
// rejecting, canceling, resending, the Invitation type, the organization's
// invitation list, the viewer's inbox and the audit log. Every refusal is also
// checked to change nothing. Identifiers of this file start with "inv".

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/emailmessage"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/session"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/app"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/mail"
	"github.com/orgql/orgql/internal/mail/mailtest"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
	"github.com/orgql/orgql/internal/viewer"
)

// ---------------------------------------------------------------------------
// Operations

const invFields = `id email role status inviter { id name } inviterName createdAt expiresAt lastSentAt respondedAt
	organization { id } organizationName organizationLogoUrl`

const (
	invMInvite = `mutation($in: InviteMemberInput!) { inviteMember(input: $in) { invitation { ` + invFields + ` } } }`

	invMInviteMany = `mutation($in: InviteMembersInput!) { inviteMembers(input: $in) {
		invitedCount results { email error { code reason message } invitation { ` + invFields + ` } } } }`

	invMAccept = `mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) {
		member { id role user { id email } organization { id viewerRole } }
		invitation { id status respondedAt }
		organization { id name viewerRole } } }`

	invMReject = `mutation($in: RejectInvitationInput!) { rejectInvitation(input: $in) { invitationId } }`
	invMCancel = `mutation($in: CancelInvitationInput!) { cancelInvitation(input: $in) { invitation { ` + invFields + ` } } }`
	invMResend = `mutation($in: ResendInvitationInput!) { resendInvitation(input: $in) { invitation { ` + invFields + ` } } }`

	invQPreview = `query($t: String!) { invitationPreview(token: $t) {
		organizationName organizationLogoUrl inviterName role email expiresAt accountExists } }`

	invQList = `query($id: ID!, $status: InvitationStatus, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
		node(id: $id) { ... on Organization { invitations(status: $status, first: $first, after: $after, last: $last, before: $before) {
			totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { cursor node { ` + invFields + ` } } } } } }`

	invQNode   = `query($id: ID!) { node(id: $id) { __typename ... on Invitation { ` + invFields + ` } } }`
	invQInbox  = `{ viewer { id emailVerified pendingInvitations { ` + invFields + ` } } }`
	invQViewer = `{ viewer { id email emailVerified activeOrganization { id } } }`
	invQAudit  = `query($id: ID!) { node(id: $id) { ... on Organization { auditLog(first: 100) {
		edges { node { type actor { id } user { id } memberId oldRole newRole data } } } } } }`
	invQMembers = `query($id: ID!) { node(id: $id) { ... on Organization { memberCount members(first: 100) { edges { node { role user { id email } } } } } } }`

	invMVerify = `mutation($t: String!) { verifyEmail(input: {token: $t}) { user { emailVerified } } }`
	invMSignUp = `mutation($in: SignUpInput!) { signUp(input: $in) {
		token user { id email emailVerified } membership { id role user { id } organization { id viewerRole } } } }`
	invMSignIn = `mutation($in: SignInInput!) { signIn(input: $in) { token } }`
	invMUpdate = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { organization { id logoUrl } } }`
)

// invPortal is the public app URL of the test environment (testenv sets it).
const invPortal = "https://portal.example.test"

// invCDN is the BaseURL (logo URLs) of environments that check logos.
const invCDN = "https://cdn.example.test"

// ---------------------------------------------------------------------------
// Types

type invInvitation struct {
	ID, Email, Role, Status string
	Inviter                 *struct{ ID, Name string }
	InviterName             *string
	CreatedAt, ExpiresAt    time.Time
	LastSentAt              time.Time
	RespondedAt             *time.Time
	Organization            *struct{ ID string }
	OrganizationName        string
	OrganizationLogoURL     *string
}

type invPreviewT struct {
	OrganizationName    string
	OrganizationLogoURL *string
	InviterName         *string
	Role                string
	Email               string
	ExpiresAt           time.Time
	AccountExists       bool
}

type invAcceptT struct {
	AcceptInvitation struct {
		Member struct {
			ID, Role     string
			User         struct{ ID, Email string }
			Organization struct{ ID, ViewerRole string }
		}
		Invitation struct {
			ID, Status  string
			RespondedAt *time.Time
		}
		Organization struct{ ID, Name, ViewerRole string }
	}
}

type invResult struct {
	Email string
	Error *struct {
		Code    string
		Reason  *string
		Message string
	}
	Invitation *invInvitation
}

type invConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   invInvitation
	}
}

type invAuditEvent struct {
	Type     string
	Actor    *struct{ ID string }
	User     *struct{ ID string }
	MemberID *string
	OldRole  *string
	NewRole  *string
	Data     *string
}

// ---------------------------------------------------------------------------
// Environment and fixture

// invLongSessions keeps sessions alive across the week-long clock jumps that expire
// invitations (the default idle timeout is also a week).
var invLongSessions = testenv.WithConfig(func(c *config.Config) {
	c.SessionIdleTimeout = 400 * 24 * time.Hour
	c.SessionMaxAge = 400 * 24 * time.Hour
})

// invEach runs fn on every database with long sessions and the given options.
func invEach(t *testing.T, fn func(t *testing.T, e *testenv.Env), opts ...testenv.Option) {
	t.Helper()
	testenv.Each(t, fn, append([]testenv.Option{invLongSessions}, opts...)...)
}

// invFix is an organization with one user of each kind.
type invFix struct {
	e                              *testenv.Env
	org                            *testenv.Org
	owner, admin, member, outsider *testenv.User
}

func invSetup(t *testing.T, e *testenv.Env) *invFix {
	t.Helper()
	f := &invFix{e: e}
	f.owner = e.SignUp("Olivia Owner")
	f.admin = e.SignUp("Adam Admin")
	f.member = e.SignUp("Mia Member")
	f.outsider = e.SignUp("Otto Outsider")
	f.org = e.CreateOrg(f.owner, "Acme Labs", "acme-labs")
	e.AddMember(f.org, f.admin, role.Admin)
	e.AddMember(f.org, f.member, role.Member)
	return f
}

// invSeq makes invited addresses unique within the process.
var invSeqN atomic.Int64

func invSeq() int64 { return invSeqN.Add(1) }

// invAddr returns a fresh address for someone without an account.
func invAddr(name string) string { return fmt.Sprintf("%s-inv%d@example.com", name, invSeq()) }

// invSignUpAs signs up an account with exactly this email address.
func invSignUpAs(t testing.TB, e *testenv.Env, email, name string) *testenv.User {
	t.Helper()
	c := e.Client()
	res := c.Do(invMSignUp, map[string]any{"in": map[string]any{"email": email, "password": testenv.DefaultPassword, "name": name}}).OK(t, nil)
	c.Token = res.Str(t, "signUp.token")
	return &testenv.User{Client: c, ID: res.Str(t, "signUp.user.id"), Email: res.Str(t, "signUp.user.email"), Name: name, Password: testenv.DefaultPassword}
}

// invSignIn opens another session of u (another browser).
func invSignIn(t testing.TB, e *testenv.Env, u *testenv.User) *testenv.Client {
	t.Helper()
	c := e.Client()
	res := c.Do(invMSignIn, map[string]any{"in": map[string]any{"email": u.Email, "password": u.Password}}).OK(t, nil)
	c.Token = res.Str(t, "signIn.token")
	return c
}

// invVerify verifies u's address through the mailed verification link.
func invVerify(t testing.TB, e *testenv.Env, u *testenv.User) {
	t.Helper()
	tok := invLinkToken(t, e, u.Email, "/verify-email")
	var out struct {
		VerifyEmail struct{ User struct{ EmailVerified bool } }
	}
	e.Client().Do(invMVerify, map[string]any{"t": tok}).OK(t, &out)
	if !out.VerifyEmail.User.EmailVerified {
		t.Fatalf("verifyEmail did not verify %s", u.Email)
	}
}

// ---------------------------------------------------------------------------
// Mail

// invMailsTo returns the invitation emails sent to addr, oldest first.
func invMailsTo(t testing.TB, e *testenv.Env, addr string) []mail.Message {
	t.Helper()
	var out []mail.Message
	for _, m := range e.Mail.To(addr) {
		if strings.Contains(m.Text, invPortal+"/accept-invitation?") {
			out = append(out, m)
		}
	}
	return out
}

// invLinkToken returns the token of the newest email to addr with a link to
// invPortal+path.
func invLinkToken(t testing.TB, e *testenv.Env, addr, path string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(invPortal+path) + `\?token=([^\s"<>&]+)`)
	msgs := e.Mail.To(addr)
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(msgs[i].Text); m != nil {
			tok, err := url.QueryUnescape(m[1])
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
	}
	t.Fatalf("no email to %s with a %s link (of %d emails)", addr, path, len(msgs))
	return ""
}

// invToken returns the token of the newest invitation email to addr.
func invToken(t testing.TB, e *testenv.Env, addr string) string {
	t.Helper()
	return invLinkToken(t, e, addr, "/accept-invitation")
}

var invTokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// ---------------------------------------------------------------------------
// Operations as helpers

func invInviteRes(c *testenv.Client, orgID, email, r string) *testenv.Response {
	return c.Do(invMInvite, map[string]any{"in": map[string]any{"organizationId": orgID, "email": email, "role": r}})
}

// invite invites email as c and returns the invitation and the token of its email.
func (f *invFix) invite(t testing.TB, c *testenv.Client, email, r string) (invInvitation, string) {
	t.Helper()
	var out struct {
		InviteMember struct{ Invitation invInvitation }
	}
	invInviteRes(c, f.org.ID, email, r).OK(t, &out)
	inv := out.InviteMember.Invitation
	return inv, invToken(t, f.e, inv.Email)
}

func invAcceptRes(c *testenv.Client, in map[string]any) *testenv.Response {
	return c.Do(invMAccept, map[string]any{"in": in})
}

func invAcceptTok(c *testenv.Client, tok string) *testenv.Response {
	return invAcceptRes(c, map[string]any{"token": tok})
}

func invCancelRes(c *testenv.Client, id string) *testenv.Response {
	return c.Do(invMCancel, map[string]any{"in": map[string]any{"invitationId": id}})
}

func invResendRes(c *testenv.Client, id string, r string) *testenv.Response {
	in := map[string]any{"invitationId": id}
	if r != "" {
		in["role"] = r
	}
	return c.Do(invMResend, map[string]any{"in": in})
}

func invRejectRes(c *testenv.Client, in map[string]any) *testenv.Response {
	return c.Do(invMReject, map[string]any{"in": in})
}

// invPreview returns the preview of tok as an anonymous visitor, nil when null.
func invPreview(t testing.TB, e *testenv.Env, tok string) *invPreviewT {
	t.Helper()
	var out struct{ InvitationPreview *invPreviewT }
	e.Client().Do(invQPreview, map[string]any{"t": tok}).OK(t, &out)
	return out.InvitationPreview
}

// invWantLive fails unless tok still previews (the link works).
func invWantLive(t testing.TB, e *testenv.Env, tok, what string) {
	t.Helper()
	if invPreview(t, e, tok) == nil {
		t.Fatalf("%s: the invitation link no longer works", what)
	}
}

// invWantDead fails unless tok previews as null.
func invWantDead(t testing.TB, e *testenv.Env, tok, what string) {
	t.Helper()
	if p := invPreview(t, e, tok); p != nil {
		t.Fatalf("%s: the invitation link still previews: %+v", what, p)
	}
}

func invList(t testing.TB, c *testenv.Client, orgID string, vars map[string]any) invConn {
	t.Helper()
	v := map[string]any{"id": orgID}
	for k, x := range vars {
		v[k] = x
	}
	var out struct {
		Node *struct{ Invitations *invConn }
	}
	c.Do(invQList, v).OK(t, &out)
	if out.Node == nil || out.Node.Invitations == nil {
		t.Fatalf("no invitation list for %s", orgID)
	}
	return *out.Node.Invitations
}

// invGet returns invitation id from the organization's list as seen by c (an
// owner or admin).
func invGet(t testing.TB, c *testenv.Client, orgID, id string) invInvitation {
	t.Helper()
	for _, ed := range invList(t, c, orgID, map[string]any{"first": 100}).Edges {
		if ed.Node.ID == id {
			return ed.Node
		}
	}
	t.Fatalf("invitation %s is not in the organization's list", id)
	return invInvitation{}
}

// invStatusInList returns the status of invitation id in the admin's list.
func invStatusInList(t testing.TB, c *testenv.Client, orgID, id string) string {
	t.Helper()
	for _, ed := range invList(t, c, orgID, map[string]any{"first": 100}).Edges {
		if ed.Node.ID == id {
			return ed.Node.Status
		}
	}
	t.Fatalf("invitation %s is not in the organization's list", id)
	return ""
}

func invNode(t testing.TB, c *testenv.Client, id string) *invInvitation {
	t.Helper()
	var out struct {
		Node *struct {
			Typename string `json:"__typename"`
			invInvitation
		}
	}
	c.Do(invQNode, map[string]any{"id": id}).OK(t, &out)
	if out.Node == nil {
		return nil
	}
	if out.Node.Typename != "Invitation" {
		t.Fatalf("node(%s) is a %s", id, out.Node.Typename)
	}
	inv := out.Node.invInvitation
	return &inv
}

type invViewer struct {
	ID, Email          string
	EmailVerified      bool
	ActiveOrganization *struct{ ID string }
}

func invWhoAmI(t testing.TB, c *testenv.Client) invViewer {
	t.Helper()
	var out struct{ Viewer *invViewer }
	c.Do(invQViewer, nil).OK(t, &out)
	if out.Viewer == nil {
		t.Fatal("viewer is null")
	}
	return *out.Viewer
}

func invInbox(t testing.TB, c *testenv.Client) []invInvitation {
	t.Helper()
	var out struct {
		Viewer struct{ PendingInvitations []invInvitation }
	}
	c.Do(invQInbox, nil).OK(t, &out)
	return out.Viewer.PendingInvitations
}

func invAudit(t testing.TB, c *testenv.Client, orgID string) []invAuditEvent {
	t.Helper()
	var out struct {
		Node *struct {
			AuditLog *struct {
				Edges []struct{ Node invAuditEvent }
			}
		}
	}
	c.Do(invQAudit, map[string]any{"id": orgID}).OK(t, &out)
	if out.Node == nil || out.Node.AuditLog == nil {
		t.Fatalf("no audit log for %s", orgID)
	}
	var evs []invAuditEvent
	for _, ed := range out.Node.AuditLog.Edges {
		evs = append(evs, ed.Node)
	}
	return evs
}

// invMemberRole returns the role of userID in orgID from the database, "" if none.
func invMemberRole(t testing.TB, e *testenv.Env, orgID, userID string) string {
	t.Helper()
	ms, err := e.App.DB.Client.Member.Query().
		Where(member.OrganizationID(orgID), member.UserID(userID)).All(invSys())
	if err != nil {
		t.Fatal(err)
	}
	switch len(ms) {
	case 0:
		return ""
	case 1:
		return string(ms[0].Role)
	}
	t.Fatalf("%d memberships of %s in %s", len(ms), userID, orgID)
	return ""
}

// ---------------------------------------------------------------------------
// Database state

func invSys() context.Context { return viewer.System(context.Background()) }

// invDB returns the stored invitation.
func invDB(t testing.TB, e *testenv.Env, id string) *ent.Invitation {
	t.Helper()
	inv, err := e.App.DB.Client.Invitation.Get(invSys(), id)
	if err != nil {
		t.Fatalf("reading invitation %s: %v", id, err)
	}
	return inv
}

// invSnap is what a refused operation must leave as it was.
type invSnap struct {
	Users, Members, Invitations, Events, Emails, Verified, ActiveSessions int
	// State lists every invitation's status, role, token hash, expiry and
	// pending-address slot.
	State string
}

func invSnapshot(t testing.TB, e *testenv.Env) invSnap {
	t.Helper()
	ctx := invSys()
	db := e.App.DB.Client
	n := func(k int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatalf("counting rows: %v", err)
		}
		return k
	}
	invs, err := db.Invitation.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, i := range invs {
		pe := "-"
		if i.PendingEmail != nil {
			pe = *i.PendingEmail
		}
		rows = append(rows, fmt.Sprintf("%s:%s:%s:%s:%s:%s:%s", i.ID, i.Status, i.Role, i.TokenHash,
			i.ExpiresAt.UTC().Format(time.RFC3339Nano), i.LastSentAt.UTC().Format(time.RFC3339Nano), pe))
	}
	sort.Strings(rows)
	return invSnap{
		Users:          n(db.User.Query().Count(ctx)),
		Members:        n(db.Member.Query().Count(ctx)),
		Invitations:    len(invs),
		Events:         n(db.Event.Query().Count(ctx)),
		Emails:         n(db.EmailMessage.Query().Count(ctx)),
		Verified:       n(db.User.Query().Where(user.EmailVerifiedAtNotNil()).Count(ctx)),
		ActiveSessions: n(db.Session.Query().Where(session.ActiveOrganizationIDNotNil()).Count(ctx)),
		State:          strings.Join(rows, "\n"),
	}
}

func invUnchanged(t testing.TB, e *testenv.Env, before invSnap, what string) {
	t.Helper()
	if after := invSnapshot(t, e); after != before {
		t.Fatalf("%s changed the database:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// invRefused checks that res failed with code/reason (reason "" accepts any) and
// that the database is as in before.
func invRefused(t testing.TB, e *testenv.Env, res *testenv.Response, before invSnap, code, reason, what string) testenv.Error {
	t.Helper()
	if len(res.Errors) == 0 {
		t.Fatalf("%s: want %s/%s, got success: %s", what, code, reason, res.Raw)
	}
	err := res.Errors[0]
	if err.Code() != code || (reason != "" && err.Reason() != reason) {
		t.Fatalf("%s: want %s/%s, got %s/%s: %s", what, code, reason, err.Code(), err.Reason(), res.Raw)
	}
	invUnchanged(t, e, before, what)
	return err
}

// invRefusedAny checks that res failed with one of codes and changed nothing.
func invRefusedAny(t testing.TB, e *testenv.Env, res *testenv.Response, before invSnap, what string, codes ...string) testenv.Error {
	t.Helper()
	if len(res.Errors) == 0 {
		t.Fatalf("%s: want one of %v, got success: %s", what, codes, res.Raw)
	}
	err := res.Errors[0]
	if !slices.Contains(codes, err.Code()) {
		t.Fatalf("%s: want one of %v, got %s/%s: %s", what, codes, err.Code(), err.Reason(), res.Raw)
	}
	invUnchanged(t, e, before, what)
	return err
}

// invEventsSince returns the organization's events with a sequence above after.
func invEventsSince(t testing.TB, e *testenv.Env, orgID string, after int64) []*ent.Event {
	t.Helper()
	evs, err := e.App.DB.Client.Event.Query().
		Where(event.OrganizationID(orgID), event.SequenceGT(after)).
		Order(ent.Asc(event.FieldSequence)).All(invSys())
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// invLastSeq returns the organization's newest event sequence.
func invLastSeq(t testing.TB, e *testenv.Env, orgID string) int64 {
	t.Helper()
	evs, err := e.App.DB.Client.Event.Query().
		Where(event.OrganizationID(orgID)).
		Order(ent.Desc(event.FieldSequence)).Limit(1).All(invSys())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return -1
	}
	return evs[0].Sequence
}

// invWantEvents checks that the organization's events after seq are exactly types,
// each naming invitationID (MEMBER_JOINED too), and returns them.
func invWantEvents(t testing.TB, e *testenv.Env, orgID string, seq int64, invitationID string, types ...string) []*ent.Event {
	t.Helper()
	evs := invEventsSince(t, e, orgID, seq)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Type)
	}
	if !slices.Equal(got, types) {
		t.Fatalf("events after #%d = %v, want %v", seq, got, types)
	}
	for _, ev := range evs {
		if ev.InvitationID == nil || *ev.InvitationID != invitationID {
			t.Errorf("event %s names invitation %v, want %s", ev.Type, ev.InvitationID, invitationID)
		}
	}
	return evs
}

func invStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// invSame compares timestamps to the microsecond, the precision MySQL stores.
func invSame(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

// invNear fails unless got is within d of want.
func invNear(t testing.TB, what string, got, want time.Time, d time.Duration) {
	t.Helper()
	if diff := got.Sub(want); diff < -d || diff > d {
		t.Errorf("%s = %s, want about %s (±%s)", what, got.UTC().Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano), d)
	}
}

// invWantRetryAfter checks extensions.retryAfter: positive, at most max seconds.
func invWantRetryAfter(t testing.TB, err testenv.Error, max float64) {
	t.Helper()
	ra, ok := err.Extensions["retryAfter"].(float64)
	if !ok || ra <= 0 || ra > max {
		t.Errorf("extensions.retryAfter = %v, want 1..%v seconds", err.Extensions["retryAfter"], max)
	}
}

// invPNG is a small PNG logo.
func invPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 16), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// invUploadLogo uploads a logo as c and returns the organization's logoUrl.
func invUploadLogo(t testing.TB, e *testenv.Env, c *testenv.Client, orgID string) string {
	t.Helper()
	ops, _ := json.Marshal(map[string]any{"query": invMUpdate, "variables": map[string]any{"in": map[string]any{"organizationId": orgID, "logo": nil}}})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0":["variables.in.logo"]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="0"; filename="logo.png"`)
	h.Set("Content-Type", "image/png")
	part, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = part.Write(invPNG(t))
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("GraphQL-Require-Preflight", "1")
	res := c.Send(req).OK(t, nil)
	return res.Str(t, "updateOrganization.organization.logoUrl")
}

// ---------------------------------------------------------------------------
// inviteMember

func TestInviteMember(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)

		for _, tc := range []struct {
			who  string
			as   *testenv.User
			role string
		}{{"owner", f.owner, "MEMBER"}, {"admin", f.admin, "ADMIN"}, {"owner invites an admin", f.owner, "ADMIN"}, {"admin invites a member", f.admin, "MEMBER"}} {
			t.Run(tc.who, func(t *testing.T) {
				addr := invAddr("new")
				seq := invLastSeq(t, e, f.org.ID)
				start := e.Now()
				inv, tok := f.invite(t, tc.as.Client, addr, tc.role)
				if inv.Email != addr || inv.Role != tc.role || inv.Status != "PENDING" {
					t.Errorf("invitation = %+v", inv)
				}
				if inv.Inviter == nil || inv.Inviter.ID != tc.as.ID || invStr(inv.InviterName) != tc.as.Name {
					t.Errorf("inviter = %+v / %s, want %s", inv.Inviter, invStr(inv.InviterName), tc.as.Name)
				}
				if inv.Organization == nil || inv.Organization.ID != f.org.ID || inv.OrganizationName != "Acme Labs" {
					t.Errorf("organization = %+v %q", inv.Organization, inv.OrganizationName)
				}
				if inv.OrganizationLogoURL != nil || inv.RespondedAt != nil {
					t.Errorf("logo %v, respondedAt %v: want null", inv.OrganizationLogoURL, inv.RespondedAt)
				}
				invNear(t, "createdAt", inv.CreatedAt, start, 5*time.Second)
				invNear(t, "lastSentAt", inv.LastSentAt, start, 5*time.Second)
				if !inv.ExpiresAt.Equal(inv.LastSentAt.Add(7 * 24 * time.Hour)) {
					t.Errorf("expiresAt %s, want lastSentAt %s + 7 days", inv.ExpiresAt, inv.LastSentAt)
				}
				if !invTokenShape.MatchString(tok) {
					t.Errorf("token %q is not 43 base64url characters", tok)
				}
				if n := len(invMailsTo(t, e, addr)); n != 1 {
					t.Errorf("%d invitation emails to %s, want 1", n, addr)
				}
				evs := invWantEvents(t, e, f.org.ID, seq, inv.ID, "INVITATION_CREATED")
				if invStr(evs[0].ActorID) != tc.as.ID || invStr(evs[0].NewRole) != tc.role {
					t.Errorf("INVITATION_CREATED actor %s newRole %s", invStr(evs[0].ActorID), invStr(evs[0].NewRole))
				}
				db := invDB(t, e, inv.ID)
				if db.Status != invitation.StatusPENDING || string(db.Role) != tc.role || invStr(db.InviterID) != tc.as.ID {
					t.Errorf("stored invitation = %+v", db)
				}
			})
		}

		t.Run("unauthenticated", func(t *testing.T) {
			before := invSnapshot(t, e)
			invRefused(t, e, invInviteRes(e.Client(), f.org.ID, invAddr("x"), "MEMBER"), before, "UNAUTHENTICATED", "", "anonymous inviteMember")
		})
		t.Run("MEMBER is forbidden", func(t *testing.T) {
			before := invSnapshot(t, e)
			addr := invAddr("x")
			invRefused(t, e, invInviteRes(f.member.Client, f.org.ID, addr, "MEMBER"), before, "FORBIDDEN", "INSUFFICIENT_ROLE", "MEMBER inviteMember")
			if n := len(e.Mail.To(addr)); n != 0 {
				t.Errorf("%d emails to %s", n, addr)
			}
		})
		t.Run("non-member gets NOT_FOUND", func(t *testing.T) {
			before := invSnapshot(t, e)
			invRefused(t, e, invInviteRes(f.outsider.Client, f.org.ID, invAddr("x"), "MEMBER"), before, "NOT_FOUND", "", "outsider inviteMember")
		})
		t.Run("OWNER role is not assignable", func(t *testing.T) {
			for _, as := range []*testenv.User{f.owner, f.admin} {
				before := invSnapshot(t, e)
				addr := invAddr("boss")
				invRefused(t, e, invInviteRes(as.Client, f.org.ID, addr, "OWNER"), before, "FORBIDDEN", "ROLE_NOT_ASSIGNABLE", as.Name+" invites an OWNER")
				if n := len(e.Mail.To(addr)); n != 0 {
					t.Errorf("%d emails to %s", n, addr)
				}
			}
		})
		t.Run("email is trimmed and lower-cased", func(t *testing.T) {
			addr := invAddr("mixed.case")
			typed := "  \t" + strings.ToUpper(addr[:5]) + strings.TrimSuffix(addr[5:], "@example.com") + "@Example.COM \n"
			var out struct {
				InviteMember struct{ Invitation invInvitation }
			}
			invInviteRes(f.owner.Client, f.org.ID, typed, "MEMBER").OK(t, &out)
			if got := out.InviteMember.Invitation.Email; got != addr {
				t.Fatalf("email = %q, want %q", got, addr)
			}
			if n := len(invMailsTo(t, e, addr)); n != 1 {
				t.Fatalf("%d invitation emails to %s, want 1", n, addr)
			}
			// The same address in another letter case is the same invitee.
			before := invSnapshot(t, e)
			invRefused(t, e, invInviteRes(f.admin.Client, f.org.ID, strings.ToUpper(addr), "ADMIN"), before, "CONFLICT", "ALREADY_INVITED", "same address upper-cased")
		})
		t.Run("invalid emails", func(t *testing.T) {
			for _, bad := range []string{"", "   ", "not-an-email", "ada@", "@example.com", "ada@localhost", "Ada <ada@example.com>",
				"ada@[127.0.0.1]", "a b@example.com", "ada@example..com", "ada@example.com\r\nBcc: eve@example.com",
				strings.Repeat("a", 250) + "@example.com"} {
				before := invSnapshot(t, e)
				err := invRefused(t, e, invInviteRes(f.owner.Client, f.org.ID, bad, "MEMBER"), before, "BAD_USER_INPUT", "INVALID_EMAIL", fmt.Sprintf("email %q", bad))
				if err.Field() != "input.email" {
					t.Errorf("email %q: extensions.field = %q, want input.email", bad, err.Field())
				}
			}
		})
		t.Run("already a member, any letter case", func(t *testing.T) {
			for _, addr := range []string{f.member.Email, strings.ToUpper(f.member.Email), " " + strings.ToUpper(f.admin.Email[:1]) + f.admin.Email[1:], f.owner.Email} {
				before := invSnapshot(t, e)
				err := invRefused(t, e, invInviteRes(f.admin.Client, f.org.ID, addr, "MEMBER"), before, "CONFLICT", "ALREADY_MEMBER", "inviting member "+addr)
				if err.Field() != "input.email" {
					t.Errorf("%q: extensions.field = %q, want input.email", addr, err.Field())
				}
			}
		})
		t.Run("pending invitation exists", func(t *testing.T) {
			addr := invAddr("pending")
			first, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			for _, tc := range []struct {
				as   *testenv.User
				addr string
				role string
			}{{f.owner, addr, "MEMBER"}, {f.admin, addr, "ADMIN"}, {f.admin, strings.ToUpper(addr), "MEMBER"}} {
				before := invSnapshot(t, e)
				invRefused(t, e, invInviteRes(tc.as.Client, f.org.ID, tc.addr, tc.role), before, "CONFLICT", "ALREADY_INVITED", "second invitation of "+tc.addr)
			}
			if n := len(invMailsTo(t, e, addr)); n != 1 {
				t.Errorf("%d invitation emails to %s, want 1", n, addr)
			}
			// The first invitation is untouched and its link works.
			invWantLive(t, e, tok, "after refused re-invitations")
			if got := invDB(t, e, first.ID); got.Status != invitation.StatusPENDING || got.Role != role.Member {
				t.Errorf("first invitation now %s %s", got.Status, got.Role)
			}
		})
	})
}

func TestInviteMemberAfterExpiry(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := invAddr("late")
		old, oldTok := f.invite(t, f.owner.Client, addr, "MEMBER")
		e.Advance(time.Hour + time.Second)
		if got := invGet(t, f.owner.Client, f.org.ID, old.ID); got.Status != "EXPIRED" {
			t.Fatalf("the old invitation reads %+v, want EXPIRED", got)
		}
		// An expired invitation does not block a new one.
		inv, tok := f.invite(t, f.admin.Client, addr, "ADMIN")
		if inv.ID == old.ID || inv.Status != "PENDING" || tok == oldTok {
			t.Fatalf("new invitation %+v (same token %v)", inv, tok == oldTok)
		}
		if got := invGet(t, f.owner.Client, f.org.ID, old.ID); got.Status != "EXPIRED" {
			t.Errorf("the old invitation reads %+v after the new one, want EXPIRED", got)
		}
		invWantDead(t, e, oldTok, "expired token")
		u := invSignUpAs(t, e, addr, "Late Comer")
		before := invSnapshot(t, e)
		invRefused(t, e, invAcceptTok(u.Client, oldTok), before, "BAD_USER_INPUT", "INVITATION_EXPIRED", "accepting the expired invitation")
		var out invAcceptT
		invAcceptTok(u.Client, tok).OK(t, &out)
		if out.AcceptInvitation.Member.Role != "ADMIN" {
			t.Errorf("joined as %s, want ADMIN", out.AcceptInvitation.Member.Role)
		}
		// Still exactly one pending (now none) and no duplicate slot.
		n, err := e.App.DB.Client.Invitation.Query().
			Where(invitation.OrganizationID(f.org.ID), invitation.Email(addr), invitation.StatusEQ(invitation.StatusPENDING), invitation.ExpiresAtGT(e.Now())).
			Count(invSys())
		if err != nil || n != 0 {
			t.Errorf("%d pending invitations of %s after accepting (%v)", n, addr, err)
		}
	}, testenv.WithConfig(func(c *config.Config) { c.InvitationTTL = time.Hour }))
}

// ---------------------------------------------------------------------------
// Limits

func TestInvitationPendingCap(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		a, _ := f.invite(t, f.owner.Client, invAddr("a"), "MEMBER")
		f.invite(t, f.admin.Client, invAddr("b"), "MEMBER")

		t.Run("at the cap", func(t *testing.T) {
			before := invSnapshot(t, e)
			addr := invAddr("c")
			invRefused(t, e, invInviteRes(f.owner.Client, f.org.ID, addr, "MEMBER"), before, "FORBIDDEN", "LIMIT_REACHED", "third pending invitation")
			if n := len(e.Mail.To(addr)); n != 0 {
				t.Errorf("%d emails to %s", n, addr)
			}
		})
		t.Run("in a batch", func(t *testing.T) {
			before := invSnapshot(t, e)
			var out struct {
				InviteMembers struct {
					InvitedCount int
					Results      []invResult
				}
			}
			f.owner.Do(invMInviteMany, map[string]any{"in": map[string]any{"organizationId": f.org.ID,
				"invitations": []map[string]any{{"email": invAddr("d"), "role": "MEMBER"}}}}).OK(t, &out)
			r := out.InviteMembers.Results
			if out.InviteMembers.InvitedCount != 0 || len(r) != 1 || r[0].Error == nil || r[0].Error.Code != "FORBIDDEN" || invStr(r[0].Error.Reason) != "LIMIT_REACHED" {
				t.Fatalf("inviteMembers at the cap = %+v", out)
			}
			invUnchanged(t, e, before, "batch at the cap")
		})
		t.Run("canceling frees a place", func(t *testing.T) {
			invCancelRes(f.owner.Client, a.ID).OK(t, nil)
			f.invite(t, f.owner.Client, invAddr("e"), "MEMBER")
		})
		t.Run("expired invitations do not count", func(t *testing.T) {
			e.Advance(time.Hour + time.Second)
			f.invite(t, f.owner.Client, invAddr("f"), "MEMBER")
			f.invite(t, f.owner.Client, invAddr("g"), "MEMBER")
		})
		t.Run("resending an expired invitation respects the cap", func(t *testing.T) {
			// Two pending (f, g) and two expired (b, e): reviving one would make three.
			expired := invList(t, f.owner.Client, f.org.ID, map[string]any{"status": "EXPIRED"})
			if len(expired.Edges) == 0 {
				t.Fatal("no expired invitation")
			}
			before := invSnapshot(t, e)
			res := invResendRes(f.owner.Client, expired.Edges[0].Node.ID, "")
			invRefused(t, e, res, before, "FORBIDDEN", "LIMIT_REACHED", "reviving an expired invitation at the cap")
			pending := invList(t, f.owner.Client, f.org.ID, map[string]any{"status": "PENDING"})
			if pending.TotalCount > 2 {
				t.Errorf("%d pending invitations, cap 2", pending.TotalCount)
			}
		})
	}, testenv.WithConfig(func(c *config.Config) {
		c.MaxPendingInvitations = 2
		c.InvitationTTL = time.Hour
	}))
}

func TestInvitationRateLimit(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		a, _ := f.invite(t, f.owner.Client, invAddr("a"), "MEMBER")
		f.invite(t, f.owner.Client, invAddr("b"), "MEMBER")
		// A resend counts too.
		e.Advance(2 * time.Minute)
		invResendRes(f.owner.Client, a.ID, "").OK(t, nil)

		before := invSnapshot(t, e)
		addr := invAddr("c")
		err := invRefused(t, e, invInviteRes(f.owner.Client, f.org.ID, addr, "MEMBER"), before, "RATE_LIMITED", "", "fourth invitation in an hour")
		invWantRetryAfter(t, err, 3600)
		if n := len(e.Mail.To(addr)); n != 0 {
			t.Errorf("%d emails to %s", n, addr)
		}
		e.Advance(2 * time.Minute)
		err = invRefused(t, e, invResendRes(f.owner.Client, a.ID, ""), before, "RATE_LIMITED", "", "resend past the limit")
		invWantRetryAfter(t, err, 3600)

		// The limit is per inviter: the admin still may invite.
		f.invite(t, f.admin.Client, addr, "MEMBER")
	}, testenv.WithConfig(func(c *config.Config) { c.InvitationsPerHour = 3 }))
}

// ---------------------------------------------------------------------------
// inviteMembers

func TestInviteMembers(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		many := func(c *testenv.Client, reqs []map[string]any) *testenv.Response {
			return c.Do(invMInviteMany, map[string]any{"in": map[string]any{"organizationId": f.org.ID, "invitations": reqs}})
		}
		type payload struct {
			InviteMembers struct {
				InvitedCount int
				Results      []invResult
			}
		}

		t.Run("mixed batch", func(t *testing.T) {
			pendingAddr := invAddr("already")
			f.invite(t, f.owner.Client, pendingAddr, "MEMBER")
			ok1, ok2, ok3 := invAddr("ok1"), invAddr("ok2"), invAddr("ok3")
			dup := invAddr("dup")
			reqs := []map[string]any{
				{"email": ok1, "role": "MEMBER"},                              // 0 invited
				{"email": "  " + strings.ToUpper(ok2) + " ", "role": "ADMIN"}, // 1 invited, normalized
				{"email": "not an email", "role": "MEMBER"},                   // 2 invalid
				{"email": strings.ToUpper(f.member.Email), "role": "MEMBER"},  // 3 already a member
				{"email": dup, "role": "MEMBER"},                              // 4 invited
				{"email": strings.ToUpper(dup), "role": "ADMIN"},              // 5 duplicate of 4
				{"email": ok3, "role": "OWNER"},                               // 6 OWNER
				{"email": pendingAddr, "role": "MEMBER"},                      // 7 pending exists
				{"email": ok3, "role": "MEMBER"},                              // 8 invited (6 sent nothing)
			}
			seq := invLastSeq(t, e, f.org.ID)
			var out payload
			many(f.admin.Client, reqs).OK(t, &out)
			r := out.InviteMembers.Results
			if len(r) != len(reqs) {
				t.Fatalf("%d results for %d addresses: %+v", len(r), len(reqs), r)
			}
			want := []struct {
				email        string
				code, reason string
				role         string
			}{
				{ok1, "", "", "MEMBER"},
				{ok2, "", "", "ADMIN"},
				{"not an email", "BAD_USER_INPUT", "INVALID_EMAIL", ""},
				{f.member.Email, "CONFLICT", "ALREADY_MEMBER", ""},
				{dup, "", "", "MEMBER"},
				{dup, "CONFLICT", "ALREADY_INVITED", ""},
				{ok3, "FORBIDDEN", "ROLE_NOT_ASSIGNABLE", ""},
				{pendingAddr, "CONFLICT", "ALREADY_INVITED", ""},
				{ok3, "", "", "MEMBER"},
			}
			var created []string
			for i, w := range want {
				got := r[i]
				if got.Email != w.email {
					t.Errorf("result %d: email %q, want %q (the address as given, normalized when valid)", i, got.Email, w.email)
				}
				if w.code == "" {
					if got.Error != nil || got.Invitation == nil {
						t.Errorf("result %d (%s): want an invitation, got %+v", i, w.email, got)
						continue
					}
					if got.Invitation.Email != w.email || got.Invitation.Role != w.role || got.Invitation.Status != "PENDING" {
						t.Errorf("result %d: invitation %+v", i, got.Invitation)
					}
					created = append(created, got.Invitation.ID)
					continue
				}
				if got.Invitation != nil || got.Error == nil || got.Error.Code != w.code || invStr(got.Error.Reason) != w.reason || got.Error.Message == "" {
					t.Errorf("result %d (%s): want error %s/%s, got %+v (error %+v)", i, w.email, w.code, w.reason, got, got.Error)
				}
			}
			if out.InviteMembers.InvitedCount != 4 {
				t.Errorf("invitedCount = %d, want 4", out.InviteMembers.InvitedCount)
			}
			for _, a := range []string{ok1, ok2, dup, ok3} {
				if n := len(invMailsTo(t, e, a)); n != 1 {
					t.Errorf("%d invitation emails to %s, want 1", n, a)
				}
			}
			if n := len(e.Mail.To(strings.ToLower(f.member.Email))); n != 1 { // the verification email only
				t.Errorf("%d emails to the member, want 1 (verification)", n)
			}
			evs := invEventsSince(t, e, f.org.ID, seq)
			var ids []string
			for _, ev := range evs {
				if ev.Type != "INVITATION_CREATED" {
					t.Errorf("event %s", ev.Type)
				}
				ids = append(ids, invStr(ev.InvitationID))
			}
			if !slices.Equal(ids, created) {
				t.Errorf("INVITATION_CREATED events for %v, want %v", ids, created)
			}
		})

		t.Run("fifty addresses", func(t *testing.T) {
			var reqs []map[string]any
			for i := range 50 {
				reqs = append(reqs, map[string]any{"email": fmt.Sprintf("bulk%02d-%d@example.com", i, invSeq()), "role": "MEMBER"})
			}
			var out payload
			many(f.owner.Client, reqs).OK(t, &out)
			if out.InviteMembers.InvitedCount != 50 || len(out.InviteMembers.Results) != 50 {
				t.Fatalf("invitedCount %d, %d results", out.InviteMembers.InvitedCount, len(out.InviteMembers.Results))
			}
			for i, r := range out.InviteMembers.Results {
				if r.Email != reqs[i]["email"] || r.Invitation == nil || r.Error != nil {
					t.Errorf("result %d = %+v, want an invitation for %s", i, r, reqs[i]["email"])
				}
			}
			if n := len(invMailsTo(t, e, reqs[49]["email"].(string))); n != 1 {
				t.Errorf("%d emails to the 50th address", n)
			}
		})

		t.Run("fifty-one addresses", func(t *testing.T) {
			var reqs []map[string]any
			var addrs []string
			for i := range 51 {
				a := fmt.Sprintf("over%02d-%d@example.com", i, invSeq())
				addrs = append(addrs, a)
				reqs = append(reqs, map[string]any{"email": a, "role": "MEMBER"})
			}
			before := invSnapshot(t, e)
			err := invRefused(t, e, many(f.owner.Client, reqs), before, "BAD_USER_INPUT", "TOO_MANY_ADDRESSES", "51 addresses")
			if err.Field() != "input.invitations" {
				t.Errorf("extensions.field = %q, want input.invitations", err.Field())
			}
			for _, a := range addrs {
				if n := len(e.Mail.To(a)); n != 0 {
					t.Fatalf("%d emails to %s", n, a)
				}
			}
		})

		t.Run("MEMBER is forbidden", func(t *testing.T) {
			before := invSnapshot(t, e)
			a := invAddr("m")
			invRefused(t, e, many(f.member.Client, []map[string]any{{"email": a, "role": "MEMBER"}, {"email": invAddr("m2"), "role": "ADMIN"}}),
				before, "FORBIDDEN", "INSUFFICIENT_ROLE", "MEMBER inviteMembers")
			if n := len(e.Mail.To(a)); n != 0 {
				t.Errorf("%d emails to %s", n, a)
			}
		})
		t.Run("non-member gets NOT_FOUND", func(t *testing.T) {
			before := invSnapshot(t, e)
			invRefused(t, e, many(f.outsider.Client, []map[string]any{{"email": invAddr("o"), "role": "MEMBER"}}), before, "NOT_FOUND", "", "outsider inviteMembers")
		})
		t.Run("unauthenticated", func(t *testing.T) {
			before := invSnapshot(t, e)
			invRefused(t, e, many(e.Client(), []map[string]any{{"email": invAddr("o"), "role": "MEMBER"}}), before, "UNAUTHENTICATED", "", "anonymous inviteMembers")
		})
	})
}

// ---------------------------------------------------------------------------
// The email

// invCheckMail checks the content of an invitation email and returns its token.
func invCheckMail(t testing.TB, subject, text, htmlBody, to, orgName, inviter, roleLabel string, expiresAt time.Time, logoURL string) string {
	t.Helper()
	if !strings.Contains(subject, orgName) || !strings.Contains(subject, inviter) {
		t.Errorf("subject %q: want the organization %q and the inviter %q", subject, orgName, inviter)
	}
	link := regexp.MustCompile(`^` + regexp.QuoteMeta(invPortal+"/accept-invitation?token=") + `([A-Za-z0-9_-]{43})$`)
	anyLink := regexp.MustCompile(`https?://\S+`)
	var tok string
	for _, l := range anyLink.FindAllString(text, -1) {
		if m := link.FindStringSubmatch(l); m != nil {
			if tok != "" && tok != m[1] {
				t.Errorf("two different tokens in the text part")
			}
			tok = m[1]
		}
	}
	if tok == "" {
		t.Fatalf("no link %s/accept-invitation?token=<43 chars> in the text part:\n%s", invPortal, text)
	}
	full := invPortal + "/accept-invitation?token=" + tok
	unescaped := html.UnescapeString(htmlBody)
	if !strings.Contains(htmlBody, `href="`+full+`"`) {
		t.Errorf("the HTML part does not link to %s:\n%s", full, htmlBody)
	}
	for part, body := range map[string]string{"text": text, "HTML": unescaped} {
		for _, want := range []string{orgName, inviter, roleLabel, to,
			expiresAt.UTC().Format("2 January 2006"), expiresAt.UTC().Format("15:04") + " UTC"} {
			if !strings.Contains(body, want) {
				t.Errorf("the %s part lacks %q:\n%s", part, want, body)
			}
		}
		registerLine := false
		for _, line := range strings.Split(body, "\n") {
			l := strings.ToLower(line)
			if strings.Contains(l, "register") && strings.Contains(l, "same address") && strings.Contains(line, to) {
				registerLine = true
			}
		}
		if !registerLine {
			t.Errorf("the %s part has no line telling to register first with %s:\n%s", part, to, body)
		}
	}
	if logoURL == "" {
		if strings.Contains(htmlBody, "<img") || strings.Contains(htmlBody, "/logos/") || strings.Contains(text, "/logos/") {
			t.Errorf("an email without logo shows one:\n%s", htmlBody)
		}
	} else if !strings.Contains(htmlBody, `<img src="`+logoURL+`"`) {
		t.Errorf("the HTML part does not show the logo %s:\n%s", logoURL, htmlBody)
	}
	return tok
}

func TestInvitationEmail(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)

		t.Run("without logo", func(t *testing.T) {
			addr := invAddr("reader")
			inv, tok := f.invite(t, f.admin.Client, addr, "MEMBER")
			msgs := invMailsTo(t, e, addr)
			if len(msgs) != 1 {
				t.Fatalf("%d emails", len(msgs))
			}
			m := msgs[0]
			if m.To != addr {
				t.Errorf("To = %q, want %q", m.To, addr)
			}
			if m.HTML == "" || m.Text == "" {
				t.Fatalf("want an HTML and a text part: %+v", m)
			}
			got := invCheckMail(t, m.Subject, m.Text, m.HTML, addr, "Acme Labs", f.admin.Name, "a member", inv.ExpiresAt, "")
			if got != tok {
				t.Errorf("token %q, want %q", got, tok)
			}
		})
		t.Run("with logo, admin role", func(t *testing.T) {
			logo := invUploadLogo(t, e, f.owner.Client, f.org.ID)
			if !strings.HasPrefix(logo, invCDN+"/logos/"+f.org.ID+"/") {
				t.Fatalf("logoUrl = %q", logo)
			}
			addr := invAddr("logo")
			inv, tok := f.invite(t, f.owner.Client, addr, "ADMIN")
			m := invMailsTo(t, e, addr)[0]
			invCheckMail(t, m.Subject, m.Text, m.HTML, addr, "Acme Labs", f.owner.Name, "an admin", inv.ExpiresAt, logo)
			if invStr(inv.OrganizationLogoURL) != logo {
				t.Errorf("organizationLogoUrl = %s, want %s", invStr(inv.OrganizationLogoURL), logo)
			}
			p := invPreview(t, e, tok)
			if p == nil || invStr(p.OrganizationLogoURL) != logo {
				t.Errorf("preview = %+v, want logo %s", p, logo)
			}
			// The logo in the email is served without credentials.
			res, err := http.Get(e.Server.URL + strings.TrimPrefix(logo, invCDN))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
				t.Errorf("GET logo: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
		})
		t.Run("names are escaped in HTML", func(t *testing.T) {
			o := e.CreateOrg(f.owner, `Tom & <Jerry>`, "tom-and-jerry")
			addr := invAddr("esc")
			var out struct {
				InviteMember struct{ Invitation invInvitation }
			}
			invInviteRes(f.owner.Client, o.ID, addr, "MEMBER").OK(t, &out)
			m := invMailsTo(t, e, addr)[0]
			if strings.Contains(m.HTML, "<Jerry>") {
				t.Errorf("the organization name is not escaped in HTML:\n%s", m.HTML)
			}
			invCheckMail(t, m.Subject, m.Text, m.HTML, addr, `Tom & <Jerry>`, f.owner.Name, "a member", out.InviteMember.Invitation.ExpiresAt, "")
		})
	}, testenv.WithConfig(func(c *config.Config) { c.BaseURL = invCDN + "/" }))
}

// invSMTPOptions start orgql with its real SMTP sender pointed at srv, with an
// outbox that retries within milliseconds.
func invSMTPOptions(srv *mailtest.Server, from string) []testenv.Option {
	return []testenv.Option{
		testenv.WithMailSender(nil),
		testenv.WithConfig(func(c *config.Config) {
			c.SMTPURL = srv.URL()
			c.SMTPFrom = from
		}),
		func(o *app.Options) {
			o.OutboxOptions = &mail.OutboxOptions{BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
		},
	}
}

// invSMTPDeliver runs outbox passes until srv has an invitation for addr, and
// returns it.
func invSMTPDeliver(t testing.TB, e *testenv.Env, srv *mailtest.Server, addr string) mailtest.Received {
	t.Helper()
	for range 500 {
		if _, err := e.App.Outbox.DeliverDue(context.Background()); err != nil {
			t.Fatalf("DeliverDue: %v", err)
		}
		for _, m := range srv.Messages() {
			if slices.Contains(m.To, addr) && bytes.Contains(m.Data, []byte("accept-invitation")) {
				return m
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no invitation for %s reached the SMTP server\nlog:\n%s", addr, e.Logs.String())
	return mailtest.Received{}
}

type invParsed struct {
	MediaType, Subject, From, To, Text, HTML string
}

func invParse(t testing.TB, data []byte) invParsed {
	t.Helper()
	p := mailtest.Parse(t, data)
	return invParsed{
		MediaType: p.MediaType,
		Subject:   mailtest.DecodeHeader(t, p.Header, "Subject"),
		From:      mailtest.DecodeHeader(t, p.Header, "From"),
		To:        mailtest.DecodeHeader(t, p.Header, "To"),
		Text:      p.Text,
		HTML:      p.HTML,
	}
}

// TestInvitationOverSMTP sends an invitation through the real SMTP path.
func TestInvitationOverSMTP(t *testing.T) {
	const (
		user, pass = "mailer", "s3cret"
		fromName   = "orgql Portal"
		fromAddr   = "no-reply@portal.example.test"
	)
	srv := mailtest.Start(t, mailtest.WithAuth(user, pass))
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := invAddr("smtp")
		var out struct {
			InviteMember struct{ Invitation invInvitation }
		}
		invInviteRes(f.admin.Client, f.org.ID, addr, "ADMIN").OK(t, &out)
		inv := out.InviteMember.Invitation

		got := invSMTPDeliver(t, e, srv, addr)
		if got.From != fromAddr || len(got.To) != 1 || got.To[0] != addr || got.User != user {
			t.Errorf("envelope from %q to %v as %q", got.From, got.To, got.User)
		}
		p := invParse(t, got.Data)
		if p.MediaType != "multipart/alternative" || p.Text == "" || p.HTML == "" {
			t.Fatalf("want multipart/alternative with text and HTML, got %s", p.MediaType)
		}
		if !strings.Contains(p.From, fromAddr) || !strings.Contains(p.To, addr) {
			t.Errorf("From %q To %q", p.From, p.To)
		}
		tok := invCheckMail(t, p.Subject, p.Text, p.HTML, addr, "Acme Labs", f.admin.Name, "an admin", inv.ExpiresAt, "")

		// Register first, with the link from the email: one step to membership.
		res := e.Client().Do(invMSignUp, map[string]any{"in": map[string]any{"email": addr, "password": testenv.DefaultPassword, "name": "Smtp Invitee", "invitationToken": tok}}).OK(t, nil)
		if res.Str(t, "signUp.membership.role") != "ADMIN" || res.Str(t, "signUp.membership.organization.id") != f.org.ID {
			t.Fatalf("signUp = %s", res.Data)
		}
		if v, _ := res.Get(t, "signUp.user.emailVerified").(bool); !v {
			t.Errorf("not verified after signing up with the invitation")
		}
	}, invSMTPOptions(srv, fromName+" <"+fromAddr+">")...)
}

// ---------------------------------------------------------------------------
// The token

func TestInvitationToken(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)

		t.Run("256 bits, stored only as a hash", func(t *testing.T) {
			addr := invAddr("hash")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil || len(raw) != 32 || !invTokenShape.MatchString(tok) {
				t.Fatalf("token %q: want 32 random bytes as 43 base64url characters (%v)", tok, err)
			}
			db := invDB(t, e, inv.ID)
			if db.TokenHash == tok || strings.Contains(db.TokenHash, tok) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(db.TokenHash) {
				t.Errorf("token_hash %q is not a hash of the token", db.TokenHash)
			}
			// Not in any column of any invitation row, nor in the sent email's row.
			invWantNowhere(t, e, invitation.Table, tok)
			e.Mail.To(addr) // delivered: the outbox erases bodies
			invWantNowhere(t, e, emailmessage.Table, tok)
			// Two invitations never share a token.
			_, tok2 := f.invite(t, f.owner.Client, invAddr("hash2"), "MEMBER")
			if tok2 == tok {
				t.Error("two invitations got the same token")
			}
		})

		t.Run("the ID is not a credential", func(t *testing.T) {
			addr := invAddr("idtok")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Id Tok") // unverified
			before := invSnapshot(t, e)
			if p := invPreview(t, e, inv.ID); p != nil {
				t.Errorf("the ID previews: %+v", p)
			}
			invRefused(t, e, invAcceptTok(u.Client, inv.ID), before, "BAD_USER_INPUT", "", "accepting with the ID as token")
			invRefused(t, e, invAcceptRes(u.Client, map[string]any{"invitationId": inv.ID}), before, "NOT_FOUND", "", "accepting by ID with an unverified address")
			invRefused(t, e, invRejectRes(e.Client(), map[string]any{"token": inv.ID}), before, "BAD_USER_INPUT", "", "rejecting with the ID as token")
			invRefusedAny(t, e, invRejectRes(e.Client(), map[string]any{"invitationId": inv.ID}), before, "rejecting by ID without a session", "UNAUTHENTICATED", "NOT_FOUND")
			err := invRefused(t, e, e.Client().Do(invMSignUp, map[string]any{"in": map[string]any{"email": invAddr("idtok2"), "password": testenv.DefaultPassword, "name": "X", "invitationToken": inv.ID}}),
				before, "BAD_USER_INPUT", "", "signUp with the ID as invitationToken")
			if err.Field() != "input.invitationToken" {
				t.Errorf("extensions.field = %q", err.Field())
			}
			invWantLive(t, e, tok, "after the ID was tried")
			invAcceptTok(u.Client, tok).OK(t, nil)
		})

		t.Run("single use", func(t *testing.T) {
			addr := invAddr("once")
			_, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Once")
			invAcceptTok(u.Client, tok).OK(t, nil)
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, tok), before, "BAD_USER_INPUT", "", "second accept")
			invRefused(t, e, invAcceptTok(invSignIn(t, e, u), tok), before, "BAD_USER_INPUT", "", "second accept from another session")
			invRefused(t, e, invRejectRes(e.Client(), map[string]any{"token": tok}), before, "BAD_USER_INPUT", "", "reject after accept")
			invWantDead(t, e, tok, "after accept")
		})

		t.Run("expires after seven days", func(t *testing.T) {
			addr := invAddr("week")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Week")
			e.Advance(7*24*time.Hour - 2*time.Second)
			invWantLive(t, e, tok, "one second before expiry")
			if got := invGet(t, f.owner.Client, f.org.ID, inv.ID); got.Status != "PENDING" {
				t.Errorf("status %s before expiry", got.Status)
			}
			e.Advance(3 * time.Second) // 7 days + 1 second
			invWantDead(t, e, tok, "after 7 days and a second")
			if got := invGet(t, f.owner.Client, f.org.ID, inv.ID); got.Status != "EXPIRED" {
				t.Errorf("status %s after expiry, want EXPIRED", got.Status)
			}
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, tok), before, "BAD_USER_INPUT", "INVITATION_EXPIRED", "accepting after 7 days")
		})
	})
}

// invWantNowhere fails if s appears in any column of any row of table.
func invWantNowhere(t testing.TB, e *testenv.Env, table, s string) {
	t.Helper()
	rows, err := e.App.DB.SQL.QueryContext(context.Background(), "SELECT * FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if bytes.Contains(v, []byte(s)) {
				t.Errorf("%s.%s holds the clear token", table, cols[i])
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 && table == invitation.Table {
		t.Errorf("no rows in %s", table)
	}
}

// ---------------------------------------------------------------------------
// invitationPreview

func TestInvitationPreview(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := "dana.x-" + fmt.Sprint(invSeq()) + "@example.com"
		inv, tok := f.invite(t, f.admin.Client, addr, "ADMIN")

		t.Run("public fields", func(t *testing.T) {
			p := invPreview(t, e, tok)
			if p == nil {
				t.Fatal("null preview of a fresh invitation")
			}
			if p.OrganizationName != "Acme Labs" || invStr(p.InviterName) != f.admin.Name || p.Role != "ADMIN" ||
				!invSame(p.ExpiresAt, inv.ExpiresAt) || p.OrganizationLogoURL != nil || p.AccountExists {
				t.Errorf("preview = %+v", p)
			}
			local := strings.Split(addr, "@")[0]
			if want := local[:1] + "***" + local[len(local)-1:] + "@example.com"; p.Email != want {
				t.Errorf("email = %q, want %q", p.Email, want)
			}
			if strings.Contains(p.Email, local) {
				t.Errorf("email %q is not masked", p.Email)
			}
			// The same from a signed-in stranger.
			var out struct{ InvitationPreview *invPreviewT }
			f.outsider.Do(invQPreview, map[string]any{"t": tok}).OK(t, &out)
			if out.InvitationPreview == nil || out.InvitationPreview.Email != p.Email {
				t.Errorf("preview for a stranger = %+v", out.InvitationPreview)
			}
		})
		t.Run("previewing changes nothing", func(t *testing.T) {
			before := invSnapshot(t, e)
			for range 3 {
				invPreview(t, e, tok)
			}
			invUnchanged(t, e, before, "invitationPreview")
		})
		t.Run("accountExists after sign-up", func(t *testing.T) {
			invSignUpAs(t, e, addr, "Dana")
			if p := invPreview(t, e, tok); p == nil || !p.AccountExists {
				t.Errorf("preview after sign-up = %+v, want accountExists", p)
			}
		})

		t.Run("dead tokens are indistinguishable", func(t *testing.T) {
			anon := func(tok string) string {
				t.Helper()
				res := e.Client().Do(invQPreview, map[string]any{"t": tok})
				if len(res.Errors) != 0 || res.Status != http.StatusOK {
					t.Fatalf("preview(%q): %d %s", tok, res.Status, res.Raw)
				}
				return string(res.Raw)
			}
			unknownTok := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
			want := anon(unknownTok)
			if want != `{"data":{"invitationPreview":null}}` {
				t.Fatalf("unknown token previews %s", want)
			}
			dead := map[string]string{"garbage": "not-a-token", "empty": "", "unknown": unknownTok}

			// Used.
			ua := invAddr("used")
			_, usedTok := f.invite(t, f.owner.Client, ua, "MEMBER")
			invAcceptTok(invSignUpAs(t, e, ua, "Used").Client, usedTok).OK(t, nil)
			dead["used"] = usedTok
			// Canceled.
			ca := invAddr("canceled")
			cinv, canceledTok := f.invite(t, f.owner.Client, ca, "MEMBER")
			invCancelRes(f.owner.Client, cinv.ID).OK(t, nil)
			dead["canceled"] = canceledTok
			// Rejected.
			ra := invAddr("rejected")
			_, rejectedTok := f.invite(t, f.owner.Client, ra, "MEMBER")
			invRejectRes(e.Client(), map[string]any{"token": rejectedTok}).OK(t, nil)
			dead["rejected"] = rejectedTok
			// Superseded by a resend.
			sa := invAddr("resent")
			sinv, oldTok := f.invite(t, f.owner.Client, sa, "MEMBER")
			e.Advance(2 * time.Minute)
			invResendRes(f.owner.Client, sinv.ID, "").OK(t, nil)
			newTok := invToken(t, e, sa)
			if newTok == oldTok {
				t.Fatal("resend kept the token")
			}
			dead["superseded by resend"] = oldTok
			// Expired (this expires every invitation above, and Dana's).
			e.Advance(8 * 24 * time.Hour)
			dead["expired"] = tok
			dead["expired resent"] = newTok

			for name, d := range dead {
				if got := anon(d); got != want {
					t.Errorf("%s token previews %s, want %s like an unknown one", name, got, want)
				}
			}
		})
	})
}

// ---------------------------------------------------------------------------
// acceptInvitation

func TestAcceptInvitation(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)

		t.Run("matching account joins", func(t *testing.T) {
			addr := invAddr("joiner")
			// Invited in another letter case; the account has the lower-case address.
			var io struct {
				InviteMember struct{ Invitation invInvitation }
			}
			invInviteRes(f.admin.Client, f.org.ID, strings.ToUpper(addr), "ADMIN").OK(t, &io)
			inv := io.InviteMember.Invitation
			tok := invToken(t, e, addr)
			u := invSignUpAs(t, e, addr, "Joiner")
			if v := invWhoAmI(t, u.Client); v.EmailVerified || v.ActiveOrganization != nil {
				t.Fatalf("before accepting: %+v", v)
			}
			seq := invLastSeq(t, e, f.org.ID)
			var out invAcceptT
			invAcceptTok(u.Client, tok).OK(t, &out)
			a := out.AcceptInvitation
			if a.Member.Role != "ADMIN" || a.Member.User.ID != u.ID || a.Member.Organization.ID != f.org.ID || a.Member.Organization.ViewerRole != "ADMIN" {
				t.Errorf("member = %+v", a.Member)
			}
			if a.Invitation.ID != inv.ID || a.Invitation.Status != "ACCEPTED" || a.Invitation.RespondedAt == nil {
				t.Errorf("invitation = %+v", a.Invitation)
			}
			if a.Organization.ID != f.org.ID || a.Organization.Name != "Acme Labs" || a.Organization.ViewerRole != "ADMIN" {
				t.Errorf("organization = %+v", a.Organization)
			}
			if got := invMemberRole(t, e, f.org.ID, u.ID); got != "ADMIN" {
				t.Errorf("membership role %q", got)
			}
			v := invWhoAmI(t, u.Client)
			if !v.EmailVerified {
				t.Error("accepting by token did not verify the address")
			}
			if v.ActiveOrganization == nil || v.ActiveOrganization.ID != f.org.ID {
				t.Errorf("active organization %+v, want %s", v.ActiveOrganization, f.org.ID)
			}
			if got := invStatusInList(t, f.owner.Client, f.org.ID, inv.ID); got != "ACCEPTED" {
				t.Errorf("status in the list %s", got)
			}
			evs := invWantEvents(t, e, f.org.ID, seq, inv.ID, "INVITATION_ACCEPTED", "MEMBER_JOINED")
			for _, ev := range evs {
				if invStr(ev.ActorID) != u.ID || invStr(ev.SubjectUserID) != u.ID || invStr(ev.NewRole) != "ADMIN" || invStr(ev.MemberID) != a.Member.ID {
					t.Errorf("event %s: actor %s subject %s newRole %s member %s", ev.Type, invStr(ev.ActorID), invStr(ev.SubjectUserID), invStr(ev.NewRole), invStr(ev.MemberID))
				}
			}
			audit := invAudit(t, f.owner.Client, f.org.ID)
			if len(audit) < 2 || audit[0].Type != "MEMBER_JOINED" || audit[1].Type != "INVITATION_ACCEPTED" {
				t.Errorf("audit log starts %+v", audit[:min(2, len(audit))])
			} else if audit[0].Actor == nil || audit[0].Actor.ID != u.ID || audit[0].User == nil || audit[0].User.ID != u.ID || invStr(audit[0].NewRole) != "ADMIN" {
				t.Errorf("MEMBER_JOINED in the audit log: %+v", audit[0])
			}
			// The new admin sees the organization's invitations.
			invList(t, u.Client, f.org.ID, nil)
		})

		t.Run("another account", func(t *testing.T) {
			addr := invAddr("right")
			_, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			wrong := e.SignUp("Wrong Person")
			invVerify(t, e, wrong)
			for _, c := range []*testenv.Client{wrong.Client, f.outsider.Client, f.owner.Client} {
				before := invSnapshot(t, e)
				invRefused(t, e, invAcceptTok(c, tok), before, "FORBIDDEN", "EMAIL_MISMATCH", "accepting with another account")
			}
			invWantLive(t, e, tok, "after mismatched accepts")
			right := invSignUpAs(t, e, addr, "Right")
			invAcceptTok(right.Client, tok).OK(t, nil)
		})

		t.Run("unauthenticated", func(t *testing.T) {
			addr := invAddr("anon")
			_, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			invSignUpAs(t, e, addr, "Anon")
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(e.Client(), tok), before, "UNAUTHENTICATED", "", "anonymous accept")
			invWantLive(t, e, tok, "after an anonymous accept")
		})

		t.Run("token or ID, not both, not neither", func(t *testing.T) {
			addr := invAddr("both")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Both")
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptRes(u.Client, map[string]any{"token": tok, "invitationId": inv.ID}), before, "BAD_USER_INPUT", "", "token and ID")
			invRefused(t, e, invAcceptRes(u.Client, map[string]any{}), before, "BAD_USER_INPUT", "", "neither token nor ID")
			invWantLive(t, e, tok, "after malformed accepts")
		})

		t.Run("expired", func(t *testing.T) {
			addr := invAddr("expired")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Expired")
			invVerify(t, e, u)
			e.Advance(7*24*time.Hour + time.Second)
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, tok), before, "BAD_USER_INPUT", "INVITATION_EXPIRED", "accepting an expired invitation")
			if got := invDB(t, e, inv.ID).Status; got != invitation.StatusPENDING {
				t.Errorf("stored status %s", got)
			}
		})

		t.Run("after cancel", func(t *testing.T) {
			addr := invAddr("cancel")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Cancel")
			invCancelRes(f.admin.Client, inv.ID).OK(t, nil)
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, tok), before, "BAD_USER_INPUT", "", "accepting a canceled invitation")
			if invMemberRole(t, e, f.org.ID, u.ID) != "" {
				t.Error("joined through a canceled invitation")
			}
		})

		t.Run("old token after resend", func(t *testing.T) {
			addr := invAddr("resend")
			inv, oldTok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Resend")
			e.Advance(2 * time.Minute)
			invResendRes(f.owner.Client, inv.ID, "").OK(t, nil)
			newTok := invToken(t, e, addr)
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, oldTok), before, "BAD_USER_INPUT", "", "accepting with the token from before the resend")
			var out invAcceptT
			invAcceptTok(u.Client, newTok).OK(t, &out)
			if out.AcceptInvitation.Invitation.ID != inv.ID {
				t.Errorf("accepted %s, want %s", out.AcceptInvitation.Invitation.ID, inv.ID)
			}
		})

		t.Run("already a member", func(t *testing.T) {
			addr := invAddr("dupmember")
			inv, tok := f.invite(t, f.owner.Client, addr, "ADMIN")
			u := invSignUpAs(t, e, addr, "Dup Member")
			e.AddMember(f.org, u, role.Member) // joined another way meanwhile
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, tok), before, "CONFLICT", "ALREADY_MEMBER", "accepting as a member")
			if got := invMemberRole(t, e, f.org.ID, u.ID); got != "MEMBER" {
				t.Errorf("role %s after a refused accept", got)
			}
			if got := invDB(t, e, inv.ID).Status; got != invitation.StatusPENDING {
				t.Errorf("invitation %s after a refused accept", got)
			}
		})
	})
}

// TestAcceptInvitationExpiredByID: an expired invitation cannot be accepted from the
// inbox either.
func TestAcceptInvitationExpiredByID(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := invAddr("inboxexp")
		inv, _ := f.invite(t, f.owner.Client, addr, "MEMBER")
		u := invSignUpAs(t, e, addr, "Inbox Exp")
		invVerify(t, e, u)
		e.Advance(7*24*time.Hour + time.Second)
		before := invSnapshot(t, e)
		res := invAcceptRes(u.Client, map[string]any{"invitationId": inv.ID})
		if len(res.Errors) == 0 {
			t.Fatalf("accepted an expired invitation by ID: %s", res.Raw)
		}
		invRefused(t, e, res, before, "BAD_USER_INPUT", "INVITATION_EXPIRED", "accepting an expired invitation by ID")
	})
}

// TestInvitationAliases: two accepts in one request are refused before running.
func TestInvitationAliases(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := invAddr("alias")
		_, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
		u := invSignUpAs(t, e, addr, "Alias")
		before := invSnapshot(t, e)
		q := `mutation($t: String!) {
			a: acceptInvitation(input: {token: $t}) { member { id } }
			b: acceptInvitation(input: {token: $t}) { member { id } }
		}`
		invRefused(t, e, u.Do(q, map[string]any{"t": tok}), before, "BAD_REQUEST", "REPEATED_SENSITIVE_FIELD", "two aliased acceptInvitation")
		q2 := `mutation($t: String!) {
			acceptInvitation(input: {token: $t}) { member { id } }
			rejectInvitation(input: {token: $t}) { invitationId }
			again: rejectInvitation(input: {token: $t}) { invitationId }
		}`
		invRefused(t, e, u.Do(q2, map[string]any{"t": tok}), before, "BAD_REQUEST", "REPEATED_SENSITIVE_FIELD", "two aliased rejectInvitation")
		invWantLive(t, e, tok, "after refused aliases")
		invAcceptTok(u.Client, tok).OK(t, nil)
	})
}

// ---------------------------------------------------------------------------
// Register first: signUp with invitationToken

func TestSignUpWithInvitation(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		signUp := func(email, tok string) *testenv.Response {
			return e.Client().Do(invMSignUp, map[string]any{"in": map[string]any{"email": email, "password": testenv.DefaultPassword, "name": "New Person", "invitationToken": tok}})
		}

		t.Run("matching address joins in one step", func(t *testing.T) {
			addr := invAddr("regfirst")
			inv, tok := f.invite(t, f.admin.Client, addr, "ADMIN")
			seq := invLastSeq(t, e, f.org.ID)
			var out struct {
				SignUp struct {
					Token string
					User  struct {
						ID, Email     string
						EmailVerified bool
					}
					Membership *struct {
						ID, Role     string
						User         struct{ ID string }
						Organization struct{ ID, ViewerRole string }
					}
				}
			}
			signUp("  "+strings.ToUpper(addr)+" ", tok).OK(t, &out)
			s := out.SignUp
			if s.User.Email != addr || !s.User.EmailVerified {
				t.Errorf("user = %+v, want %s verified", s.User, addr)
			}
			if s.Membership == nil || s.Membership.Role != "ADMIN" || s.Membership.User.ID != s.User.ID ||
				s.Membership.Organization.ID != f.org.ID || s.Membership.Organization.ViewerRole != "ADMIN" {
				t.Fatalf("membership = %+v", s.Membership)
			}
			msgs := e.Mail.To(addr)
			for _, m := range msgs {
				if strings.Contains(m.Text, "/verify-email") {
					t.Errorf("a verification email was sent: %q", m.Subject)
				}
			}
			if len(msgs) != 1 {
				t.Errorf("%d emails to %s, want only the invitation", len(msgs), addr)
			}
			c := e.Client()
			c.Token = s.Token
			v := invWhoAmI(t, c)
			if !v.EmailVerified || v.ActiveOrganization == nil || v.ActiveOrganization.ID != f.org.ID {
				t.Errorf("viewer after sign-up = %+v", v)
			}
			if got := invDB(t, e, inv.ID).Status; got != invitation.StatusACCEPTED {
				t.Errorf("invitation %s", got)
			}
			invWantEvents(t, e, f.org.ID, seq, inv.ID, "INVITATION_ACCEPTED", "MEMBER_JOINED")
			invWantDead(t, e, tok, "after sign-up")
		})

		t.Run("another address signs up without joining", func(t *testing.T) {
			addr := invAddr("invited")
			inv, tok := f.invite(t, f.admin.Client, addr, "MEMBER")
			other := invAddr("other")
			res := signUp(other, tok).OK(t, nil)
			if m := res.Get(t, "signUp.membership"); m != nil {
				t.Errorf("membership = %v, want null", m)
			}
			if v, _ := res.Get(t, "signUp.user.emailVerified").(bool); v {
				t.Error("the other address counts as verified")
			}
			id := res.Str(t, "signUp.user.id")
			if invMemberRole(t, e, f.org.ID, id) != "" {
				t.Error("the other address joined")
			}
			if n := len(e.Mail.To(other)); n != 1 {
				t.Errorf("%d emails to %s, want the verification email", n, other)
			}
			if got := invDB(t, e, inv.ID).Status; got != invitation.StatusPENDING {
				t.Errorf("invitation %s", got)
			}
			invWantLive(t, e, tok, "after someone else signed up with it")
			var out struct {
				SignUp struct{ Membership *struct{ Role string } }
			}
			signUp(addr, tok).OK(t, &out)
			if out.SignUp.Membership == nil || out.SignUp.Membership.Role != "MEMBER" {
				t.Errorf("the invited address then got %+v", out.SignUp.Membership)
			}
		})

		t.Run("bad tokens refuse the sign-up", func(t *testing.T) {
			ea := invAddr("exp")
			_, expTok := f.invite(t, f.owner.Client, ea, "MEMBER")
			ca := invAddr("can")
			cinv, canTok := f.invite(t, f.owner.Client, ca, "MEMBER")
			invCancelRes(f.owner.Client, cinv.ID).OK(t, nil)
			ua := invAddr("usd")
			_, usedTok := f.invite(t, f.owner.Client, ua, "MEMBER")
			signUp(ua, usedTok).OK(t, nil)
			e.Advance(7*24*time.Hour + time.Second)
			cases := map[string]struct{ email, tok, reason string }{
				"garbage":  {invAddr("g"), "garbage", ""},
				"unknown":  {invAddr("u"), base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)), ""},
				"expired":  {ea, expTok, "INVITATION_EXPIRED"},
				"canceled": {ca, canTok, ""},
				"used":     {invAddr("u2"), usedTok, ""},
			}
			for name, c := range cases {
				before := invSnapshot(t, e)
				err := invRefused(t, e, signUp(c.email, c.tok), before, "BAD_USER_INPUT", c.reason, "signUp with a "+name+" invitation token")
				if err.Field() != "input.invitationToken" {
					t.Errorf("%s: extensions.field = %q, want input.invitationToken", name, err.Field())
				}
				if n := len(e.Mail.To(c.email)); n > 1 || (n == 1 && c.email != ea && c.email != ca) {
					t.Errorf("%s: %d emails to %s", name, n, c.email)
				}
			}
		})
	})
}

// ---------------------------------------------------------------------------
// rejectInvitation

func TestRejectInvitation(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)

		t.Run("by token without a session", func(t *testing.T) {
			addr := invAddr("nothanks")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			seq := invLastSeq(t, e, f.org.ID)
			var out struct{ RejectInvitation struct{ InvitationID string } }
			invRejectRes(e.Client(), map[string]any{"token": tok}).OK(t, &out)
			if out.RejectInvitation.InvitationID != inv.ID {
				t.Errorf("invitationId %s, want %s", out.RejectInvitation.InvitationID, inv.ID)
			}
			if got := invStatusInList(t, f.admin.Client, f.org.ID, inv.ID); got != "REJECTED" {
				t.Errorf("status in the list %s, want REJECTED", got)
			}
			if n := invGet(t, f.owner.Client, f.org.ID, inv.ID); n.RespondedAt == nil {
				t.Errorf("node after reject = %+v", n)
			}
			evs := invWantEvents(t, e, f.org.ID, seq, inv.ID, "INVITATION_REJECTED")
			if evs[0].ActorID != nil {
				t.Errorf("INVITATION_REJECTED actor %s, want none (no session)", *evs[0].ActorID)
			}
			invWantDead(t, e, tok, "after reject")
			u := invSignUpAs(t, e, addr, "No Thanks")
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, tok), before, "BAD_USER_INPUT", "", "accept after reject")
			invRefused(t, e, invRejectRes(e.Client(), map[string]any{"token": tok}), before, "BAD_USER_INPUT", "", "reject twice")
			// After a rejection the address may be invited again.
			f.invite(t, f.owner.Client, addr, "MEMBER")
		})

		t.Run("by ID from the inbox", func(t *testing.T) {
			addr := invAddr("inboxno")
			inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Inbox No")

			stranger := e.SignUp("Stranger")
			invVerify(t, e, stranger)
			// Unverified: the ID names nothing.
			before := invSnapshot(t, e)
			invRefused(t, e, invRejectRes(u.Client, map[string]any{"invitationId": inv.ID}), before, "NOT_FOUND", "", "reject by ID unverified")
			// Someone else, verified, and the organization's admin: not theirs.
			invRefused(t, e, invRejectRes(stranger.Client, map[string]any{"invitationId": inv.ID}), before, "NOT_FOUND", "", "reject by ID by a stranger")
			invRefused(t, e, invRejectRes(f.admin.Client, map[string]any{"invitationId": inv.ID}), before, "NOT_FOUND", "", "reject by ID by the admin")
			invWantLive(t, e, tok, "after refused rejections")

			invVerify(t, e, u)
			seq := invLastSeq(t, e, f.org.ID)
			invRejectRes(u.Client, map[string]any{"invitationId": inv.ID}).OK(t, nil)
			if got := invStatusInList(t, f.owner.Client, f.org.ID, inv.ID); got != "REJECTED" {
				t.Errorf("status %s", got)
			}
			evs := invWantEvents(t, e, f.org.ID, seq, inv.ID, "INVITATION_REJECTED")
			if invStr(evs[0].ActorID) != u.ID {
				t.Errorf("INVITATION_REJECTED actor %s, want the invitee", invStr(evs[0].ActorID))
			}
			invWantDead(t, e, tok, "after reject by ID")
			if inbox := invInbox(t, u.Client); len(inbox) != 0 {
				t.Errorf("inbox after reject = %+v", inbox)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// cancelInvitation

func TestCancelInvitation(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		for _, as := range []*testenv.User{f.owner, f.admin} {
			t.Run("by "+as.Name, func(t *testing.T) {
				addr := invAddr("cancelme")
				inv, tok := f.invite(t, f.owner.Client, addr, "MEMBER")
				seq := invLastSeq(t, e, f.org.ID)
				var out struct {
					CancelInvitation struct{ Invitation invInvitation }
				}
				invCancelRes(as.Client, inv.ID).OK(t, &out)
				c := out.CancelInvitation.Invitation
				if c.ID != inv.ID || c.Status != "CANCELED" || c.RespondedAt == nil {
					t.Errorf("canceled invitation = %+v", c)
				}
				evs := invWantEvents(t, e, f.org.ID, seq, inv.ID, "INVITATION_CANCELED")
				if invStr(evs[0].ActorID) != as.ID {
					t.Errorf("actor %s", invStr(evs[0].ActorID))
				}
				invWantDead(t, e, tok, "after cancel")
				before := invSnapshot(t, e)
				invRefused(t, e, invCancelRes(as.Client, inv.ID), before, "CONFLICT", "INVITATION_NOT_PENDING", "second cancel")
				invRefused(t, e, invResendRes(as.Client, inv.ID, ""), before, "CONFLICT", "INVITATION_NOT_PENDING", "resend after cancel")
				// The address may be invited again.
				f.invite(t, as.Client, addr, "MEMBER")
			})
		}
		t.Run("accepted and rejected ones", func(t *testing.T) {
			aa := invAddr("acc")
			ainv, atok := f.invite(t, f.owner.Client, aa, "MEMBER")
			invAcceptTok(invSignUpAs(t, e, aa, "Acc").Client, atok).OK(t, nil)
			ra := invAddr("rej")
			rinv, rtok := f.invite(t, f.owner.Client, ra, "MEMBER")
			invRejectRes(e.Client(), map[string]any{"token": rtok}).OK(t, nil)
			before := invSnapshot(t, e)
			invRefused(t, e, invCancelRes(f.owner.Client, ainv.ID), before, "CONFLICT", "INVITATION_NOT_PENDING", "cancel accepted")
			invRefused(t, e, invCancelRes(f.admin.Client, rinv.ID), before, "CONFLICT", "INVITATION_NOT_PENDING", "cancel rejected")
		})
		t.Run("MEMBER, outsider, anonymous, unknown", func(t *testing.T) {
			inv, tok := f.invite(t, f.owner.Client, invAddr("keep"), "MEMBER")
			before := invSnapshot(t, e)
			invRefused(t, e, invCancelRes(f.member.Client, inv.ID), before, "FORBIDDEN", "INSUFFICIENT_ROLE", "MEMBER cancels")
			invRefused(t, e, invCancelRes(f.outsider.Client, inv.ID), before, "NOT_FOUND", "", "outsider cancels")
			invRefused(t, e, invCancelRes(e.Client(), inv.ID), before, "UNAUTHENTICATED", "", "anonymous cancels")
			invRefused(t, e, invCancelRes(f.owner.Client, "inv_doesnotexist000000000"), before, "NOT_FOUND", "", "cancel unknown")
			invRefused(t, e, invCancelRes(f.owner.Client, f.org.ID), before, "NOT_FOUND", "", "cancel with an organization ID")
			invWantLive(t, e, tok, "after refused cancels")
		})
	})
}

// ---------------------------------------------------------------------------
// resendInvitation

func TestResendInvitation(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)

		t.Run("rotates the token, renews the expiry, changes the role", func(t *testing.T) {
			addr := invAddr("again")
			inv, oldTok := f.invite(t, f.owner.Client, addr, "MEMBER")

			// Cooldown.
			before := invSnapshot(t, e)
			err := invRefused(t, e, invResendRes(f.admin.Client, inv.ID, ""), before, "RATE_LIMITED", "RESEND_COOLDOWN", "resend at once")
			invWantRetryAfter(t, err, 60)
			e.Advance(30 * time.Second)
			err = invRefused(t, e, invResendRes(f.owner.Client, inv.ID, "ADMIN"), before, "RATE_LIMITED", "RESEND_COOLDOWN", "resend after 30s")
			invWantRetryAfter(t, err, 30)
			if n := len(invMailsTo(t, e, addr)); n != 1 {
				t.Fatalf("%d emails after refused resends", n)
			}
			invWantLive(t, e, oldTok, "after refused resends")

			// To OWNER: never.
			e.Advance(31 * time.Second)
			for _, as := range []*testenv.User{f.owner, f.admin} {
				invRefused(t, e, invResendRes(as.Client, inv.ID, "OWNER"), before, "FORBIDDEN", "ROLE_NOT_ASSIGNABLE", "resend as OWNER")
			}
			// MEMBER and outsider.
			invRefused(t, e, invResendRes(f.member.Client, inv.ID, ""), before, "FORBIDDEN", "INSUFFICIENT_ROLE", "MEMBER resends")
			invRefused(t, e, invResendRes(f.outsider.Client, inv.ID, ""), before, "NOT_FOUND", "", "outsider resends")

			seq := invLastSeq(t, e, f.org.ID)
			var out struct {
				ResendInvitation struct{ Invitation invInvitation }
			}
			invResendRes(f.admin.Client, inv.ID, "ADMIN").OK(t, &out)
			r := out.ResendInvitation.Invitation
			if r.ID != inv.ID || r.Role != "ADMIN" || r.Status != "PENDING" || r.Email != addr {
				t.Errorf("resent invitation = %+v", r)
			}
			if !r.LastSentAt.After(inv.LastSentAt) || !r.ExpiresAt.After(inv.ExpiresAt) || !r.ExpiresAt.Equal(r.LastSentAt.Add(7*24*time.Hour)) {
				t.Errorf("lastSentAt %s → %s, expiresAt %s → %s", inv.LastSentAt, r.LastSentAt, inv.ExpiresAt, r.ExpiresAt)
			}
			invNear(t, "lastSentAt", r.LastSentAt, e.Now(), 5*time.Second)
			msgs := invMailsTo(t, e, addr)
			if len(msgs) != 2 {
				t.Fatalf("%d emails after resend, want 2", len(msgs))
			}
			newTok := invCheckMail(t, msgs[1].Subject, msgs[1].Text, msgs[1].HTML, addr, "Acme Labs", f.admin.Name, "an admin", r.ExpiresAt, "")
			if newTok == oldTok {
				t.Fatal("resend kept the token")
			}
			evs := invWantEvents(t, e, f.org.ID, seq, inv.ID, "INVITATION_RESENT")
			if invStr(evs[0].ActorID) != f.admin.ID || invStr(evs[0].OldRole) != "MEMBER" || invStr(evs[0].NewRole) != "ADMIN" {
				t.Errorf("INVITATION_RESENT actor %s %s→%s", invStr(evs[0].ActorID), invStr(evs[0].OldRole), invStr(evs[0].NewRole))
			}
			invWantDead(t, e, oldTok, "old token after resend")
			if p := invPreview(t, e, newTok); p == nil || p.Role != "ADMIN" || !invSame(p.ExpiresAt, r.ExpiresAt) {
				t.Errorf("preview of the new token = %+v", p)
			}
			u := invSignUpAs(t, e, addr, "Again")
			before = invSnapshot(t, e)
			invRefused(t, e, invAcceptTok(u.Client, oldTok), before, "BAD_USER_INPUT", "", "accept with the old token")
			var acc invAcceptT
			invAcceptTok(u.Client, newTok).OK(t, &acc)
			if acc.AcceptInvitation.Member.Role != "ADMIN" {
				t.Errorf("joined as %s, want the resent role ADMIN", acc.AcceptInvitation.Member.Role)
			}
			// Accepted: no more resends.
			e.Advance(2 * time.Minute)
			before = invSnapshot(t, e)
			invRefused(t, e, invResendRes(f.owner.Client, inv.ID, ""), before, "CONFLICT", "INVITATION_NOT_PENDING", "resend accepted")
		})

		t.Run("keeps the role when omitted", func(t *testing.T) {
			inv, _ := f.invite(t, f.owner.Client, invAddr("keeprole"), "ADMIN")
			e.Advance(2 * time.Minute)
			var out struct {
				ResendInvitation struct{ Invitation invInvitation }
			}
			invResendRes(f.owner.Client, inv.ID, "").OK(t, &out)
			if out.ResendInvitation.Invitation.Role != "ADMIN" {
				t.Errorf("role %s, want ADMIN", out.ResendInvitation.Invitation.Role)
			}
		})

		t.Run("revives an expired invitation", func(t *testing.T) {
			addr := invAddr("revive")
			inv, oldTok := f.invite(t, f.owner.Client, addr, "MEMBER")
			e.Advance(7*24*time.Hour + time.Second)
			if got := invGet(t, f.owner.Client, f.org.ID, inv.ID); got.Status != "EXPIRED" {
				t.Fatalf("status %s, want EXPIRED", got.Status)
			}
			var out struct {
				ResendInvitation struct{ Invitation invInvitation }
			}
			invResendRes(f.owner.Client, inv.ID, "").OK(t, &out)
			r := out.ResendInvitation.Invitation
			if r.Status != "PENDING" || !r.ExpiresAt.After(e.Now().Add(7*24*time.Hour-time.Minute)) {
				t.Errorf("revived invitation = %+v", r)
			}
			newTok := invToken(t, e, addr)
			invWantDead(t, e, oldTok, "expired token after revival")
			u := invSignUpAs(t, e, addr, "Revived")
			invAcceptTok(u.Client, newTok).OK(t, nil)
		})

		t.Run("superseded expired invitation", func(t *testing.T) {
			addr := invAddr("superseded")
			old, _ := f.invite(t, f.owner.Client, addr, "MEMBER")
			e.Advance(7*24*time.Hour + time.Second)
			f.invite(t, f.owner.Client, addr, "MEMBER")
			e.Advance(2 * time.Minute)
			before := invSnapshot(t, e)
			invRefused(t, e, invResendRes(f.owner.Client, old.ID, ""), before, "CONFLICT", "ALREADY_INVITED", "resending an expired invitation that has a newer one")
		})

		t.Run("rejected and canceled", func(t *testing.T) {
			rinv, rtok := f.invite(t, f.owner.Client, invAddr("r"), "MEMBER")
			invRejectRes(e.Client(), map[string]any{"token": rtok}).OK(t, nil)
			cinv, _ := f.invite(t, f.owner.Client, invAddr("c"), "MEMBER")
			invCancelRes(f.owner.Client, cinv.ID).OK(t, nil)
			e.Advance(2 * time.Minute)
			before := invSnapshot(t, e)
			invRefused(t, e, invResendRes(f.owner.Client, rinv.ID, ""), before, "CONFLICT", "INVITATION_NOT_PENDING", "resend rejected")
			invRefused(t, e, invResendRes(f.admin.Client, cinv.ID, ""), before, "CONFLICT", "INVITATION_NOT_PENDING", "resend canceled")
		})
	})
}

// ---------------------------------------------------------------------------
// The Invitation type and Organization.invitations

func TestOrganizationInvitations(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		// One of each status; expired first (the TTL is an hour here).
		expired, _ := f.invite(t, f.owner.Client, invAddr("st-expired"), "MEMBER")
		e.Advance(time.Hour + time.Second)
		accepted, atok := f.invite(t, f.owner.Client, invAddr("st-accepted"), "ADMIN")
		invAcceptTok(invSignUpAs(t, e, accepted.Email, "Acc").Client, atok).OK(t, nil)
		rejected, rtok := f.invite(t, f.admin.Client, invAddr("st-rejected"), "MEMBER")
		invRejectRes(e.Client(), map[string]any{"token": rtok}).OK(t, nil)
		canceled, _ := f.invite(t, f.admin.Client, invAddr("st-canceled"), "MEMBER")
		invCancelRes(f.owner.Client, canceled.ID).OK(t, nil)
		pending, _ := f.invite(t, f.admin.Client, invAddr("st-pending"), "ADMIN")
		all := []invInvitation{pending, canceled, rejected, accepted, expired} // newest first

		for _, as := range []*testenv.User{f.owner, f.admin} {
			t.Run("list for "+as.Name, func(t *testing.T) {
				conn := invList(t, as.Client, f.org.ID, nil)
				if conn.TotalCount != 5 || len(conn.Edges) != 5 {
					t.Fatalf("totalCount %d, %d edges", conn.TotalCount, len(conn.Edges))
				}
				for i, ed := range conn.Edges {
					if ed.Node.ID != all[i].ID {
						t.Errorf("edge %d is %s (%s), want %s: newest first", i, ed.Node.ID, ed.Node.Email, all[i].ID)
					}
				}
				for status, want := range map[string]invInvitation{"PENDING": pending, "ACCEPTED": accepted, "REJECTED": rejected, "CANCELED": canceled, "EXPIRED": expired} {
					c := invList(t, as.Client, f.org.ID, map[string]any{"status": status})
					if c.TotalCount != 1 || len(c.Edges) != 1 || c.Edges[0].Node.ID != want.ID || c.Edges[0].Node.Status != status {
						t.Errorf("status %s: %+v, want only %s", status, c, want.ID)
					}
				}
			})
		}

		t.Run("fields", func(t *testing.T) {
			n := invGet(t, f.owner.Client, f.org.ID, rejected.ID)
			if n.Email != rejected.Email || n.Role != "MEMBER" || n.Status != "REJECTED" ||
				n.Inviter == nil || n.Inviter.ID != f.admin.ID || n.Inviter.Name != f.admin.Name || invStr(n.InviterName) != f.admin.Name ||
				n.Organization == nil || n.Organization.ID != f.org.ID || n.OrganizationName != "Acme Labs" || n.OrganizationLogoURL != nil ||
				!invSame(n.CreatedAt, rejected.CreatedAt) || !invSame(n.ExpiresAt, rejected.ExpiresAt) || !invSame(n.LastSentAt, rejected.LastSentAt) || n.RespondedAt == nil {
				t.Errorf("invitation = %+v", n)
			}
			if n := invGet(t, f.admin.Client, f.org.ID, expired.ID); n.Status != "EXPIRED" || n.RespondedAt != nil {
				t.Errorf("expired invitation = %+v", n)
			}
			if n := invGet(t, f.admin.Client, f.org.ID, accepted.ID); n.Status != "ACCEPTED" || n.RespondedAt == nil {
				t.Errorf("accepted invitation = %+v", n)
			}
		})

		t.Run("node for owner and admin", func(t *testing.T) {
			for _, as := range []*testenv.User{f.owner, f.admin} {
				for _, want := range all {
					n := invNode(t, as.Client, want.ID)
					if n == nil {
						t.Errorf("node(%s) is null for %s, want the Invitation (GUIDE §4: node works for every type)", want.ID, as.Name)
						continue
					}
					if n.ID != want.ID || n.Email != want.Email || n.Organization == nil || n.Organization.ID != f.org.ID {
						t.Errorf("node(%s) = %+v", want.ID, n)
					}
				}
				var out struct {
					Nodes []*struct{ ID string }
				}
				as.Do(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{pending.ID, f.org.ID}}).OK(t, &out)
				if len(out.Nodes) != 2 || out.Nodes[0] == nil || out.Nodes[0].ID != pending.ID {
					t.Errorf("nodes([invitation, organization]) for %s = %+v", as.Name, out.Nodes)
				}
			}
		})

		t.Run("pagination", func(t *testing.T) {
			var got []string
			var after any
			for page := 0; ; page++ {
				c := invList(t, f.admin.Client, f.org.ID, map[string]any{"first": 2, "after": after})
				if c.TotalCount != 5 {
					t.Errorf("page %d: totalCount %d", page, c.TotalCount)
				}
				for _, ed := range c.Edges {
					got = append(got, ed.Node.ID)
				}
				if !c.PageInfo.HasNextPage {
					break
				}
				if page > 5 || c.PageInfo.EndCursor == nil {
					t.Fatal("pagination does not end")
				}
				after = *c.PageInfo.EndCursor
			}
			var want []string
			for _, i := range all {
				want = append(want, i.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages = %v, want %v", got, want)
			}
			last := invList(t, f.admin.Client, f.org.ID, map[string]any{"last": 2})
			if len(last.Edges) != 2 || last.Edges[0].Node.ID != accepted.ID || last.Edges[1].Node.ID != expired.ID {
				t.Errorf("last 2 = %+v", last.Edges)
			}
			pend := invList(t, f.admin.Client, f.org.ID, map[string]any{"status": "PENDING", "first": 1})
			if pend.TotalCount != 1 || pend.PageInfo.HasNextPage {
				t.Errorf("filtered page = %+v", pend)
			}
			res := f.admin.Do(invQList, map[string]any{"id": f.org.ID, "first": 101})
			if len(res.Errors) == 0 {
				t.Errorf("first: 101 was accepted: %s", res.Raw)
			}
		})

		t.Run("MEMBER sees none", func(t *testing.T) {
			before := invSnapshot(t, e)
			res := f.member.Do(invQList, map[string]any{"id": f.org.ID})
			res.Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
			if v := res.Get(t, "node.invitations"); v != nil {
				t.Errorf("a MEMBER got invitations: %v", v)
			}
			for _, i := range all {
				if n := invNode(t, f.member.Client, i.ID); n != nil {
					t.Errorf("a MEMBER sees invitation %s by node", i.ID)
				}
				if n := invNode(t, f.outsider.Client, i.ID); n != nil {
					t.Errorf("an outsider sees invitation %s by node", i.ID)
				}
				var out struct{ Node any }
				e.Client().Do(invQNode, map[string]any{"id": i.ID}).OK(t, &out)
				if out.Node != nil {
					t.Errorf("an anonymous visitor sees invitation %s", i.ID)
				}
			}
			res = f.member.Do(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{pending.ID, expired.ID}})
			// Whether or not the request also reports errors, no invitation may be
			// in the data (a partial result with an error must not leak one either).
			for _, id := range []string{pending.ID, expired.ID} {
				if strings.Contains(string(res.Data), id) {
					t.Errorf("a MEMBER sees invitation %s through nodes: %s", id, res.Raw)
				}
			}
			res = f.outsider.Do(invQList, map[string]any{"id": f.org.ID})
			if strings.Contains(string(res.Raw), pending.ID) {
				t.Errorf("an outsider sees invitations: %s", res.Raw)
			}
			invUnchanged(t, e, before, "reading invitations")
		})
	}, testenv.WithConfig(func(c *config.Config) { c.InvitationTTL = time.Hour }))
}

// ---------------------------------------------------------------------------
// viewer.pendingInvitations: the inbox

func TestPendingInvitationsInbox(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := invAddr("inbox")
		other := e.SignUp("Other Owner")
		org2 := e.CreateOrg(other, "Beta Works", "beta-works")
		org3 := e.CreateOrg(other, "Gamma Co", "gamma-co")
		org4 := e.CreateOrg(other, "Delta Inc", "delta-inc")
		inviteIn := func(o *testenv.Org, as *testenv.User, r string) invInvitation {
			t.Helper()
			var out struct {
				InviteMember struct{ Invitation invInvitation }
			}
			invInviteRes(as.Client, o.ID, addr, r).OK(t, &out)
			return out.InviteMember.Invitation
		}
		acme := inviteIn(f.org, f.admin, "ADMIN")
		beta := inviteIn(org2, other, "MEMBER")
		gamma := inviteIn(org3, other, "MEMBER")
		delta := inviteIn(org4, other, "MEMBER")
		invCancelRes(other.Client, gamma.ID).OK(t, nil)
		invitee := invSignUpAs(t, e, addr, "Inbox Owner")

		t.Run("unverified sees nothing", func(t *testing.T) {
			if got := invInbox(t, invitee.Client); len(got) != 0 {
				t.Errorf("unverified inbox = %+v", got)
			}
			before := invSnapshot(t, e)
			invRefused(t, e, invAcceptRes(invitee.Client, map[string]any{"invitationId": acme.ID}), before, "NOT_FOUND", "", "accept by ID unverified")
			if n := invNode(t, invitee.Client, acme.ID); n != nil {
				t.Errorf("unverified invitee sees the invitation by node")
			}
		})

		invVerify(t, e, invitee)

		t.Run("verified sees the pending ones", func(t *testing.T) {
			got := invInbox(t, invitee.Client)
			var ids []string
			for _, i := range got {
				ids = append(ids, i.ID)
			}
			if want := []string{delta.ID, beta.ID, acme.ID}; !slices.Equal(ids, want) {
				t.Fatalf("inbox = %v, want %v (pending, newest first)", ids, want)
			}
			a := got[2]
			if a.Email != addr || a.Role != "ADMIN" || a.Status != "PENDING" || a.OrganizationName != "Acme Labs" ||
				invStr(a.InviterName) != f.admin.Name || a.Organization != nil || !invSame(a.ExpiresAt, acme.ExpiresAt) {
				t.Errorf("inbox entry = %+v", a)
			}
			// Nobody else's inbox shows them.
			for _, u := range []*testenv.User{f.outsider, f.admin} {
				invVerify(t, e, u)
				for _, i := range invInbox(t, u.Client) {
					if i.Email == addr {
						t.Errorf("%s's inbox shows %s", u.Name, i.ID)
					}
				}
			}
			// Another user's pendingInvitations is not readable.
			res := f.owner.Do(`query($id: ID!) { node(id: $id) { ... on User { pendingInvitations { id } } } }`, map[string]any{"id": f.admin.ID}).OK(t, nil)
			if v := res.Get(t, "node.pendingInvitations"); v != nil {
				t.Errorf("another user's inbox: %v", v)
			}
		})

		t.Run("accept by ID from the inbox", func(t *testing.T) {
			seq := invLastSeq(t, e, f.org.ID)
			var out invAcceptT
			invAcceptRes(invitee.Client, map[string]any{"invitationId": acme.ID}).OK(t, &out)
			if out.AcceptInvitation.Member.Role != "ADMIN" || out.AcceptInvitation.Organization.ID != f.org.ID || out.AcceptInvitation.Invitation.Status != "ACCEPTED" {
				t.Errorf("accept by ID = %+v", out.AcceptInvitation)
			}
			invWantEvents(t, e, f.org.ID, seq, acme.ID, "INVITATION_ACCEPTED", "MEMBER_JOINED")
			if v := invWhoAmI(t, invitee.Client); v.ActiveOrganization == nil || v.ActiveOrganization.ID != f.org.ID {
				t.Errorf("active organization %+v", v.ActiveOrganization)
			}
			got := invInbox(t, invitee.Client)
			if len(got) != 2 || got[0].ID != delta.ID || got[1].ID != beta.ID {
				t.Errorf("inbox after accepting = %+v", got)
			}
			before := invSnapshot(t, e)
			invRefusedAny(t, e, invAcceptRes(invitee.Client, map[string]any{"invitationId": acme.ID}), before, "accepting twice by ID", "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT")
		})

		t.Run("expired ones leave the inbox", func(t *testing.T) {
			e.Advance(7*24*time.Hour + time.Second)
			if got := invInbox(t, invitee.Client); len(got) != 0 {
				t.Errorf("inbox after expiry = %+v", got)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// The audit log of a whole lifecycle

func TestInvitationAuditLog(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := invAddr("audit")
		inv, _ := f.invite(t, f.admin.Client, addr, "MEMBER")
		e.Advance(2 * time.Minute)
		invResendRes(f.owner.Client, inv.ID, "ADMIN").OK(t, nil)
		tok := invToken(t, e, addr)
		u := invSignUpAs(t, e, addr, "Audited")
		invAcceptTok(u.Client, tok).OK(t, nil)
		_, rtok := f.invite(t, f.owner.Client, invAddr("audit-rej"), "MEMBER")
		invRejectRes(e.Client(), map[string]any{"token": rtok}).OK(t, nil)
		cinv, _ := f.invite(t, f.owner.Client, invAddr("audit-can"), "MEMBER")
		invCancelRes(f.admin.Client, cinv.ID).OK(t, nil)

		evs := invAudit(t, f.owner.Client, f.org.ID)
		var types []string
		for _, ev := range evs {
			types = append(types, ev.Type)
		}
		want := []string{"INVITATION_CANCELED", "INVITATION_CREATED", "INVITATION_REJECTED", "INVITATION_CREATED",
			"MEMBER_JOINED", "INVITATION_ACCEPTED", "INVITATION_RESENT", "INVITATION_CREATED"}
		if len(types) < len(want) || !slices.Equal(types[:len(want)], want) {
			t.Fatalf("audit log = %v, want it to start with %v", types, want)
		}
		actor := func(i int) string {
			if evs[i].Actor == nil {
				return ""
			}
			return evs[i].Actor.ID
		}
		for i, w := range []string{f.admin.ID, f.owner.ID, "", f.owner.ID, u.ID, u.ID, f.owner.ID, f.admin.ID} {
			if actor(i) != w {
				t.Errorf("%s: actor %q, want %q", evs[i].Type, actor(i), w)
			}
		}
		if invStr(evs[6].OldRole) != "MEMBER" || invStr(evs[6].NewRole) != "ADMIN" {
			t.Errorf("INVITATION_RESENT roles %s→%s", invStr(evs[6].OldRole), invStr(evs[6].NewRole))
		}
		if invStr(evs[7].NewRole) != "MEMBER" || !strings.Contains(invStr(evs[7].Data), addr) {
			t.Errorf("INVITATION_CREATED newRole %s data %s", invStr(evs[7].NewRole), invStr(evs[7].Data))
		}
		if evs[4].User == nil || evs[4].User.ID != u.ID || invStr(evs[4].NewRole) != "ADMIN" {
			t.Errorf("MEMBER_JOINED = %+v", evs[4])
		}
		// A MEMBER cannot read it.
		f.member.Do(invQAudit, map[string]any{"id": f.org.ID}).Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
	})
}

// ---------------------------------------------------------------------------
// Whole flow: invite, register from the email, member list

func TestInvitationEndToEnd(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		addr := invAddr("e2e")
		f.invite(t, f.admin.Client, addr, "MEMBER")
		tok := invToken(t, e, addr)
		p := invPreview(t, e, tok)
		if p == nil || p.AccountExists {
			t.Fatalf("preview = %+v", p)
		}
		res := e.Client().Do(invMSignUp, map[string]any{"in": map[string]any{"email": addr, "password": testenv.DefaultPassword, "name": "End To End", "invitationToken": tok}}).OK(t, nil)
		id := res.Str(t, "signUp.user.id")
		var out struct {
			Node struct {
				MemberCount int
				Members     struct {
					Edges []struct {
						Node struct {
							Role string
							User struct{ ID, Email string }
						}
					}
				}
			}
		}
		f.member.Do(invQMembers, map[string]any{"id": f.org.ID}).OK(t, &out)
		if out.Node.MemberCount != 4 {
			t.Errorf("memberCount %d, want 4", out.Node.MemberCount)
		}
		found := false
		for _, ed := range out.Node.Members.Edges {
			if ed.Node.User.ID == id {
				found = ed.Node.Role == "MEMBER" && ed.Node.User.Email == addr
			}
		}
		if !found {
			t.Errorf("the new member is not in the list as MEMBER: %+v", out.Node.Members)
		}
	})
}

// ---------------------------------------------------------------------------
// Distinct addresses stay distinct

// TestInvitationDistinctAddresses: addresses that differ only in an accent are
// different mailboxes (validate.Email accepts internationalized addresses); the
// database must not fold them into one, neither for the one-pending-invitation rule
// nor for membership, the preview or the inbox.
func TestInvitationDistinctAddresses(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		n := invSeq()
		plain := fmt.Sprintf("ada-%d@example.com", n)
		accented := fmt.Sprintf("äda-%d@example.com", n)

		_, plainTok := f.invite(t, f.owner.Client, plain, "MEMBER")
		res := invInviteRes(f.owner.Client, f.org.ID, accented, "ADMIN")
		if len(res.Errors) != 0 {
			t.Fatalf("inviting %s while %s is invited: %s", accented, plain, res.Raw)
		}
		accTok := invToken(t, e, accented)

		ada := invSignUpAs(t, e, plain, "Ada")
		invVerify(t, e, ada)
		if p := invPreview(t, e, accTok); p == nil || p.AccountExists {
			t.Errorf("preview of the invitation to %s after %s signed up = %+v, want accountExists false", accented, plain, p)
		}
		for _, i := range invInbox(t, ada.Client) {
			if i.Email != plain {
				t.Errorf("%s's inbox shows the invitation to %s (%s, %s)", plain, i.Email, i.OrganizationName, invStr(i.InviterName))
			}
		}
		invAcceptTok(ada.Client, plainTok).OK(t, nil)

		// ada is a member now; the other address is not.
		o2 := e.CreateOrg(f.owner, "Second Org", "second-org")
		e.AddMember(o2, ada, role.Member)
		res = invInviteRes(f.owner.Client, o2.ID, accented, "MEMBER")
		if len(res.Errors) != 0 {
			t.Errorf("inviting %s to an organization where %s is a member: %s", accented, plain, res.Raw)
		}
	})
}
