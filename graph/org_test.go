package graph_test

// Black-box tests of organizations: creation (slug rules, ownership limit, races),
// slugAvailability, reads and lists, settings (name and logo uploads over the
// GraphQL multipart request spec, and the logo URLs they produce), deletion, the
// active organization of a session, and the audit log; all through the real HTTP
// handler on every database of testenv.Kinds.
//
// Every refusal also checks that nothing changed: no organization, member, event or
// logo row was written, and what the viewer sees is as before.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/organizationlogo"
	"github.com/orgql/orgql/ent/session"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
	"github.com/orgql/orgql/internal/viewer"
)

const (
	orgtMCreate = `mutation($in: CreateOrganizationInput!) { createOrganization(input: $in) {
		organization { id name slug createdAt updatedAt logoUrl memberCount viewerRole }
		member { id role user { id } organization { id } } } }`
	orgtMUpdate = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) {
		organization { id name slug logoUrl createdAt updatedAt } } }`
	orgtMDelete    = `mutation($in: DeleteOrganizationInput!) { deleteOrganization(input: $in) { deletedOrganizationId } }`
	orgtMSetActive = `mutation($in: SetActiveOrganizationInput!) { setActiveOrganization(input: $in) {
		activeOrganization { id } viewer { id activeOrganization { id } } } }`
	orgtMRole     = `mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id role } } }`
	orgtMRemove   = `mutation($in: RemoveMemberInput!) { removeMember(input: $in) { removedMemberId organization { id memberCount } } }`
	orgtMTransfer = `mutation($in: TransferOwnershipInput!) { transferOwnership(input: $in) { newOwner { id role } previousOwner { id role } } }`
	orgtMSignIn   = `mutation($in: SignInInput!) { signIn(input: $in) { token } }`

	orgtQActive = `{ viewer { id activeOrganization { id } } }`
	orgtQBySlug = `query($slug: String!) { organization(slug: $slug) {
		id name slug logoUrl memberCount viewerRole createdAt updatedAt
		viewerCan { updateSettings viewAuditLog deleteOrganization manageMembers } } }`
	orgtQAvail  = `query($slug: String!) { slugAvailability(slug: $slug) { slug available reason suggestion } }`
	orgtQMyOrgs = `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $orderBy: OrganizationOrder) {
		viewer { organizations(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
			totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { cursor node { id name slug viewerRole } } } } }`
	orgtQAudit = `query($slug: String!, $first: Int, $after: Cursor) { organization(slug: $slug) { id
		auditLog(first: $first, after: $after) {
			totalCount pageInfo { hasNextPage endCursor }
			edges { cursor node { id type createdAt actor { id } member { id role } memberId user { id } oldRole newRole data } } } } }`
	orgtQNodes = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`
)

// --- operations ---

func orgtCreate(c *testenv.User, name, slug string) *testenv.Response {
	return c.Do(orgtMCreate, map[string]any{"in": map[string]any{"name": name, "slug": slug}})
}

func orgtUpdate(c *testenv.Client, in map[string]any) *testenv.Response {
	return c.Do(orgtMUpdate, map[string]any{"in": in})
}

func orgtSetActive(c *testenv.Client, orgID any) *testenv.Response {
	return c.Do(orgtMSetActive, map[string]any{"in": map[string]any{"organizationId": orgID}})
}

func orgtAvail(c *testenv.Client, slug string) *testenv.Response {
	return c.Do(orgtQAvail, map[string]any{"slug": slug})
}

func orgtBySlug(c *testenv.Client, slug string) *testenv.Response {
	return c.Do(orgtQBySlug, map[string]any{"slug": slug})
}

// --- assertions ---

func orgtFailsOn(t testing.TB, res *testenv.Response, code, reason, field string) testenv.Error {
	t.Helper()
	err := res.Fails(t, code, reason)
	if err.Field() != field {
		t.Fatalf("extensions.field = %q, want %q: %s", err.Field(), field, res.Raw)
	}
	return err
}

// orgtActive returns the ID of the client's active organization, or "".
func orgtActive(t testing.TB, c *testenv.Client) string {
	t.Helper()
	res := c.Do(orgtQActive, nil).OK(t, nil)
	if v := res.Get(t, "viewer.activeOrganization"); v == nil {
		return ""
	}
	return res.Str(t, "viewer.activeOrganization.id")
}

func orgtWantActive(t testing.TB, c *testenv.Client, want, what string) {
	t.Helper()
	if got := orgtActive(t, c); got != want {
		t.Fatalf("%s: activeOrganization = %q, want %q", what, got, want)
	}
}

// orgtVisible returns the ID of the organization with this slug as c sees it, or "".
func orgtVisible(t testing.TB, c *testenv.Client, slug string) string {
	t.Helper()
	res := orgtBySlug(c, slug).OK(t, nil)
	if res.Get(t, "organization") == nil {
		return ""
	}
	return res.Str(t, "organization.id")
}

func orgtMyOrgCount(t testing.TB, c *testenv.Client) int {
	t.Helper()
	res := c.Do(orgtQMyOrgs, nil).OK(t, nil)
	n, ok := res.Get(t, "viewer.organizations.totalCount").(float64)
	if !ok {
		t.Fatalf("no totalCount: %s", res.Raw)
	}
	return int(n)
}

func orgtLogoURL(t testing.TB, c *testenv.Client, slug string) string {
	t.Helper()
	res := orgtBySlug(c, slug).OK(t, nil)
	s, _ := res.Get(t, "organization.logoUrl").(string)
	return s
}

func orgtWantTimeNear(t testing.TB, what, got string, want time.Time) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, got)
	if err != nil {
		t.Fatalf("%s %q: %v", what, got, err)
	}
	if d := ts.Sub(want); d < -time.Minute || d > time.Minute {
		t.Fatalf("%s = %s, want about %s", what, ts, want)
	}
	return ts
}

// orgtRows counts what organization operations write. Refusals must leave it alone.
type orgtRows struct{ Orgs, Members, Events, Logos, ActiveSessions int }

func orgtSnapshot(t testing.TB, e *testenv.Env) orgtRows {
	t.Helper()
	ctx := viewer.System(context.Background())
	db := e.App.DB.Client
	n := func(k int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatalf("counting rows: %v", err)
		}
		return k
	}
	return orgtRows{
		Orgs:           n(db.Organization.Query().Count(ctx)),
		Members:        n(db.Member.Query().Count(ctx)),
		Events:         n(db.Event.Query().Count(ctx)),
		Logos:          n(db.OrganizationLogo.Query().Count(ctx)),
		ActiveSessions: n(db.Session.Query().Where(session.ActiveOrganizationIDNotNil()).Count(ctx)),
	}
}

func orgtUnchanged(t testing.TB, e *testenv.Env, before orgtRows, what string) {
	t.Helper()
	if after := orgtSnapshot(t, e); after != before {
		t.Fatalf("%s changed the database: before %+v, after %+v", what, before, after)
	}
}

// orgtOwned counts the OWNER memberships of a user in the database.
func orgtOwned(t testing.TB, e *testenv.Env, userID string) int {
	t.Helper()
	n, err := e.App.DB.Client.Member.Query().
		Where(member.UserID(userID), member.RoleEQ(role.Owner)).
		Count(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// orgtSignInAgain opens a second session for u (a second browser).
func orgtSignInAgain(t testing.TB, e *testenv.Env, u *testenv.User) *testenv.Client {
	t.Helper()
	c := e.Client()
	res := c.Do(orgtMSignIn, map[string]any{"in": map[string]any{"email": u.Email, "password": u.Password}}).OK(t, nil)
	c.Token = res.Str(t, "signIn.token")
	return c
}

// orgtCall is one request of orgtConcurrently.
type orgtCall struct {
	token string
	query string
	vars  map[string]any
}

// orgtConcurrently sends the calls at once, each with its Bearer token. It does not
// use testenv.Client, whose failures must happen on the test's goroutine.
func orgtConcurrently(t *testing.T, e *testenv.Env, calls []orgtCall) []*testenv.Response {
	t.Helper()
	reqs := make([]*http.Request, len(calls))
	for i, c := range calls {
		body, err := json.Marshal(map[string]any{"query": c.query, "variables": c.vars})
		if err != nil {
			t.Fatal(err)
		}
		reqs[i], err = http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		reqs[i].Header.Set("Content-Type", "application/json")
		reqs[i].Header.Set("Authorization", "Bearer "+c.token)
	}
	return orgtSendAll(t, reqs)
}

// orgtSendAll sends prepared requests at once and decodes the JSON replies.
func orgtSendAll(t *testing.T, reqs []*http.Request) []*testenv.Response {
	t.Helper()
	out := make([]*testenv.Response, len(reqs))
	errs := make([]error, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = testenv.SendGraphQL(http.DefaultClient, req)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// --- images ---

func orgtPattern(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 9), uint8(y * 3), uint8(x ^ y), 255})
		}
	}
	return img
}

func orgtPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func orgtJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func orgtGIF(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black, color.RGBA{200, 0, 0, 255}})
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetColorIndex(x, y, uint8((x+y)%3))
		}
	}
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// orgtNoisePNG is a w×h PNG of random pixels: it hardly compresses.
func orgtNoisePNG(t testing.TB, w, h int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.UintN(256))
	}
	return orgtPNG(t, img)
}

// orgtPaddedPNG is a valid w×h PNG of exactly size bytes (a tEXt chunk pads it).
func orgtPaddedPNG(t testing.TB, w, h, size int) []byte {
	t.Helper()
	base := orgtPNG(t, orgtPattern(w, h))
	const ihdrEnd = 8 + 25
	payload := []byte("Comment\x00")
	payload = append(payload, bytes.Repeat([]byte("x"), size-len(base)-12-len(payload))...)
	var chunk bytes.Buffer
	_ = binary.Write(&chunk, binary.BigEndian, uint32(len(payload)))
	chunk.WriteString("tEXt")
	chunk.Write(payload)
	_ = binary.Write(&chunk, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("tEXt"), payload...)))
	out := slices.Concat(base[:ihdrEnd], chunk.Bytes(), base[ihdrEnd:])
	if len(out) != size {
		t.Fatalf("padded PNG has %d bytes, want %d", len(out), size)
	}
	return out
}

// orgtWebP builds a one-colour lossless WebP by hand (there is no WebP encoder in
// the standard library): every VP8L prefix code is a simple one-symbol code, so
// the pixels take no bits.
func orgtWebP(w, h int, c color.NRGBA) []byte {
	var bits []byte
	var acc uint64
	var n uint
	put := func(v uint32, k uint) {
		acc |= uint64(v) << n
		n += k
		for n >= 8 {
			bits = append(bits, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	put(0x2f, 8)
	put(uint32(w-1), 14)
	put(uint32(h-1), 14)
	put(0, 1) // no alpha
	put(0, 3) // version
	put(0, 1) // no transform
	put(0, 1) // no color cache
	put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		put(1, 1) // simple code
		put(0, 1) // one symbol
		put(1, 1) // 8-bit symbol
		put(uint32(sym), 8)
	}
	if n > 0 {
		bits = append(bits, byte(acc))
	}
	var chunk bytes.Buffer
	chunk.WriteString("VP8L")
	_ = binary.Write(&chunk, binary.LittleEndian, uint32(len(bits)))
	chunk.Write(bits)
	if len(bits)%2 == 1 {
		chunk.WriteByte(0)
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(4+chunk.Len()))
	out.WriteString("WEBP")
	out.Write(chunk.Bytes())
	return out.Bytes()
}

// --- uploads ---

// orgtUploadRequest builds a GraphQL multipart request (operations, map, one file
// part "0") of updateOrganization with in.logo set to the file. extra is merged
// into the input. preflight names the preflight-forcing header to send, if any.
func orgtUploadRequest(t testing.TB, e *testenv.Env, orgID string, extra map[string]any, filename, contentType string, data []byte, preflight string) *http.Request {
	t.Helper()
	in := map[string]any{"organizationId": orgID, "logo": nil}
	for k, v := range extra {
		in[k] = v
	}
	ops, err := json.Marshal(map[string]any{"query": orgtMUpdate, "variables": map[string]any{"in": in}})
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0":["variables.in.logo"]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="0"; filename=%q`, filename))
	h.Set("Content-Type", contentType)
	part, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if preflight != "" {
		req.Header.Set(preflight, "1")
	}
	return req
}

// orgtUpload uploads a logo as c, with the GraphQL-Require-Preflight header.
func orgtUpload(t testing.TB, e *testenv.Env, c *testenv.Client, orgID, filename, contentType string, data []byte) *testenv.Response {
	t.Helper()
	return c.Send(orgtUploadRequest(t, e, orgID, nil, filename, contentType, data, "GraphQL-Require-Preflight"))
}

type orgtFetched struct {
	Status int
	Header http.Header
	Body   []byte
}

// orgtFetch GETs a path of the server without credentials (logos are public at
// their URL).
func orgtFetch(t testing.TB, e *testenv.Env, path string) orgtFetched {
	t.Helper()
	res, err := http.Get(e.Server.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return orgtFetched{Status: res.StatusCode, Header: res.Header, Body: body}
}

const orgtBaseURL = "https://cdn.example.test"

var orgtWithBaseURL = testenv.WithConfig(func(c *config.Config) { c.BaseURL = orgtBaseURL + "/" })

// orgtLogoPath checks that url is the content-addressed logo URL of data for orgID
// under base and returns its path.
func orgtLogoPath(t testing.TB, base, url, orgID string, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	want := base + "/logos/" + orgID + "/" + hex.EncodeToString(sum[:])[:16]
	if url != want {
		t.Fatalf("logoUrl = %q, want %q", url, want)
	}
	return strings.TrimPrefix(url, base)
}

// orgtWantServed checks that path serves exactly data as contentType, cacheable
// forever and never sniffed.
func orgtWantServed(t testing.TB, e *testenv.Env, path string, data []byte, contentType string) {
	t.Helper()
	got := orgtFetch(t, e, path)
	if got.Status != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d %s", path, got.Status, got.Body)
	}
	if !bytes.Equal(got.Body, data) {
		t.Fatalf("GET %s: %d bytes that differ from the %d uploaded", path, len(got.Body), len(data))
	}
	if ct := got.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("GET %s: Content-Type %q, want %q", path, ct, contentType)
	}
	if cc := got.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=") {
		t.Errorf("GET %s: Cache-Control %q, want a long max-age and immutable", path, cc)
	}
	if n := got.Header.Get("X-Content-Type-Options"); n != "nosniff" {
		t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", path, n)
	}
}

func orgtWantGone(t testing.TB, e *testenv.Env, path string) {
	t.Helper()
	if got := orgtFetch(t, e, path); got.Status != http.StatusNotFound {
		t.Fatalf("GET %s: HTTP %d (%d bytes), want 404", path, got.Status, len(got.Body))
	}
}

// --- createOrganization ---

func TestCreateOrganization(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		other := orgtSignInAgain(t, e, ada)
		var out struct {
			CreateOrganization struct {
				Organization struct {
					ID, Name, Slug, CreatedAt, UpdatedAt string
					LogoURL                              *string `json:"logoUrl"`
					MemberCount                          int
					ViewerRole                           string
				}
				Member struct {
					ID, Role     string
					User         struct{ ID string }
					Organization struct{ ID string }
				}
			}
		}
		orgtCreate(ada, "  Acme Labs \t", "  Acme-Labs ").OK(t, &out)
		o, m := out.CreateOrganization.Organization, out.CreateOrganization.Member
		switch {
		case !strings.HasPrefix(o.ID, "org_"):
			t.Errorf("organization id %q, want an org_ ID", o.ID)
		case o.Name != "Acme Labs":
			t.Errorf("name %q, want the trimmed %q", o.Name, "Acme Labs")
		case o.Slug != "acme-labs":
			t.Errorf("slug %q, want the normalized %q", o.Slug, "acme-labs")
		case o.LogoURL != nil:
			t.Errorf("logoUrl %q, want null without a logo", *o.LogoURL)
		case o.MemberCount != 1:
			t.Errorf("memberCount %d, want 1", o.MemberCount)
		case o.ViewerRole != "OWNER":
			t.Errorf("viewerRole %q, want OWNER", o.ViewerRole)
		case m.Role != "OWNER":
			t.Errorf("payload member.role %q, want OWNER", m.Role)
		case m.User.ID != ada.ID:
			t.Errorf("payload member.user %q, want the creator %q", m.User.ID, ada.ID)
		case m.Organization.ID != o.ID:
			t.Errorf("payload member.organization %q, want %q", m.Organization.ID, o.ID)
		case !strings.HasPrefix(m.ID, "mem_"):
			t.Errorf("member id %q, want a mem_ ID", m.ID)
		}
		created := orgtWantTimeNear(t, "createdAt", o.CreatedAt, time.Now())
		updated := orgtWantTimeNear(t, "updatedAt", o.UpdatedAt, time.Now())
		if updated.Before(created) {
			t.Errorf("updatedAt %s is before createdAt %s", updated, created)
		}

		// It is the creating session's active organization, and only that session's.
		orgtWantActive(t, ada.Client, o.ID, "after creating")
		orgtWantActive(t, other, "", "another session of the creator")

		// Readable by its slug in any letter case, by both sessions.
		for _, s := range []string{"acme-labs", "ACME-LABS", "Acme-Labs", " acme-labs "} {
			if got := orgtVisible(t, ada.Client, s); got != o.ID {
				t.Errorf("organization(slug: %q) = %q, want %q", s, got, o.ID)
			}
		}
		if got := orgtVisible(t, other, "acme-labs"); got != o.ID {
			t.Errorf("the creator's other session reads organization %q, want %q", got, o.ID)
		}

		// The creation is in the audit log: the organization and its first member.
		res := ada.Do(orgtQAudit, map[string]any{"slug": "acme-labs"}).OK(t, nil)
		var log struct {
			Organization struct {
				AuditLog struct {
					Edges []struct{ Node orgtEvent }
				}
			}
		}
		if err := json.Unmarshal(res.Data, &log); err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ed := range log.Organization.AuditLog.Edges {
			types = append(types, ed.Node.Type)
		}
		if want := []string{"MEMBER_JOINED", "ORGANIZATION_CREATED"}; !slices.Equal(types, want) {
			t.Errorf("audit log after creation = %v, want %v", types, want)
		}

		// A second organization becomes the active one in its turn; the viewer has two.
		o2 := e.CreateOrg(ada, "Second", "second")
		orgtWantActive(t, ada.Client, o2.ID, "after creating a second organization")
		if n := orgtMyOrgCount(t, ada.Client); n != 2 {
			t.Errorf("viewer has %d organizations, want 2", n)
		}

		// Boundaries that are valid: 3 and 48 characters, digits, a 100-character name
		// (in characters, not bytes), names in any script.
		for _, c := range []struct{ name, slug, wantSlug string }{
			{"Abc", "abc", "abc"},
			{"Long", strings.Repeat("a", 47) + "9", strings.Repeat("a", 47) + "9"},
			{"Digits", "123", "123"},
			{strings.Repeat("é", 100), "accents", "accents"},
			{"日本の組織", "nihon-no-soshiki", "nihon-no-soshiki"},
			{"Mixed", "A1-B2-C3", "a1-b2-c3"},
		} {
			var got struct {
				CreateOrganization struct{ Organization struct{ Name, Slug string } }
			}
			orgtCreate(ada, c.name, c.slug).OK(t, &got)
			if got.CreateOrganization.Organization.Slug != c.wantSlug || got.CreateOrganization.Organization.Name != c.name {
				t.Errorf("create(%q, %q) = %+v, want name %q slug %q", c.name, c.slug, got.CreateOrganization.Organization, c.name, c.wantSlug)
			}
		}
	})
}

func TestCreateOrganizationRefusals(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		acme := e.CreateOrg(ada, "Acme", "acme")
		bob := e.SignUp("Bob")
		before := orgtSnapshot(t, e)

		cases := []struct {
			what, name, slug    string
			code, reason, field string
		}{
			{"too short", "X", "ab", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"one char", "X", "a", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"49 chars", "X", strings.Repeat("a", 49), "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"leading hyphen", "X", "-acme", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"trailing hyphen", "X", "acme-", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"double hyphen", "X", "ac--me", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"underscore", "X", "acme_labs", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"accent", "X", "acmé", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"inner space", "X", "acme labs", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"dot", "X", "acme.labs", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"slash", "X", "acme/labs", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"empty", "X", "", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"blank", "X", "   ", "BAD_USER_INPUT", "SLUG_INVALID", "input.slug"},
			{"reserved api", "X", "api", "BAD_USER_INPUT", "SLUG_RESERVED", "input.slug"},
			{"reserved admin", "X", "admin", "BAD_USER_INPUT", "SLUG_RESERVED", "input.slug"},
			{"reserved settings", "X", "settings", "BAD_USER_INPUT", "SLUG_RESERVED", "input.slug"},
			{"reserved new", "X", "new", "BAD_USER_INPUT", "SLUG_RESERVED", "input.slug"},
			{"reserved upper case", "X", "API", "BAD_USER_INPUT", "SLUG_RESERVED", "input.slug"},
			{"reserved logos", "X", "logos", "BAD_USER_INPUT", "SLUG_RESERVED", "input.slug"},
			{"blank name", "   ", "fine-slug", "BAD_USER_INPUT", "INVALID_NAME", "input.name"},
			{"empty name", "", "fine-slug", "BAD_USER_INPUT", "INVALID_NAME", "input.name"},
			{"101-char name", strings.Repeat("n", 101), "fine-slug", "BAD_USER_INPUT", "INVALID_NAME", "input.name"},
			{"101-char accented name", strings.Repeat("é", 101), "fine-slug", "BAD_USER_INPUT", "INVALID_NAME", "input.name"},
			{"control char in name", "Acme\x00Labs", "fine-slug", "BAD_USER_INPUT", "INVALID_NAME", "input.name"},
		}
		for _, c := range cases {
			res := orgtCreate(ada, c.name, c.slug)
			if len(res.Errors) == 0 {
				t.Errorf("%s: create(%q, %q) succeeded, want %s/%s", c.what, c.name, c.slug, c.code, c.reason)
				continue
			}
			if got := res.Errors[0]; got.Code() != c.code || got.Reason() != c.reason || got.Field() != c.field {
				t.Errorf("%s: create(%q, %q) = %s/%s field %q, want %s/%s field %q", c.what, c.name, c.slug,
					got.Code(), got.Reason(), got.Field(), c.code, c.reason, c.field)
			}
			if d := string(res.Data); d != "" && d != "null" && res.Get(t, "createOrganization") != nil {
				t.Errorf("%s: refused create returned data %s", c.what, res.Data)
			}
			orgtUnchanged(t, e, before, c.what)
		}

		// Taken in any letter case, by the owner or by anyone else.
		for _, s := range []string{"acme", "ACME", "Acme", " acme "} {
			for _, u := range []*testenv.User{ada, bob} {
				res := orgtCreate(u, "Another Acme", s)
				res.Fails(t, "CONFLICT", "SLUG_TAKEN")
				orgtUnchanged(t, e, before, "taken slug "+s)
			}
		}

		// The viewers see what they saw before.
		if n := orgtMyOrgCount(t, ada.Client); n != 1 {
			t.Errorf("ada has %d organizations after refusals, want 1", n)
		}
		if n := orgtMyOrgCount(t, bob.Client); n != 0 {
			t.Errorf("bob has %d organizations after refusals, want 0", n)
		}
		orgtWantActive(t, ada.Client, acme.ID, "after refusals")
		orgtWantActive(t, bob.Client, "", "after refusals")

		// Without a session.
		anon := e.Client()
		res := anon.Do(orgtMCreate, map[string]any{"in": map[string]any{"name": "Anon", "slug": "anon-org"}})
		res.Fails(t, "UNAUTHENTICATED", "")
		orgtUnchanged(t, e, before, "anonymous create")
		if got := orgtAvail(ada.Client, "anon-org").OK(t, nil).Get(t, "slugAvailability.available"); got != true {
			t.Errorf("anon-org is not available after an anonymous create was refused")
		}
	})
}

func TestCreateOrganizationConcurrentSlug(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		const n = 10
		users := make([]*testenv.User, n)
		calls := make([]orgtCall, n)
		cases := []string{"race", "Race", "RACE", "rAce", " race "}
		for i := range users {
			users[i] = e.SignUp(fmt.Sprintf("Racer%d", i))
			calls[i] = orgtCall{token: users[i].Token, query: orgtMCreate, vars: map[string]any{
				"in": map[string]any{"name": fmt.Sprintf("Race %d", i), "slug": cases[i%len(cases)]},
			}}
		}
		before := orgtSnapshot(t, e)
		results := orgtConcurrently(t, e, calls)
		winner := -1
		for i, r := range results {
			if len(r.Errors) == 0 && r.Status == http.StatusOK {
				if winner >= 0 {
					t.Fatalf("two creations of the same slug succeeded:\n%s\n%s", results[winner].Raw, r.Raw)
				}
				winner = i
				continue
			}
			r.Fails(t, "CONFLICT", "SLUG_TAKEN")
		}
		if winner < 0 {
			t.Fatalf("no creation succeeded; first: %s", results[0].Raw)
		}
		orgID := results[winner].Str(t, "createOrganization.organization.id")

		after := orgtSnapshot(t, e)
		if after.Orgs != before.Orgs+1 || after.Members != before.Members+1 || after.Events != before.Events+2 {
			t.Errorf("after the race: %+v, before %+v; want one organization, one member, two events more", after, before)
		}
		for i, u := range users {
			want := ""
			if i == winner {
				want = orgID
			}
			orgtWantActive(t, u.Client, want, fmt.Sprintf("racer %d", i))
			if got := orgtVisible(t, u.Client, "race"); got != want {
				t.Errorf("racer %d sees organization %q, want %q", i, got, want)
			}
		}
	})
}

func TestOrgOwnershipLimit(t *testing.T) {
	limit2 := testenv.WithConfig(func(c *config.Config) { c.MaxOwnedOrganizations = 2 })
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		one := e.CreateOrg(ada, "One", "one")
		two := e.CreateOrg(ada, "Two", "two")

		// Memberships that are not ownerships do not count.
		bobs := e.CreateOrg(bob, "Bob's", "bobs")
		e.AddMember(bobs, ada, role.Admin)

		before := orgtSnapshot(t, e)
		res := orgtCreate(ada, "Three", "three")
		res.Fails(t, "FORBIDDEN", "LIMIT_REACHED")
		orgtUnchanged(t, e, before, "creation over the limit")
		orgtWantActive(t, ada.Client, two.ID, "after a refused creation")
		if got := orgtAvail(ada.Client, "three").OK(t, nil).Get(t, "slugAvailability.available"); got != true {
			t.Errorf("the refused slug is not available")
		}

		// Transferring one away frees a place.
		bobInOne := e.AddMember(one, bob, role.Member)
		ada.Do(orgtMTransfer, map[string]any{"in": map[string]any{"organizationId": one.ID, "memberId": bobInOne}}).OK(t, nil)
		if n := orgtOwned(t, e, ada.ID); n != 1 {
			t.Fatalf("ada owns %d organizations after the transfer, want 1", n)
		}
		three := e.CreateOrg(ada, "Three", "three")
		orgtCreate(ada, "Four", "four").Fails(t, "FORBIDDEN", "LIMIT_REACHED")

		// Bob now owns two (his own and One): he is at the limit too.
		orgtCreate(bob, "Bob's second", "bobs-second").Fails(t, "FORBIDDEN", "LIMIT_REACHED")

		// Deleting one frees a place.
		ada.Do(orgtMDelete, map[string]any{"in": map[string]any{"organizationId": three.ID, "confirmSlug": "three"}}).OK(t, nil)
		e.CreateOrg(ada, "Four", "four")
		orgtCreate(ada, "Five", "five").Fails(t, "FORBIDDEN", "LIMIT_REACHED")
		if n := orgtOwned(t, e, ada.ID); n != 2 {
			t.Errorf("ada owns %d organizations, want 2", n)
		}
	}, limit2)
}

func TestOrgOwnershipLimitDefault(t *testing.T) {
	// The default configuration allows 10 owned organizations.
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		for i := range 10 {
			e.CreateOrg(ada, fmt.Sprintf("Org %d", i), fmt.Sprintf("org-%d", i))
		}
		orgtCreate(ada, "Eleven", "org-eleven").Fails(t, "FORBIDDEN", "LIMIT_REACHED")
	})
}

// One testenv.Each per test: a second one in the same test names its subtest
// "sqlite#01", and a '#' in the database path is mishandled (see
// TestDeleteOrganizationSQLitePathWithHash).
func TestOrgOwnershipUnlimited(t *testing.T) {
	// 0 means no limit.
	unlimited := testenv.WithConfig(func(c *config.Config) { c.MaxOwnedOrganizations = 0 })
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		for i := range 12 {
			e.CreateOrg(ada, fmt.Sprintf("Org %d", i), fmt.Sprintf("org-%d", i))
		}
		if n := orgtOwned(t, e, ada.ID); n != 12 {
			t.Errorf("ada owns %d, want 12", n)
		}
	}, unlimited)
}

func TestOrgOwnershipLimitConcurrent(t *testing.T) {
	limit2 := testenv.WithConfig(func(c *config.Config) { c.MaxOwnedOrganizations = 2 })
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		const n = 6
		calls := make([]orgtCall, n)
		for i := range calls {
			calls[i] = orgtCall{token: ada.Token, query: orgtMCreate, vars: map[string]any{
				"in": map[string]any{"name": fmt.Sprintf("Org %d", i), "slug": fmt.Sprintf("burst-%d", i)},
			}}
		}
		results := orgtConcurrently(t, e, calls)
		ok := 0
		for _, r := range results {
			if len(r.Errors) == 0 && r.Status == http.StatusOK {
				ok++
				continue
			}
			r.Fails(t, "FORBIDDEN", "LIMIT_REACHED")
		}
		if owned := orgtOwned(t, e, ada.ID); owned != 2 || ok != 2 {
			t.Fatalf("%d concurrent creations with a limit of 2: %d succeeded, ada owns %d; want 2 and 2", n, ok, owned)
		}
		if got := orgtMyOrgCount(t, ada.Client); got != 2 {
			t.Errorf("viewer.organizations has %d, want 2", got)
		}

		// A second burst, already at the limit: none succeeds.
		for i := range calls {
			calls[i].vars = map[string]any{"in": map[string]any{"name": "Again", "slug": fmt.Sprintf("again-%d", i)}}
		}
		for _, r := range orgtConcurrently(t, e, calls) {
			r.Fails(t, "FORBIDDEN", "LIMIT_REACHED")
		}
		if owned := orgtOwned(t, e, ada.ID); owned != 2 {
			t.Fatalf("ada owns %d organizations, want 2", owned)
		}
	}, limit2)
}

// --- slugAvailability ---

type orgtAvailability struct {
	Slug       string
	Available  bool
	Reason     *string
	Suggestion *string
}

func orgtCheckAvail(t testing.TB, c *testenv.Client, slug string) orgtAvailability {
	t.Helper()
	var out struct{ SlugAvailability orgtAvailability }
	orgtAvail(c, slug).OK(t, &out)
	return out.SlugAvailability
}

// orgtWantUnavailable checks the answer for an unusable slug and, if it has a
// suggestion, that the suggestion is itself available. It returns the suggestion.
func orgtWantUnavailable(t testing.TB, c *testenv.Client, slug, wantSlug, reason string) string {
	t.Helper()
	a := orgtCheckAvail(t, c, slug)
	if a.Available || a.Reason == nil || *a.Reason != reason || a.Slug != wantSlug {
		t.Fatalf("slugAvailability(%q) = %s, want slug %q unavailable for %s", slug, orgtJSON(a), wantSlug, reason)
	}
	if a.Suggestion == nil {
		return ""
	}
	s := *a.Suggestion
	if s == wantSlug {
		t.Fatalf("slugAvailability(%q) suggests the unavailable slug itself", slug)
	}
	if b := orgtCheckAvail(t, c, s); !b.Available || b.Slug != s {
		t.Fatalf("slugAvailability(%q) suggests %q, which is not available: %s", slug, s, orgtJSON(b))
	}
	orgtWantAvailable(t, c, s, s)
	return s
}

// orgtWantAvailable checks the answer for a usable slug: available, without a
// reason or a suggestion. (That reason is null rather than "" is checked once, in
// TestSlugAvailability.)
func orgtWantAvailable(t testing.TB, c *testenv.Client, slug, wantSlug string) {
	t.Helper()
	a := orgtCheckAvail(t, c, slug)
	if !a.Available || a.Slug != wantSlug || (a.Reason != nil && *a.Reason != "") || a.Suggestion != nil {
		t.Fatalf("slugAvailability(%q) = %s, want %q available without reason or suggestion", slug, orgtJSON(a), wantSlug)
	}
}

func orgtJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestSlugAvailability(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")

		for _, c := range []struct{ in, want string }{
			{"fresh-slug", "fresh-slug"},
			{"  Fresh-Slug ", "fresh-slug"},
			{"abc", "abc"},
			{strings.Repeat("x", 48), strings.Repeat("x", 48)},
		} {
			orgtWantAvailable(t, ada.Client, c.in, c.want)
		}
		// The schema documents reason as "Null when available".
		res := orgtAvail(ada.Client, "fresh-slug").OK(t, nil)
		if r := res.Get(t, "slugAvailability.reason"); r != nil {
			t.Errorf("slugAvailability(fresh-slug).reason = %q, want null for an available slug: %s", r, res.Data)
		}

		e.CreateOrg(ada, "Acme", "acme")
		before := orgtSnapshot(t, e)

		// Taken, for everyone (also for a user who cannot see the organization).
		s1 := orgtWantUnavailable(t, ada.Client, "ACME", "acme", "SLUG_TAKEN")
		if s1 == "" {
			t.Fatal("no suggestion for a taken slug")
		}
		if s := orgtWantUnavailable(t, bob.Client, "acme", "acme", "SLUG_TAKEN"); s != s1 {
			t.Errorf("bob gets suggestion %q, ada %q", s, s1)
		}
		// The suggestion works, and then a different one is offered.
		e.CreateOrg(bob, "Acme too", s1)
		s2 := orgtWantUnavailable(t, ada.Client, "acme", "acme", "SLUG_TAKEN")
		if s2 == "" || s2 == s1 {
			t.Errorf("after %q was taken the suggestion is %q", s1, s2)
		}
		before = orgtSnapshot(t, e)

		// Invalid: normalized but not repaired in `slug`; the suggestion repairs it.
		if s := orgtWantUnavailable(t, ada.Client, "Acme Labs!", "acme labs!", "SLUG_INVALID"); s != "acme-labs" {
			t.Errorf("suggestion for %q = %q, want acme-labs", "Acme Labs!", s)
		}
		if s := orgtWantUnavailable(t, ada.Client, "acme_labs", "acme_labs", "SLUG_INVALID"); s != "acme-labs" {
			t.Errorf("suggestion for acme_labs = %q, want acme-labs", s)
		}
		e.CreateOrg(ada, "Acme Labs", "acme-labs")
		if s := orgtWantUnavailable(t, ada.Client, "Acme Labs!", "acme labs!", "SLUG_INVALID"); s != "acme-labs-2" {
			t.Errorf("suggestion for %q with acme-labs taken = %q, want acme-labs-2", "Acme Labs!", s)
		}
		orgtWantUnavailable(t, ada.Client, "ab", "ab", "SLUG_INVALID")
		orgtWantUnavailable(t, ada.Client, "", "", "SLUG_INVALID")
		orgtWantUnavailable(t, ada.Client, "-acme-", "-acme-", "SLUG_INVALID")
		long := orgtWantUnavailable(t, ada.Client, strings.Repeat("a", 49), strings.Repeat("a", 49), "SLUG_INVALID")
		if len(long) > 48 {
			t.Errorf("suggestion %q is longer than 48", long)
		}

		// Reserved.
		orgtWantUnavailable(t, ada.Client, "admin", "admin", "SLUG_RESERVED")
		orgtWantUnavailable(t, ada.Client, "API", "api", "SLUG_RESERVED")
		orgtWantUnavailable(t, ada.Client, "settings", "settings", "SLUG_RESERVED")
		orgtWantUnavailable(t, ada.Client, "new", "new", "SLUG_RESERVED")

		// A taken 48-character slug gets a suggestion that fits.
		full := strings.Repeat("b", 47) + "1"
		e.CreateOrg(ada, "Full", full)
		if s := orgtWantUnavailable(t, ada.Client, full, full, "SLUG_TAKEN"); s == "" || len(s) > 48 {
			t.Errorf("suggestion for a taken 48-character slug = %q", s)
		}

		// Reading availability writes nothing.
		before = orgtSnapshot(t, e)
		orgtCheckAvail(t, ada.Client, "acme")
		orgtCheckAvail(t, ada.Client, "whatever")
		orgtUnchanged(t, e, before, "slugAvailability")

		// It needs a session.
		e.Client().Do(orgtQAvail, map[string]any{"slug": "acme"}).Fails(t, "UNAUTHENTICATED", "")
	})
}

// --- reads ---

func TestOrganizationReads(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		acme := e.CreateOrg(ada, "Acme", "acme")

		// A non-member learns nothing: null, no error.
		for _, s := range []string{"acme", "ACME", "nope-nope"} {
			res := orgtBySlug(bob.Client, s).OK(t, nil)
			if res.Get(t, "organization") != nil {
				t.Errorf("non-member reads organization(slug: %q): %s", s, res.Data)
			}
		}
		res := bob.Do(orgtQNodes, map[string]any{"ids": []string{acme.ID, acme.OwnerMemberID}}).OK(t, nil)
		if got := res.Get(t, "nodes").([]any); got[0] != nil || got[1] != nil {
			t.Errorf("non-member reads nodes of the organization: %s", res.Data)
		}

		bobMember := e.AddMember(acme, bob, role.Member)
		orgtSetActive(bob.Client, acme.ID).OK(t, nil)

		var out struct {
			Organization struct {
				ID, Name, Slug       string
				LogoURL              *string `json:"logoUrl"`
				MemberCount          int
				ViewerRole           string
				CreatedAt, UpdatedAt string
				ViewerCan            map[string]bool
			}
		}
		orgtBySlug(bob.Client, "ACME").OK(t, &out)
		o := out.Organization
		if o.ID != acme.ID || o.Name != "Acme" || o.Slug != "acme" || o.LogoURL != nil || o.MemberCount != 2 || o.ViewerRole != "MEMBER" {
			t.Errorf("member reads %+v", o)
		}
		if o.ViewerCan["updateSettings"] || o.ViewerCan["viewAuditLog"] || o.ViewerCan["deleteOrganization"] || o.ViewerCan["manageMembers"] {
			t.Errorf("a MEMBER's viewerCan = %v, want all false", o.ViewerCan)
		}
		orgtWantTimeNear(t, "createdAt", o.CreatedAt, time.Now())
		orgtWantTimeNear(t, "updatedAt", o.UpdatedAt, time.Now())
		orgtBySlug(ada.Client, "acme").OK(t, &out)
		if out.Organization.ViewerRole != "OWNER" || out.Organization.MemberCount != 2 ||
			!out.Organization.ViewerCan["updateSettings"] || !out.Organization.ViewerCan["deleteOrganization"] {
			t.Errorf("owner reads %+v", out.Organization)
		}
		res = bob.Do(orgtQNodes, map[string]any{"ids": []string{acme.ID, bobMember}}).OK(t, nil)
		if got := res.Get(t, "nodes").([]any); got[0] == nil || got[1] == nil {
			t.Errorf("member cannot read nodes of the organization: %s", res.Data)
		}

		// A co-member's organizations and active organization are not readable: only
		// the viewer's own.
		const q = `query($id: ID!) { node(id: $id) { ... on User { id name
			organizations { totalCount edges { node { id } } } activeOrganization { id } } } }`
		res = ada.Do(q, map[string]any{"id": bob.ID}).OK(t, nil)
		if res.Get(t, "node") == nil {
			t.Fatalf("a co-member's user node is null: %s", res.Data)
		}
		if v := res.Get(t, "node.organizations"); v != nil {
			t.Errorf("ada reads bob's organizations: %s", res.Data)
		}
		if v := res.Get(t, "node.activeOrganization"); v != nil {
			t.Errorf("ada reads bob's active organization: %s", res.Data)
		}
		// The viewer's own user node does show them.
		res = bob.Do(q, map[string]any{"id": bob.ID}).OK(t, nil)
		if n, _ := res.Get(t, "node.organizations.totalCount").(float64); n != 1 {
			t.Errorf("bob's own node: %s", res.Data)
		}
		if res.Str(t, "node.activeOrganization.id") != acme.ID {
			t.Errorf("bob's own active organization: %s", res.Data)
		}
	})
}

func orgtListNames(t testing.TB, c *testenv.Client, vars map[string]any) (names []string, roles []string, conn orgtConn) {
	t.Helper()
	var out struct {
		Viewer struct{ Organizations orgtConn }
	}
	c.Do(orgtQMyOrgs, vars).OK(t, &out)
	for _, ed := range out.Viewer.Organizations.Edges {
		names = append(names, ed.Node.Name)
		roles = append(roles, ed.Node.ViewerRole)
	}
	return names, roles, out.Viewer.Organizations
}

type orgtConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   struct{ ID, Name, Slug, ViewerRole string }
	}
}

func TestOrgListOrderAndPagination(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		// Created in this order; names, slugs and creation order all sort differently.
		e.CreateOrg(ada, "Delta", "echo-5")
		e.CreateOrg(ada, "Alpha", "charlie-3")
		echo := e.CreateOrg(bob, "Echo", "alpha-1")
		e.AddMember(echo, ada, role.Member)
		e.CreateOrg(ada, "Charlie", "delta-4")
		e.CreateOrg(ada, "Bravo", "bravo-2")
		e.CreateOrg(bob, "Bob only", "bob-only") // not ada's

		byName := []string{"Alpha", "Bravo", "Charlie", "Delta", "Echo"}
		bySlug := []string{"Echo", "Bravo", "Alpha", "Charlie", "Delta"}
		byCreated := []string{"Delta", "Alpha", "Echo", "Charlie", "Bravo"}
		rev := func(s []string) []string { r := slices.Clone(s); slices.Reverse(r); return r }

		names, roles, conn := orgtListNames(t, ada.Client, nil)
		if !slices.Equal(names, byName) || conn.TotalCount != 5 {
			t.Errorf("default order = %v (totalCount %d), want %v by name (5)", names, conn.TotalCount, byName)
		}
		for i, n := range names {
			want := "OWNER"
			if n == "Echo" {
				want = "MEMBER"
			}
			if roles[i] != want {
				t.Errorf("viewerRole of %s = %q, want %q", n, roles[i], want)
			}
		}
		for _, c := range []struct {
			field, dir string
			want       []string
		}{
			{"NAME", "ASC", byName}, {"NAME", "DESC", rev(byName)},
			{"SLUG", "ASC", bySlug}, {"SLUG", "DESC", rev(bySlug)},
			{"CREATED_AT", "ASC", byCreated}, {"CREATED_AT", "DESC", rev(byCreated)},
		} {
			order := map[string]any{"field": c.field, "direction": c.dir}
			names, _, _ := orgtListNames(t, ada.Client, map[string]any{"orderBy": order})
			if !slices.Equal(names, c.want) {
				t.Errorf("order %s %s = %v, want %v", c.field, c.dir, names, c.want)
			}
			// Forward pages of 2 give the same sequence.
			var paged []string
			var after any
			for page := 0; ; page++ {
				if page > 5 {
					t.Fatalf("order %s %s: pagination does not end", c.field, c.dir)
				}
				got, _, conn := orgtListNames(t, ada.Client, map[string]any{"orderBy": order, "first": 2, "after": after})
				if conn.TotalCount != 5 {
					t.Errorf("page %d totalCount = %d, want 5", page, conn.TotalCount)
				}
				paged = append(paged, got...)
				if !conn.PageInfo.HasNextPage {
					break
				}
				after = *conn.PageInfo.EndCursor
			}
			if !slices.Equal(paged, c.want) {
				t.Errorf("order %s %s in pages of 2 = %v, want %v", c.field, c.dir, paged, c.want)
			}
		}

		// Page boundaries in detail (by name).
		p1, _, c1 := orgtListNames(t, ada.Client, map[string]any{"first": 2})
		if !slices.Equal(p1, byName[:2]) || !c1.PageInfo.HasNextPage || c1.PageInfo.EndCursor == nil {
			t.Fatalf("first page = %v %+v", p1, c1.PageInfo)
		}
		p2, _, c2 := orgtListNames(t, ada.Client, map[string]any{"first": 2, "after": *c1.PageInfo.EndCursor})
		if !slices.Equal(p2, byName[2:4]) || !c2.PageInfo.HasNextPage {
			t.Fatalf("second page = %v %+v", p2, c2.PageInfo)
		}
		p3, _, c3 := orgtListNames(t, ada.Client, map[string]any{"first": 2, "after": *c2.PageInfo.EndCursor})
		if !slices.Equal(p3, byName[4:]) || c3.PageInfo.HasNextPage {
			t.Fatalf("third page = %v %+v", p3, c3.PageInfo)
		}
		// Backwards.
		b1, _, bc1 := orgtListNames(t, ada.Client, map[string]any{"last": 2})
		if !slices.Equal(b1, byName[3:]) || !bc1.PageInfo.HasPreviousPage || bc1.PageInfo.StartCursor == nil {
			t.Fatalf("last page = %v %+v", b1, bc1.PageInfo)
		}
		b2, _, _ := orgtListNames(t, ada.Client, map[string]any{"last": 2, "before": *bc1.PageInfo.StartCursor})
		if !slices.Equal(b2, byName[1:3]) {
			t.Fatalf("page before the last = %v, want %v", b2, byName[1:3])
		}
		// first: 0 gives no edges but the count.
		if names, _, conn := orgtListNames(t, ada.Client, map[string]any{"first": 0}); len(names) != 0 || conn.TotalCount != 5 {
			t.Errorf("first: 0 = %v, totalCount %d", names, conn.TotalCount)
		}
		// 100 is the most.
		if names, _, _ := orgtListNames(t, ada.Client, map[string]any{"first": 100}); len(names) != 5 {
			t.Errorf("first: 100 = %v", names)
		}
		for _, v := range []map[string]any{{"first": 101}, {"last": 101}, {"first": -1}} {
			res := ada.Do(orgtQMyOrgs, v)
			if len(res.Errors) == 0 || res.Errors[0].Code() != "BAD_USER_INPUT" {
				t.Errorf("organizations(%v) = %s, want BAD_USER_INPUT", v, res.Raw)
			}
		}

		// Bob sees only his two.
		if names, _, _ := orgtListNames(t, bob.Client, nil); !slices.Equal(names, []string{"Bob only", "Echo"}) {
			t.Errorf("bob's organizations = %v", names)
		}
		// Without a session there is no viewer.
		res := e.Client().Do(orgtQMyOrgs, nil)
		if len(res.Errors) == 0 && res.Get(t, "viewer") != nil {
			t.Errorf("anonymous viewer.organizations: %s", res.Raw)
		}
	})
}

// TestOrgListNameOrderIgnoresCase: an organization switcher sorted by name must
// give the same order on every database; member lists order names ignoring letter
// case, and so should organization lists.
func TestOrgListNameOrderIgnoresCase(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		e.CreateOrg(ada, "delta", "org-d")
		e.CreateOrg(ada, "Charlie", "org-c")
		e.CreateOrg(ada, "alpha", "org-a")
		e.CreateOrg(ada, "Bravo", "org-b")
		want := []string{"alpha", "Bravo", "Charlie", "delta"}
		if names, _, _ := orgtListNames(t, ada.Client, map[string]any{"orderBy": map[string]any{"field": "NAME", "direction": "ASC"}}); !slices.Equal(names, want) {
			t.Errorf("organizations by NAME = %v, want %v (ignoring letter case, like members by NAME)", names, want)
		}
	})
}

// --- updateOrganization ---

type orgtEvent struct {
	ID, Type, CreatedAt string
	Actor               *struct{ ID string }
	Member              *struct{ ID, Role string }
	MemberID            *string `json:"memberId"`
	User                *struct{ ID string }
	OldRole             *string `json:"oldRole"`
	NewRole             *string `json:"newRole"`
	Data                *string
}

// orgtAudit returns the whole audit log (up to 50 events: a page of 100 with every
// event field exceeds the default complexity limit), newest first.
func orgtAudit(t testing.TB, c *testenv.Client, slug string) []orgtEvent {
	t.Helper()
	events, _ := orgtAuditPage(t, c, slug, 50, nil)
	return events
}

func orgtAuditPage(t testing.TB, c *testenv.Client, slug string, first int, after any) ([]orgtEvent, orgtAuditConn) {
	t.Helper()
	var out struct {
		Organization struct{ AuditLog orgtAuditConn }
	}
	c.Do(orgtQAudit, map[string]any{"slug": slug, "first": first, "after": after}).OK(t, &out)
	var evs []orgtEvent
	for _, ed := range out.Organization.AuditLog.Edges {
		evs = append(evs, ed.Node)
	}
	return evs, out.Organization.AuditLog
}

type orgtAuditConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage bool
		EndCursor   *string
	}
	Edges []struct {
		Cursor string
		Node   orgtEvent
	}
}

func orgtEventData(t testing.TB, ev orgtEvent) map[string]any {
	t.Helper()
	if ev.Data == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(*ev.Data), &m); err != nil {
		t.Fatalf("event data %q is not a JSON object: %v", *ev.Data, err)
	}
	return m
}

func TestUpdateOrganization(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		carol := e.SignUp("Carol")
		dave := e.SignUp("Dave")
		acme := e.CreateOrg(ada, "Acme", "acme")
		e.AddMember(acme, bob, role.Admin)
		e.AddMember(acme, carol, role.Member)

		read := func() (name, slug, updatedAt string) {
			res := orgtBySlug(ada.Client, "acme").OK(t, nil)
			return res.Str(t, "organization.name"), res.Str(t, "organization.slug"), res.Str(t, "organization.updatedAt")
		}
		_, _, updated0 := read()
		time.Sleep(5 * time.Millisecond)

		// Rename (trimmed): the payload, the read and the audit log agree.
		res := orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "name": "  Acme Inc  "}).OK(t, nil)
		if res.Str(t, "updateOrganization.organization.name") != "Acme Inc" || res.Str(t, "updateOrganization.organization.slug") != "acme" {
			t.Fatalf("payload after rename: %s", res.Data)
		}
		name, slug, updated1 := read()
		if name != "Acme Inc" || slug != "acme" {
			t.Fatalf("after rename: name %q slug %q", name, slug)
		}
		if updated1 <= updated0 {
			t.Errorf("updatedAt %s did not move forward from %s", updated1, updated0)
		}
		evs := orgtAudit(t, ada.Client, "acme")
		if len(evs) == 0 || evs[0].Type != "ORGANIZATION_UPDATED" {
			t.Fatalf("newest event after rename: %+v", evs)
		}
		if d := orgtEventData(t, evs[0]); d["name"] != "Acme Inc" {
			t.Errorf("ORGANIZATION_UPDATED data = %v, want the new name", d)
		}
		if evs[0].Actor == nil || evs[0].Actor.ID != ada.ID {
			t.Errorf("ORGANIZATION_UPDATED actor = %+v, want ada", evs[0].Actor)
		}

		// The same name (also after trimming), or nothing at all: no change, no event.
		before := orgtSnapshot(t, e)
		orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "name": "Acme Inc"}).OK(t, nil)
		orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "name": " Acme Inc "}).OK(t, nil)
		orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID}).OK(t, nil)
		orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "removeLogo": true}).OK(t, nil) // no logo to remove
		orgtUnchanged(t, e, before, "updates that change nothing")
		if _, _, u := read(); u != updated1 {
			t.Errorf("updatedAt moved from %s to %s without a change", updated1, u)
		}

		// Invalid names change nothing.
		for _, n := range []string{"", "   ", strings.Repeat("n", 101), "a\x07b"} {
			orgtFailsOn(t, orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "name": n}), "BAD_USER_INPUT", "INVALID_NAME", "input.name")
		}
		orgtUnchanged(t, e, before, "invalid names")
		if n, _, _ := read(); n != "Acme Inc" {
			t.Errorf("name %q after refused updates", n)
		}
		// 100 characters is fine.
		orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "name": strings.Repeat("ü", 100)}).OK(t, nil)

		// An ADMIN may, a MEMBER may not, a stranger does not see it.
		orgtUpdate(bob.Client, map[string]any{"organizationId": acme.ID, "name": "Acme by Bob"}).OK(t, nil)
		if evs := orgtAudit(t, ada.Client, "acme"); evs[0].Actor == nil || evs[0].Actor.ID != bob.ID {
			t.Errorf("rename by bob is logged with actor %+v", evs[0].Actor)
		}
		before = orgtSnapshot(t, e)
		orgtUpdate(carol.Client, map[string]any{"organizationId": acme.ID, "name": "Carol's"}).Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
		orgtUpdate(dave.Client, map[string]any{"organizationId": acme.ID, "name": "Dave's"}).Fails(t, "NOT_FOUND", "")
		orgtUpdate(e.Client(), map[string]any{"organizationId": acme.ID, "name": "Anon"}).Fails(t, "UNAUTHENTICATED", "")
		orgtUpdate(ada.Client, map[string]any{"organizationId": "org_01aaaaaaaaaaaaaaaaaaaaaaaa", "name": "Ghost"}).Fails(t, "NOT_FOUND", "")
		orgtUnchanged(t, e, before, "refused updates")
		if n, _, _ := read(); n != "Acme by Bob" {
			t.Errorf("name %q after refused updates", n)
		}

		// The slug is immutable: the input has no slug, and sending one is refused.
		res = ada.Do(`{ __type(name: "UpdateOrganizationInput") { inputFields { name } } }`, nil).OK(t, nil)
		var fields []string
		for _, f := range res.Get(t, "__type.inputFields").([]any) {
			fields = append(fields, f.(map[string]any)["name"].(string))
		}
		if slices.Contains(fields, "slug") {
			t.Errorf("UpdateOrganizationInput has a slug field: %v", fields)
		}
		res = ada.Do(`{ __schema { types { name kind inputFields { name } } } }`, nil).OK(t, nil)
		for _, ty := range res.Get(t, "__schema.types").([]any) {
			m := ty.(map[string]any)
			if m["kind"] != "INPUT_OBJECT" || m["name"] == "CreateOrganizationInput" {
				continue
			}
			for _, f := range m["inputFields"].([]any) {
				if f.(map[string]any)["name"] == "slug" {
					t.Errorf("input %s has a slug field: a way to change a slug after creation?", m["name"])
				}
			}
		}
		res = orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "slug": "renamed"})
		if len(res.Errors) == 0 {
			t.Errorf("updateOrganization accepted a slug: %s", res.Raw)
		}
		if _, s, _ := read(); s != "acme" {
			t.Errorf("slug changed to %q", s)
		}
	})
}

// --- logos ---

func TestLogoUpload(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		carol := e.SignUp("Carol")
		acme := e.CreateOrg(ada, "Acme", "acme")
		e.AddMember(acme, carol, role.Member)

		pngData := orgtPNG(t, orgtPattern(64, 64))
		res := orgtUpload(t, e, ada.Client, acme.ID, "logo.png", "image/png", pngData).OK(t, nil)
		url := res.Str(t, "updateOrganization.organization.logoUrl")
		pngPath := orgtLogoPath(t, orgtBaseURL, url, acme.ID, pngData)
		orgtWantServed(t, e, pngPath, pngData, "image/png")
		// Every member reads the same URL.
		if got := orgtLogoURL(t, carol.Client, "acme"); got != url {
			t.Errorf("member reads logoUrl %q, want %q", got, url)
		}
		evs := orgtAudit(t, ada.Client, "acme")
		if evs[0].Type != "ORGANIZATION_UPDATED" || orgtEventData(t, evs[0])["logo"] == nil {
			t.Errorf("logo upload logged as %+v", evs[0])
		}
		// Conditional requests are answered from the ETag.
		req, _ := http.NewRequest(http.MethodGet, e.Server.URL+pngPath, nil)
		if etag := orgtFetch(t, e, pngPath).Header.Get("ETag"); etag != "" {
			req.Header.Set("If-None-Match", etag)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match with the ETag: HTTP %d, want 304", r.StatusCode)
			}
		}

		// Each format replaces the previous logo: a new URL, the old one is gone.
		prev := pngPath
		for _, f := range []struct {
			name, ct string
			data     []byte
		}{
			{"logo.jpg", "image/jpeg", orgtJPEG(t, orgtPattern(128, 96))},
			{"logo.gif", "image/gif", orgtGIF(t, 48, 48)},
			{"logo.webp", "image/webp", orgtWebP(40, 40, color.NRGBA{R: 200, G: 40, B: 90, A: 255})},
			{"logo.png", "image/png", orgtPNG(t, orgtPattern(2048, 16))},
			{"logo.png", "image/png", orgtPaddedPNG(t, 32, 32, 1<<20)}, // exactly 1 MiB
		} {
			res := orgtUpload(t, e, ada.Client, acme.ID, f.name, f.ct, f.data).OK(t, nil)
			url := res.Str(t, "updateOrganization.organization.logoUrl")
			path := orgtLogoPath(t, orgtBaseURL, url, acme.ID, f.data)
			if path == prev {
				t.Fatalf("%s: the logo URL did not change", f.ct)
			}
			orgtWantServed(t, e, path, f.data, f.ct)
			orgtWantGone(t, e, prev)
			if got := orgtLogoURL(t, ada.Client, "acme"); got != url {
				t.Errorf("%s: organization reads logoUrl %q, want %q", f.ct, got, url)
			}
			prev = path
		}
		// The upload header may also be Apollo's.
		pngData2 := orgtPNG(t, orgtPattern(20, 20))
		res = ada.Send(orgtUploadRequest(t, e, acme.ID, nil, "x.png", "image/png", pngData2, "Apollo-Require-Preflight")).OK(t, nil)
		path := orgtLogoPath(t, orgtBaseURL, res.Str(t, "updateOrganization.organization.logoUrl"), acme.ID, pngData2)
		orgtWantServed(t, e, path, pngData2, "image/png")
		orgtWantGone(t, e, prev)

		// A rename keeps the logo; a name and a logo can change together.
		orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "name": "Acme 2"}).OK(t, nil)
		if got := orgtLogoURL(t, ada.Client, "acme"); !strings.HasSuffix(got, path) {
			t.Errorf("a rename changed logoUrl to %q", got)
		}
		pngData3 := orgtPNG(t, orgtPattern(30, 30))
		res = ada.Send(orgtUploadRequest(t, e, acme.ID, map[string]any{"name": "Acme 3"}, "y.png", "image/png", pngData3, "GraphQL-Require-Preflight")).OK(t, nil)
		if res.Str(t, "updateOrganization.organization.name") != "Acme 3" {
			t.Errorf("name with logo: %s", res.Data)
		}
		path = orgtLogoPath(t, orgtBaseURL, res.Str(t, "updateOrganization.organization.logoUrl"), acme.ID, pngData3)
		orgtWantServed(t, e, path, pngData3, "image/png")

		// Only the exact, unguessable URL serves it.
		hash := path[strings.LastIndex(path, "/")+1:]
		other := e.CreateOrg(ada, "Other", "other")
		for _, p := range []string{
			"/logos/" + other.ID + "/" + hash,
			"/logos/" + acme.ID + "/" + hash[:15],
			"/logos/" + acme.ID + "/" + strings.Repeat("%25", 16),
			"/logos/" + acme.ID + "/" + strings.Repeat("_", 16),
			"/logos/" + acme.ID + "/" + hash[:8] + strings.Repeat("_", 8),
			"/logos/" + acme.ID + "/" + hash[:15] + "%25",
			"/logos/" + acme.ID + "/" + strings.Repeat("0", 16),
		} {
			orgtWantGone(t, e, p)
		}

		// removeLogo clears it.
		res = orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "removeLogo": true}).OK(t, nil)
		if v := res.Get(t, "updateOrganization.organization.logoUrl"); v != nil {
			t.Errorf("logoUrl after removeLogo = %v, want null", v)
		}
		if got := orgtLogoURL(t, carol.Client, "acme"); got != "" {
			t.Errorf("member reads logoUrl %q after removal", got)
		}
		orgtWantGone(t, e, path)
		if n := orgtSnapshot(t, e).Logos; n != 0 {
			t.Errorf("%d logo rows after removal, want 0", n)
		}
		if evs := orgtAudit(t, ada.Client, "acme"); evs[0].Type != "ORGANIZATION_UPDATED" || orgtEventData(t, evs[0])["logo"] == nil {
			t.Errorf("logo removal logged as %+v", evs[0])
		}
	}, orgtWithBaseURL)
}

// TestLogoConcurrentUploads: uploads racing on one organization leave one logo,
// and the URL the organization shows serves exactly that logo.
func TestLogoConcurrentUploads(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		acme := e.CreateOrg(ada, "Acme", "acme")
		e.AddMember(acme, bob, role.Admin)
		const n = 6
		datas := make([][]byte, n)
		reqs := make([]*http.Request, n)
		for i := range reqs {
			datas[i] = orgtPNG(t, orgtPattern(20+i, 20))
			reqs[i] = orgtUploadRequest(t, e, acme.ID, nil, "logo.png", "image/png", datas[i], "GraphQL-Require-Preflight")
			token := ada.Token
			if i%2 == 1 {
				token = bob.Token
			}
			reqs[i].Header.Set("Authorization", "Bearer "+token)
		}
		for _, r := range orgtSendAll(t, reqs) {
			r.OK(t, nil)
		}
		if n := orgtSnapshot(t, e).Logos; n != 1 {
			t.Fatalf("%d logo rows after concurrent uploads, want 1", n)
		}
		url := orgtLogoURL(t, ada.Client, "acme")
		var served []byte
		for _, d := range datas {
			sum := sha256.Sum256(d)
			if strings.HasSuffix(url, "/"+hex.EncodeToString(sum[:])[:16]) {
				served = d
			}
		}
		if served == nil {
			t.Fatalf("logoUrl %q is none of the uploaded logos", url)
		}
		orgtWantServed(t, e, strings.TrimPrefix(url, orgtBaseURL), served, "image/png")
		evs := orgtAudit(t, ada.Client, "acme")
		if got := orgtTypes(evs); len(got) != n+2 {
			t.Errorf("audit log after %d uploads: %v", n, got)
		}
	}, orgtWithBaseURL)
}

func TestLogoURLDefaultBaseURL(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		acme := e.CreateOrg(ada, "Acme", "acme")
		data := orgtPNG(t, orgtPattern(16, 16))
		res := orgtUpload(t, e, ada.Client, acme.ID, "logo.png", "image/png", data).OK(t, nil)
		path := orgtLogoPath(t, "http://localhost:8080", res.Str(t, "updateOrganization.organization.logoUrl"), acme.ID, data)
		orgtWantServed(t, e, path, data, "image/png")
	})
}

func TestLogoRefusals(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		acme := e.CreateOrg(ada, "Acme", "acme")
		good := orgtPNG(t, orgtPattern(64, 64))
		url := orgtUpload(t, e, ada.Client, acme.ID, "logo.png", "image/png", good).OK(t, nil).Str(t, "updateOrganization.organization.logoUrl")
		path := orgtLogoPath(t, orgtBaseURL, url, acme.ID, good)

		truncated := orgtNoisePNG(t, 64, 64)
		truncated = truncated[:len(truncated)/2]
		big := orgtNoisePNG(t, 600, 600)
		if len(big) <= 1<<20 || len(big) > 2<<20-4096 {
			t.Fatalf("noise PNG of %d bytes: want just over 1 MiB", len(big))
		}
		before := orgtSnapshot(t, e)
		for _, c := range []struct {
			what, name, ct string
			data           []byte
			reason         string
		}{
			{"svg", "logo.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><script>alert(document.cookie)</script></svg>`), "LOGO_UNSUPPORTED_TYPE"},
			{"svg named png", "logo.png", "image/png", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>`), "LOGO_UNSUPPORTED_TYPE"},
			{"text named png", "logo.png", "image/png", []byte("definitely not a picture\n"), "LOGO_UNSUPPORTED_TYPE"},
			{"html named png", "logo.png", "image/png", []byte("<html><script>alert(1)</script></html>"), "LOGO_UNSUPPORTED_TYPE"},
			{"empty file", "logo.png", "image/png", nil, "LOGO_UNSUPPORTED_TYPE"},
			{"truncated png", "logo.png", "image/png", truncated, "LOGO_INVALID"},
			{"over 1 MiB", "logo.png", "image/png", big, "LOGO_TOO_LARGE"},
			{"1 MiB + 1 byte", "logo.png", "image/png", orgtPaddedPNG(t, 32, 32, 1<<20+1), "LOGO_TOO_LARGE"},
			{"8x8", "logo.png", "image/png", orgtPNG(t, orgtPattern(8, 8)), "LOGO_BAD_DIMENSIONS"},
			{"15x16", "logo.png", "image/png", orgtPNG(t, orgtPattern(15, 16)), "LOGO_BAD_DIMENSIONS"},
			{"3000x10", "logo.png", "image/png", orgtPNG(t, orgtPattern(3000, 10)), "LOGO_BAD_DIMENSIONS"},
			{"2049x16", "logo.png", "image/png", orgtPNG(t, orgtPattern(2049, 16)), "LOGO_BAD_DIMENSIONS"},
			{"webp 8x8", "logo.webp", "image/webp", orgtWebP(8, 8, color.NRGBA{A: 255}), "LOGO_BAD_DIMENSIONS"},
		} {
			res := orgtUpload(t, e, ada.Client, acme.ID, c.name, c.ct, c.data)
			if len(res.Errors) == 0 {
				t.Errorf("%s: accepted: %s", c.what, res.Data)
				continue
			}
			if got := res.Errors[0]; got.Code() != "BAD_USER_INPUT" || got.Reason() != c.reason || got.Field() != "input.logo" {
				t.Errorf("%s: %s/%s field %q, want BAD_USER_INPUT/%s field input.logo: %s", c.what, got.Code(), got.Reason(), got.Field(), c.reason, res.Raw)
			}
			orgtUnchanged(t, e, before, c.what)
			if got := orgtLogoURL(t, ada.Client, "acme"); got != url {
				t.Fatalf("%s: logoUrl changed to %q", c.what, got)
			}
		}
		orgtWantServed(t, e, path, good, "image/png")

		// A logo and removeLogo at once.
		res := ada.Send(orgtUploadRequest(t, e, acme.ID, map[string]any{"removeLogo": true}, "l.png", "image/png", orgtPNG(t, orgtPattern(20, 20)), "GraphQL-Require-Preflight"))
		res.Fails(t, "BAD_USER_INPUT", "")
		// A refused logo also refuses the name sent with it.
		res = ada.Send(orgtUploadRequest(t, e, acme.ID, map[string]any{"name": "Renamed"}, "l.svg", "image/svg+xml", []byte("<svg/>"), "GraphQL-Require-Preflight"))
		orgtFailsOn(t, res, "BAD_USER_INPUT", "LOGO_UNSUPPORTED_TYPE", "input.logo")
		orgtUnchanged(t, e, before, "refused combined updates")
		if res := orgtBySlug(ada.Client, "acme").OK(t, nil); res.Str(t, "organization.name") != "Acme" || res.Str(t, "organization.logoUrl") != url {
			t.Errorf("after refusals: %s", res.Data)
		}

		// A request larger than the upload limit is refused before it is read.
		huge := bytes.Repeat([]byte{0}, 3<<20)
		res = ada.Send(orgtUploadRequest(t, e, acme.ID, nil, "huge.png", "image/png", huge, "GraphQL-Require-Preflight"))
		if res.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("3 MiB upload: HTTP %d, want 413: %s", res.Status, res.Raw)
		}
		res.Fails(t, "BAD_REQUEST", "BODY_TOO_LARGE")
		orgtUnchanged(t, e, before, "oversized upload")
		orgtWantServed(t, e, path, good, "image/png")
	}, orgtWithBaseURL)
}

func TestLogoUploadNeedsPreflightHeader(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		acme := e.CreateOrg(ada, "Acme", "acme")
		// A browser session with a cookie, as a cross-site form would use.
		browser := e.Client()
		browser.Do(orgtMSignIn, map[string]any{"in": map[string]any{"email": ada.Email, "password": ada.Password}}).OK(t, nil)
		before := orgtSnapshot(t, e)
		data := orgtPNG(t, orgtPattern(32, 32))
		for _, c := range []*testenv.Client{ada.Client, browser} {
			res := c.Send(orgtUploadRequest(t, e, acme.ID, map[string]any{"name": "Forged"}, "logo.png", "image/png", data, ""))
			if res.Status != http.StatusBadRequest {
				t.Errorf("multipart without a preflight header: HTTP %d, want 400: %s", res.Status, res.Raw)
			}
			res.Fails(t, "BAD_REQUEST", "CSRF_HEADER_MISSING")
			orgtUnchanged(t, e, before, "multipart without a preflight header")
		}
		res := orgtBySlug(ada.Client, "acme").OK(t, nil)
		if res.Get(t, "organization.logoUrl") != nil || res.Str(t, "organization.name") != "Acme" {
			t.Errorf("organization changed: %s", res.Data)
		}
		// With the header, the cookie session may upload (same-origin front-end).
		browser.Send(orgtUploadRequest(t, e, acme.ID, nil, "logo.png", "image/png", data, "GraphQL-Require-Preflight")).OK(t, nil)
	})
}

// TestLogoUploadKeepsJSONBodyLimit: the larger limit of multipart uploads applies to
// that request only; JSON requests keep the body limit (1 MiB by default) after
// any number of uploads.
func TestLogoUploadKeepsJSONBodyLimit(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		acme := e.CreateOrg(ada, "Acme", "acme")
		// A JSON request of 1.5 MiB: over the JSON limit, under the upload limit.
		big := map[string]any{"slug": strings.Repeat("a", 3<<19)}
		tooBig := func(what string) {
			t.Helper()
			res := ada.Do(orgtQAvail, big)
			if res.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s: a 1.5 MiB JSON request got HTTP %d, want 413 (the JSON body limit is 1 MiB)", what, res.Status)
			}
			res.Fails(t, "BAD_REQUEST", "BODY_TOO_LARGE")
		}
		tooBig("before any upload")
		orgtUpload(t, e, ada.Client, acme.ID, "logo.png", "image/png", orgtPNG(t, orgtPattern(32, 32))).OK(t, nil)
		tooBig("after an upload")
	})
}

func TestLogoPermissions(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		carol := e.SignUp("Carol")
		dave := e.SignUp("Dave")
		acme := e.CreateOrg(ada, "Acme", "acme")
		e.AddMember(acme, bob, role.Admin)
		e.AddMember(acme, carol, role.Member)
		data := orgtPNG(t, orgtPattern(32, 32))
		url := orgtUpload(t, e, bob.Client, acme.ID, "logo.png", "image/png", data).OK(t, nil).Str(t, "updateOrganization.organization.logoUrl")
		path := orgtLogoPath(t, orgtBaseURL, url, acme.ID, data)

		before := orgtSnapshot(t, e)
		other := orgtPNG(t, orgtPattern(40, 40))
		orgtUpload(t, e, carol.Client, acme.ID, "logo.png", "image/png", other).Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
		orgtUpdate(carol.Client, map[string]any{"organizationId": acme.ID, "removeLogo": true}).Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
		// A MEMBER's invalid upload is refused for the role, not examined.
		orgtUpload(t, e, carol.Client, acme.ID, "logo.svg", "image/svg+xml", []byte("<svg/>")).Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
		orgtUpload(t, e, dave.Client, acme.ID, "logo.png", "image/png", other).Fails(t, "NOT_FOUND", "")
		orgtUpload(t, e, e.Client(), acme.ID, "logo.png", "image/png", other).Fails(t, "UNAUTHENTICATED", "")
		orgtUnchanged(t, e, before, "refused uploads")
		if got := orgtLogoURL(t, ada.Client, "acme"); got != url {
			t.Errorf("logoUrl %q after refused uploads, want %q", got, url)
		}
		orgtWantServed(t, e, path, data, "image/png")
	}, orgtWithBaseURL)
}

// --- deleteOrganization ---

func TestDeleteOrganization(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		carol := e.SignUp("Carol")
		dave := e.SignUp("Dave")
		acme := e.CreateOrg(ada, "Acme", "acme")
		keep := e.CreateOrg(ada, "Keep", "keep")
		orgtSetActive(ada.Client, acme.ID).OK(t, nil)
		bobMember := e.AddMember(acme, bob, role.Admin)
		carolMember := e.AddMember(acme, carol, role.Member)
		e.AddMember(keep, carol, role.Member)
		orgtSetActive(bob.Client, acme.ID).OK(t, nil)
		orgtSetActive(carol.Client, acme.ID).OK(t, nil)
		data := orgtPNG(t, orgtPattern(32, 32))
		url := orgtUpload(t, e, ada.Client, acme.ID, "logo.png", "image/png", data).OK(t, nil).Str(t, "updateOrganization.organization.logoUrl")
		path := orgtLogoPath(t, orgtBaseURL, url, acme.ID, data)

		del := func(c *testenv.Client, confirm string) *testenv.Response {
			return c.Do(orgtMDelete, map[string]any{"in": map[string]any{"organizationId": acme.ID, "confirmSlug": confirm}})
		}
		before := orgtSnapshot(t, e)
		orgtFailsOn(t, del(ada.Client, "acme-x"), "BAD_USER_INPUT", "SLUG_MISMATCH", "input.confirmSlug")
		orgtFailsOn(t, del(ada.Client, ""), "BAD_USER_INPUT", "SLUG_MISMATCH", "input.confirmSlug")
		orgtFailsOn(t, del(ada.Client, "keep"), "BAD_USER_INPUT", "SLUG_MISMATCH", "input.confirmSlug")
		del(bob.Client, "acme").Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
		del(carol.Client, "acme").Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
		del(dave.Client, "acme").Fails(t, "NOT_FOUND", "")
		del(e.Client(), "acme").Fails(t, "UNAUTHENTICATED", "")
		orgtUnchanged(t, e, before, "refused deletions")
		for _, c := range []*testenv.Client{ada.Client, bob.Client, carol.Client} {
			if got := orgtVisible(t, c, "acme"); got != acme.ID {
				t.Fatalf("after refused deletions the organization reads %q", got)
			}
			orgtWantActive(t, c, acme.ID, "after refused deletions")
		}
		orgtWantServed(t, e, path, data, "image/png")

		res := del(ada.Client, "acme").OK(t, nil)
		if got := res.Str(t, "deleteOrganization.deletedOrganizationId"); got != acme.ID {
			t.Errorf("deletedOrganizationId = %q, want %q", got, acme.ID)
		}
		for name, c := range map[string]*testenv.Client{"ada": ada.Client, "bob": bob.Client, "carol": carol.Client, "dave": dave.Client} {
			if got := orgtVisible(t, c, "acme"); got != "" {
				t.Errorf("%s still reads the deleted organization %q", name, got)
			}
			orgtWantActive(t, c, "", name+" after the deletion")
			res := c.Do(orgtQNodes, map[string]any{"ids": []string{acme.ID, acme.OwnerMemberID, bobMember, carolMember}}).OK(t, nil)
			for i, n := range res.Get(t, "nodes").([]any) {
				if n != nil {
					t.Errorf("%s reads node %d of the deleted organization: %v", name, i, n)
				}
			}
		}
		if n := orgtMyOrgCount(t, bob.Client); n != 0 {
			t.Errorf("bob has %d organizations after the deletion, want 0", n)
		}
		if n := orgtMyOrgCount(t, carol.Client); n != 1 {
			t.Errorf("carol has %d organizations after the deletion, want 1 (keep)", n)
		}
		if got := orgtVisible(t, carol.Client, "keep"); got != keep.ID {
			t.Errorf("the other organization is affected: %q", got)
		}
		orgtWantGone(t, e, path)

		// No rows of it remain (sessions forget it).
		ctx := viewer.System(context.Background())
		db := e.App.DB.Client
		for what, n := range map[string]func(context.Context) (int, error){
			"organizations": db.Organization.Query().Where(organization.ID(acme.ID)).Count,
			"members":       db.Member.Query().Where(member.OrganizationID(acme.ID)).Count,
			"logos":         db.OrganizationLogo.Query().Where(organizationlogo.OrganizationID(acme.ID)).Count,
			"sessions":      db.Session.Query().Where(session.ActiveOrganizationID(acme.ID)).Count,
		} {
			if k, err := n(ctx); err != nil || k != 0 {
				t.Errorf("%d %s of the deleted organization remain (%v)", k, what, err)
			}
		}

		// The slug is free again, and a new organization with it is a different one.
		if a := orgtCheckAvail(t, dave.Client, "acme"); !a.Available || a.Slug != "acme" {
			t.Errorf("slug of the deleted organization: %s", orgtJSON(a))
		}
		again := e.CreateOrg(dave, "New Acme", "acme")
		if again.ID == acme.ID {
			t.Error("the new organization has the deleted one's ID")
		}
		if got := orgtVisible(t, ada.Client, "acme"); got != "" {
			t.Errorf("ada reads dave's new acme: %q", got)
		}
		del(ada.Client, "acme").Fails(t, "NOT_FOUND", "")
	}, orgtWithBaseURL)
}

// TestDeleteOrganizationSQLitePathWithHash: an embedded database whose path holds a
// '#' must still be that very file, opened with the settings orgql relies on
// (foreign keys on, so that deleting an organization cascades to its members).
func TestDeleteOrganizationSQLitePathWithHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data#1", "orgql.db")
	e := testenv.New(t, "sqlite", testenv.WithConfig(func(c *config.Config) { c.DatabaseURL = "sqlite:" + path }))
	if _, err := os.Stat(path); err != nil {
		var file, name, seq string
		_ = e.App.DB.SQL.QueryRow("PRAGMA database_list").Scan(&seq, &name, &file)
		t.Errorf("the database is not at %s (%v) but at %s", path, err, file)
	}
	var fk int
	if err := e.App.DB.SQL.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("PRAGMA foreign_keys = %d (%v), want 1", fk, err)
	}
	ada := e.SignUp("Ada")
	bob := e.SignUp("Bob")
	acme := e.CreateOrg(ada, "Acme", "acme")
	e.AddMember(acme, bob, role.Member)
	ada.Do(orgtMDelete, map[string]any{"in": map[string]any{"organizationId": acme.ID, "confirmSlug": "acme"}}).OK(t, nil)
	n, err := e.App.DB.Client.Member.Query().Where(member.OrganizationID(acme.ID)).Count(viewer.System(context.Background()))
	if err != nil || n != 0 {
		t.Errorf("%d members of the deleted organization remain (%v)", n, err)
	}
}

// --- setActiveOrganization ---

func TestSetActiveOrganization(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		a1 := e.CreateOrg(ada, "A1", "a-one")
		a2 := e.CreateOrg(ada, "A2", "a-two")
		b := e.CreateOrg(bob, "B", "bee")
		orgtWantActive(t, ada.Client, a2.ID, "after creating a2")

		res := orgtSetActive(ada.Client, a1.ID).OK(t, nil)
		if res.Str(t, "setActiveOrganization.activeOrganization.id") != a1.ID ||
			res.Str(t, "setActiveOrganization.viewer.activeOrganization.id") != a1.ID ||
			res.Str(t, "setActiveOrganization.viewer.id") != ada.ID {
			t.Errorf("payload: %s", res.Data)
		}
		orgtWantActive(t, ada.Client, a1.ID, "after setting a1")
		// Per session: another session of ada is not affected.
		other := orgtSignInAgain(t, e, ada)
		orgtWantActive(t, other, "", "a new session")
		orgtSetActive(other, a2.ID).OK(t, nil)
		orgtWantActive(t, ada.Client, a1.ID, "after the other session chose a2")

		// Someone else's organization, or one that does not exist: NOT_FOUND, unchanged.
		for _, id := range []string{b.ID, "org_01aaaaaaaaaaaaaaaaaaaaaaaa", "nope", a1.OwnerMemberID} {
			orgtSetActive(ada.Client, id).Fails(t, "NOT_FOUND", "")
			orgtWantActive(t, ada.Client, a1.ID, "after refused "+id)
		}

		// null clears it, and so does leaving organizationId out.
		res = orgtSetActive(ada.Client, nil).OK(t, nil)
		if res.Get(t, "setActiveOrganization.activeOrganization") != nil || res.Get(t, "setActiveOrganization.viewer.activeOrganization") != nil {
			t.Errorf("payload after clearing: %s", res.Data)
		}
		orgtWantActive(t, ada.Client, "", "after clearing")
		orgtSetActive(ada.Client, a1.ID).OK(t, nil)
		ada.Do(orgtMSetActive, map[string]any{"in": map[string]any{}}).OK(t, nil)
		orgtWantActive(t, ada.Client, "", "after clearing with an empty input")

		// A removed member's active organization reads null at once.
		bobInA1 := e.AddMember(a1, bob, role.Member)
		orgtSetActive(bob.Client, a1.ID).OK(t, nil)
		orgtWantActive(t, bob.Client, a1.ID, "bob in a1")
		ada.Do(orgtMRemove, map[string]any{"in": map[string]any{"memberId": bobInA1}}).OK(t, nil)
		orgtWantActive(t, bob.Client, "", "bob after removal")
		orgtSetActive(bob.Client, a1.ID).Fails(t, "NOT_FOUND", "")

		// Also when the membership disappears some other way: the active organization
		// is checked against the membership table on every read.
		bobInA2 := e.AddMember(a2, bob, role.Member)
		orgtSetActive(bob.Client, a2.ID).OK(t, nil)
		if err := e.App.DB.Client.Member.DeleteOneID(bobInA2).Exec(viewer.System(context.Background())); err != nil {
			t.Fatal(err)
		}
		e.Recount(a2.ID)
		orgtWantActive(t, bob.Client, "", "bob after his membership row vanished")

		// Leaving clears it too.
		e.AddMember(a1, bob, role.Admin)
		orgtSetActive(bob.Client, a1.ID).OK(t, nil)
		bob.Do(`mutation($in: LeaveOrganizationInput!) { leaveOrganization(input: $in) { organizationId } }`,
			map[string]any{"in": map[string]any{"organizationId": a1.ID}}).OK(t, nil)
		orgtWantActive(t, bob.Client, "", "bob after leaving")

		// It needs a session.
		orgtSetActive(e.Client(), a1.ID).Fails(t, "UNAUTHENTICATED", "")
		orgtSetActive(e.Client(), nil).Fails(t, "UNAUTHENTICATED", "")
	})
}

// --- audit log ---

func TestAuditLog(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		carol := e.SignUp("Carol")
		start := time.Now()
		acme := e.CreateOrg(ada, "Acme", "acme")
		bobMember := e.AddMember(acme, bob, role.Member)
		carolMember := e.AddMember(acme, carol, role.Member)

		ada.Do(orgtMRole, map[string]any{"in": map[string]any{"memberId": bobMember, "role": "ADMIN"}}).OK(t, nil)
		orgtUpdate(ada.Client, map[string]any{"organizationId": acme.ID, "name": "Acme Labs"}).OK(t, nil)

		// Before removal: the role change shows the member in its current state.
		evs := orgtAudit(t, ada.Client, "acme")
		wantTypes := []string{"ORGANIZATION_UPDATED", "MEMBER_ROLE_CHANGED", "MEMBER_JOINED", "ORGANIZATION_CREATED"}
		if got := orgtTypes(evs); !slices.Equal(got, wantTypes) {
			t.Fatalf("audit log = %v, want %v", got, wantTypes)
		}
		rc := evs[1]
		if rc.Member == nil || rc.Member.ID != bobMember || rc.Member.Role != "ADMIN" {
			t.Errorf("MEMBER_ROLE_CHANGED member = %+v, want bob's membership as ADMIN", rc.Member)
		}
		if rc.User == nil || rc.User.ID != bob.ID {
			t.Errorf("MEMBER_ROLE_CHANGED user = %+v, want bob", rc.User)
		}

		ada.Do(orgtMRemove, map[string]any{"in": map[string]any{"memberId": bobMember}}).OK(t, nil)

		evs = orgtAudit(t, ada.Client, "acme")
		wantTypes = append([]string{"MEMBER_REMOVED"}, wantTypes...)
		if got := orgtTypes(evs); !slices.Equal(got, wantTypes) {
			t.Fatalf("audit log = %v, want %v", got, wantTypes)
		}
		str := func(p *string) string {
			if p == nil {
				return "<null>"
			}
			return *p
		}
		// Common fields: unique event IDs, the actor, creation times newest first.
		seen := map[string]bool{}
		var prev time.Time
		for i, ev := range evs {
			if !strings.HasPrefix(ev.ID, "evt_") || seen[ev.ID] {
				t.Errorf("event %d id %q", i, ev.ID)
			}
			seen[ev.ID] = true
			if ev.Actor == nil || ev.Actor.ID != ada.ID {
				t.Errorf("%s actor = %+v, want ada", ev.Type, ev.Actor)
			}
			ts := orgtWantTimeNear(t, ev.Type+" createdAt", ev.CreatedAt, start)
			if i > 0 && ts.After(prev) {
				t.Errorf("%s at %s is newer than the event listed before it (%s)", ev.Type, ts, prev)
			}
			prev = ts
		}

		removed, updated, changed, joined, created := evs[0], evs[1], evs[2], evs[3], evs[4]
		// Removal: the member no longer exists, its ID stays.
		if removed.Member != nil {
			t.Errorf("MEMBER_REMOVED member = %+v, want null (removed)", removed.Member)
		}
		if str(removed.MemberID) != bobMember || str(removed.OldRole) != "ADMIN" || removed.NewRole != nil {
			t.Errorf("MEMBER_REMOVED memberId %s oldRole %s newRole %s, want %s ADMIN <null>", str(removed.MemberID), str(removed.OldRole), str(removed.NewRole), bobMember)
		}
		if removed.User != nil && removed.User.ID != bob.ID {
			t.Errorf("MEMBER_REMOVED user = %+v, want bob or null", removed.User)
		}
		// Update.
		if d := orgtEventData(t, updated); d["name"] != "Acme Labs" {
			t.Errorf("ORGANIZATION_UPDATED data = %v", d)
		}
		if updated.MemberID != nil || updated.Member != nil || updated.OldRole != nil || updated.NewRole != nil {
			t.Errorf("ORGANIZATION_UPDATED has member fields: %+v", updated)
		}
		// Role change, after removal.
		if changed.Member != nil || str(changed.MemberID) != bobMember || str(changed.OldRole) != "MEMBER" || str(changed.NewRole) != "ADMIN" {
			t.Errorf("MEMBER_ROLE_CHANGED after removal: member %+v memberId %s old %s new %s", changed.Member, str(changed.MemberID), str(changed.OldRole), str(changed.NewRole))
		}
		// The creator joining.
		if joined.Member == nil || joined.Member.ID != acme.OwnerMemberID || joined.Member.Role != "OWNER" ||
			str(joined.MemberID) != acme.OwnerMemberID || joined.User == nil || joined.User.ID != ada.ID ||
			str(joined.NewRole) != "OWNER" || joined.OldRole != nil {
			t.Errorf("MEMBER_JOINED = %s", orgtJSON(joined))
		}
		if d := orgtEventData(t, created); d["name"] != "Acme" || d["slug"] != "acme" {
			t.Errorf("ORGANIZATION_CREATED data = %v", d)
		}
		if created.MemberID != nil || created.Member != nil {
			t.Errorf("ORGANIZATION_CREATED has a member: %s", orgtJSON(created))
		}

		// Pages of 2 give the same sequence, with the total on every page.
		var paged []string
		var after any
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatal("audit log pagination does not end")
			}
			evs, conn := orgtAuditPage(t, ada.Client, "acme", 2, after)
			if conn.TotalCount != 5 {
				t.Errorf("page %d totalCount %d, want 5", page, conn.TotalCount)
			}
			if len(evs) > 2 {
				t.Errorf("page %d has %d events", page, len(evs))
			}
			for _, ev := range evs {
				paged = append(paged, ev.ID)
			}
			if !conn.PageInfo.HasNextPage {
				break
			}
			after = *conn.PageInfo.EndCursor
		}
		var all []string
		for _, ev := range orgtAudit(t, ada.Client, "acme") {
			all = append(all, ev.ID)
		}
		if !slices.Equal(paged, all) {
			t.Errorf("paged audit log %v, want %v", paged, all)
		}
		// The oldest page, read backwards, is still newest first.
		res := ada.Do(`{ organization(slug: "acme") { auditLog(last: 2) { edges { node { id type } } } } }`, nil).OK(t, nil)
		var last []string
		for _, ed := range res.Get(t, "organization.auditLog.edges").([]any) {
			last = append(last, ed.(map[string]any)["node"].(map[string]any)["id"].(string))
		}
		if !slices.Equal(last, all[len(all)-2:]) {
			t.Errorf("auditLog(last: 2) = %v, want the two oldest %v", last, all[len(all)-2:])
		}
		res = ada.Do(`{ organization(slug: "acme") { auditLog(first: 101) { totalCount } } }`, nil)
		if len(res.Errors) == 0 || res.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Errorf("auditLog(first: 101) = %s, want BAD_USER_INPUT", res.Raw)
		}

		// A MEMBER may not read it; the rest of the organization still reads.
		res = carol.Do(orgtQAudit, map[string]any{"slug": "acme", "first": 10})
		res.Fails(t, "FORBIDDEN", "INSUFFICIENT_ROLE")
		if res.Get(t, "organization") == nil || res.Get(t, "organization.auditLog") != nil {
			t.Errorf("MEMBER's audit log read: %s", res.Data)
		}
		res = carol.Do(orgtQNodes, map[string]any{"ids": []string{all[0], all[len(all)-1]}}).OK(t, nil)
		for _, n := range res.Get(t, "nodes").([]any) {
			if n != nil {
				t.Errorf("a MEMBER reads an event node: %s", res.Data)
			}
		}
		// Bob, removed, reads nothing of it.
		res = bob.Do(orgtQNodes, map[string]any{"ids": []string{all[0]}}).OK(t, nil)
		if res.Get(t, "nodes").([]any)[0] != nil {
			t.Errorf("a removed member reads an event node: %s", res.Data)
		}
		// An ADMIN may read it.
		ada.Do(orgtMRole, map[string]any{"in": map[string]any{"memberId": carolMember, "role": "ADMIN"}}).OK(t, nil)
		if got := orgtTypes(orgtAudit(t, carol.Client, "acme")); len(got) != 6 || got[0] != "MEMBER_ROLE_CHANGED" {
			t.Errorf("ADMIN reads audit log %v", got)
		}
	})
}

func orgtTypes(evs []orgtEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}
