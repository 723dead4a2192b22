// Command orgql-bench measures orgql's request path over HTTP: it builds and starts
// a server (or targets a running one), seeds it, and runs each workload at a
// configurable concurrency for a while:
//
//	W1  a members page of 100 (organization of -members members)
//	W2  all members, in pages of 100 following endCursor (one op is the whole walk)
//	W3  { viewer }
//	W4  invite + accept (two requests per op: the owner invites, the invitee accepts by ID)
//	W5  a role change (MEMBER <-> ADMIN)
//	W6  viewer.organizations for a user in 50 organizations
//
// For each it prints ops/s, latency percentiles, SQL statements per op (the server's
// orgql_sql_statements_total) and the server's CPU time per op (its
// process_cpu_seconds_total), both read from /metrics before and after the run, so
// the figures stay comparable when the client shares the cores. Results go to
// stdout as a table and, with -json, to a file.
//
//	go run ./internal/cmd/orgql-bench                          # SQLite, 1,000 members
//	go run ./internal/cmd/orgql-bench -members 100000 -workloads W1,W2
//	go run ./internal/cmd/orgql-bench -database-url 'mysql://root@unix(/run/mysqld/mysqld.sock)/bench'
//
// Seeding writes straight into the database (hashing passwords for 100,000 sign-ups
// would take minutes); every measured request goes over HTTP. With -target the
// command measures a server that is already running with --metrics on the same
// -database-url, which it seeds.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/token"
	"github.com/orgql/orgql/internal/viewer"
)

func main() {
	var o options
	flag.IntVar(&o.members, "members", 1000, "members of the benchmark organization")
	flag.IntVar(&o.concurrency, "concurrency", 16, "requests in flight")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each workload runs (after a warm-up of a fifth of it)")
	flag.StringVar(&o.workloads, "workloads", "W1,W2,W3,W4,W5,W6", "workloads to run, comma-separated")
	flag.StringVar(&o.dbURL, "database-url", "", "database (default: a fresh SQLite file); seeded by the command")
	flag.StringVar(&o.target, "target", "", "URL of a running server on -database-url (default: build and start one)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "orgql-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	members, concurrency     int
	duration                 time.Duration
	workloads, dbURL, target string
	jsonOut                  string
}

// Result is one workload's figures.
type Result struct {
	Workload      string  `json:"workload"`
	Description   string  `json:"description"`
	Concurrency   int     `json:"concurrency"`
	Ops           int     `json:"ops"`
	OpsPerSecond  float64 `json:"opsPerSecond"`
	P50ms         float64 `json:"p50Ms"`
	P90ms         float64 `json:"p90Ms"`
	P99ms         float64 `json:"p99Ms"`
	StatementsOp  float64 `json:"statementsPerOp"`
	ServerCPUOpMs float64 `json:"serverCpuPerOpMs"`
	RequestsPerOp int     `json:"requestsPerOp"`
	Members       int     `json:"members"`
	Database      string  `json:"database"`
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "orgql-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.dbURL == "" {
		o.dbURL = "sqlite:" + filepath.Join(dir, "orgql.db")
	}
	base := strings.TrimSuffix(o.target, "/")
	if base == "" {
		stop, url, err := startServer(dir, o.dbURL)
		if err != nil {
			return err
		}
		defer stop()
		base = url
	}
	if _, err := metrics(base); err != nil {
		return fmt.Errorf("reading %s/metrics (the server needs --metrics): %w", base, err)
	}
	step(fmt.Sprintf("seeding an organization of %d members", o.members))
	s, err := seed(o.dbURL, o.members, 10000)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	c := &client{base: base, http: &http.Client{Transport: &http.Transport{
		MaxIdleConns: o.concurrency * 2, MaxIdleConnsPerHost: o.concurrency * 2, IdleConnTimeout: time.Minute,
	}}}
	var results []Result
	kind := "sqlite"
	if strings.HasPrefix(o.dbURL, "mysql:") {
		kind = "mysql"
	}
	for _, name := range strings.Split(o.workloads, ",") {
		w, ok := workloads(s)[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown workload %q", name)
		}
		step(fmt.Sprintf("%s: %s", name, w.desc))
		r, err := measure(c, w, o)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.Workload, r.Description, r.Members, r.Database = name, w.desc, o.members, kind
		results = append(results, r)
	}
	printTable(os.Stdout, results)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// workload is one kind of op; do runs one op as worker w (its i-th op) and
// returns an error for any failed request or GraphQL error.
type workload struct {
	desc     string
	requests int
	do       func(c *client, w, i int) error
}

func workloads(s *seeded) map[string]workload {
	page := `query($slug: String!, $after: Cursor) { organization(slug: $slug) { members(first: 100, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id role joinedAt user { id name email } } } } } }`
	var invitee atomic.Int64
	return map[string]workload{
		"W1": {desc: "members page of 100", requests: 1, do: func(c *client, _, _ int) error {
			var out pageResult
			return c.do(s.ownerToken, page, map[string]any{"slug": s.slug}, &out)
		}},
		"W2": {desc: "all members in pages of 100", requests: (s.members + 99) / 100, do: func(c *client, _, _ int) error {
			vars := map[string]any{"slug": s.slug}
			seen := 0
			for {
				var out pageResult
				if err := c.do(s.ownerToken, page, vars, &out); err != nil {
					return err
				}
				m := out.Organization.Members
				seen += len(m.Edges)
				if !m.PageInfo.HasNextPage {
					break
				}
				vars["after"] = m.PageInfo.EndCursor
			}
			if seen != s.members {
				return fmt.Errorf("walked %d members, want %d", seen, s.members)
			}
			return nil
		}},
		"W3": {desc: "viewer", requests: 1, do: func(c *client, w, i int) error {
			return c.do(s.memberTokens[(w*7919+i)%len(s.memberTokens)], `{ viewer { id email name } }`, nil, nil)
		}},
		"W4": {desc: "invite + accept", requests: 2, do: func(c *client, _, _ int) error {
			k := int(invitee.Add(1)) - 1
			if k >= len(s.invitees) {
				return fmt.Errorf("out of invitees (%d): shorten -duration", len(s.invitees))
			}
			inv := s.invitees[k]
			var out struct {
				InviteMember struct{ Invitation struct{ ID string } }
			}
			if err := c.do(s.ownerToken, `mutation($in: InviteMemberInput!) { inviteMember(input: $in) { invitation { id } } }`,
				map[string]any{"in": map[string]any{"organizationId": s.orgID, "email": inv.email, "role": "MEMBER"}}, &out); err != nil {
				return err
			}
			return c.do(inv.token, `mutation($in: AcceptInvitationInput!) { acceptInvitation(input: $in) { member { id } } }`,
				map[string]any{"in": map[string]any{"invitationId": out.InviteMember.Invitation.ID}}, nil)
		}},
		"W5": {desc: "role change", requests: 1, do: func(c *client, w, i int) error {
			r := []string{"ADMIN", "MEMBER"}[i%2]
			return c.do(s.ownerToken, `mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id role } } }`,
				map[string]any{"in": map[string]any{"memberId": s.memberIDs[w%len(s.memberIDs)], "role": r}}, nil)
		}},
		"W6": {desc: "viewer.organizations, 50 organizations", requests: 1, do: func(c *client, _, _ int) error {
			var out struct {
				Viewer struct{ Organizations struct{ TotalCount int } }
			}
			err := c.do(s.multiToken, `{ viewer { organizations(first: 50) { totalCount
  edges { node { id name slug viewerRole memberCount } } } } }`, nil, &out)
			if err == nil && out.Viewer.Organizations.TotalCount != 50 {
				err = fmt.Errorf("totalCount %d, want 50", out.Viewer.Organizations.TotalCount)
			}
			return err
		}},
	}
}

type pageResult struct {
	Organization struct {
		Members struct {
			TotalCount int
			PageInfo   struct {
				HasNextPage bool
				EndCursor   string
			}
			Edges []json.RawMessage
		}
	}
}

// measure runs w on o.concurrency workers: a warm-up, then o.duration timed, with
// the server's counters read around the timed part.
func measure(c *client, w workload, o options) (Result, error) {
	if _, _, err := loop(c, w, o.concurrency, o.duration/5, 1_000_000); err != nil {
		return Result{}, err
	}
	m0, err := metrics(c.base)
	if err != nil {
		return Result{}, err
	}
	lat, elapsed, err := loop(c, w, o.concurrency, o.duration, 0)
	if err != nil {
		return Result{}, err
	}
	m1, err := metrics(c.base)
	if err != nil {
		return Result{}, err
	}
	n := float64(len(lat))
	slices.Sort(lat)
	pct := func(p int) float64 { return float64(lat[(len(lat)-1)*p/100]) / float64(time.Millisecond) }
	return Result{
		Concurrency:   o.concurrency,
		Ops:           len(lat),
		OpsPerSecond:  n / elapsed.Seconds(),
		P50ms:         pct(50),
		P90ms:         pct(90),
		P99ms:         pct(99),
		StatementsOp:  (m1["orgql_sql_statements_total"] - m0["orgql_sql_statements_total"]) / n,
		ServerCPUOpMs: (m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]) * 1000 / n,
		RequestsPerOp: w.requests,
	}, nil
}

// loop runs ops on n workers for d and returns each op's latency. Worker indexes
// start at offset, so that the warm-up and the timed run use different invitees
// and members where that matters.
func loop(c *client, w workload, n int, d time.Duration, offset int) ([]time.Duration, time.Duration, error) {
	var (
		mu       sync.Mutex
		lat      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				if err := w.do(c, k, i+offset); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr == nil && len(lat) == 0 {
		firstErr = fmt.Errorf("no op completed in %v", d)
	}
	return lat, time.Since(start), firstErr
}

func printTable(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tdb\tmembers\tc\tops\tops/s\tp50 ms\tp90 ms\tp99 ms\tstmts/op\tserver CPU ms/op\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s %s\t%s\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.3f\t\n", r.Workload, r.Description,
			r.Database, r.Members, r.Concurrency, r.Ops, r.OpsPerSecond, r.P50ms, r.P90ms, r.P99ms, r.StatementsOp, r.ServerCPUOpMs)
	}
	tw.Flush()
}

// client posts GraphQL requests.
type client struct {
	base string
	http *http.Client
}

func (c *client) do(tok, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	var env struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.Unmarshal(b, &env); err != nil || res.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", res.StatusCode, b)
	}
	if len(env.Errors) > 0 {
		return fmt.Errorf("GraphQL error: %s", env.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

// startServer builds orgql and runs it on dbURL with metrics, returning a stop
// function and its URL.
func startServer(dir, dbURL string) (func(), string, error) {
	bin := filepath.Join(dir, "orgql")
	step("building the server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("go build (run from the repository root): %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.Command(bin, "--listen", addr, "--database-url", dbURL, "--graphiql=false", "--log-level", "warn",
		"--metrics", "--invitations-per-hour", "0", "--max-pending-invitations", "0", "--max-owned-organizations", "0")
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	step("starting the server")
	if err := srv.Start(); err != nil {
		return nil, "", err
	}
	stop := func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}
	base := "http://" + addr
	for i := 0; ; i++ {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return stop, base, nil
			}
		}
		if i == 300 {
			stop()
			return nil, "", fmt.Errorf("the server did not become ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seeded is what the workloads run against.
type seeded struct {
	orgID, slug  string
	members      int
	ownerToken   string
	memberTokens []string
	memberIDs    []string
	multiToken   string
	invitees     []invitee
}

type invitee struct{ email, token string }

// seed writes, straight into the database: an organization of n members (its
// owner among them) with sessions for up to 1,000 of them; nInvitees users with
// verified addresses and sessions, to be invited and accept (W4); and a user in 50
// organizations (W6). Counters and copied sort keys are set as the service would.
func seed(url string, n, nInvitees int) (*seeded, error) {
	ctx := viewer.System(context.Background())
	db, err := database.Open(ctx, url, database.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	c := db.Client
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	owner, err := c.User.Create().SetEmail("owner-" + suffix + "@bench.test").SetName("Bench Owner").SetPasswordHash("x").Save(ctx)
	if err != nil {
		return nil, err
	}
	org, err := c.Organization.Create().SetName("Bench " + suffix).SetSlug("bench-" + suffix).Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.Member.Create().SetOrganizationID(org.ID).SetUserID(owner.ID).SetRole(role.Owner).Exec(ctx); err != nil {
		return nil, err
	}
	s := &seeded{orgID: org.ID, slug: org.Slug, members: n}
	toks, err := sessions(ctx, c, owner.ID)
	if err != nil {
		return nil, err
	}
	s.ownerToken = toks[0]
	names := []string{"Ada", "bob", "Carol", "dave", "Émile", "Zoë"}
	const chunk = 500
	for startAt := 0; startAt < n-1; startAt += chunk {
		end := min(startAt+chunk, n-1)
		users := make([]*ent.UserCreate, 0, end-startAt)
		for i := startAt; i < end; i++ {
			users = append(users, c.User.Create().SetEmail(fmt.Sprintf("m%d-%s@bench.test", i, suffix)).
				SetName(fmt.Sprintf("%s %06d", names[i%len(names)], (i*7919)%n)).SetPasswordHash("x"))
		}
		created, err := c.User.CreateBulk(users...).Save(ctx)
		if err != nil {
			return nil, err
		}
		members := make([]*ent.MemberCreate, 0, len(created))
		for _, u := range created {
			members = append(members, c.Member.Create().SetOrganizationID(org.ID).SetUserID(u.ID).SetRole(role.Member))
		}
		ms, err := c.Member.CreateBulk(members...).Save(ctx)
		if err != nil {
			return nil, err
		}
		var ids []string
		for i, m := range ms {
			if len(s.memberIDs) < 1000 {
				s.memberIDs = append(s.memberIDs, m.ID)
				ids = append(ids, created[i].ID)
			}
		}
		toks, err := sessions(ctx, c, ids...)
		if err != nil {
			return nil, err
		}
		s.memberTokens = append(s.memberTokens, toks...)
	}
	if len(s.memberTokens) == 0 {
		s.memberTokens = []string{s.ownerToken}
		s.memberIDs = nil
	}
	now := time.Now().UTC()
	for startAt := 0; startAt < nInvitees; startAt += chunk {
		end := min(startAt+chunk, nInvitees)
		users := make([]*ent.UserCreate, 0, end-startAt)
		for i := startAt; i < end; i++ {
			users = append(users, c.User.Create().SetEmail(fmt.Sprintf("invitee%d-%s@bench.test", i, suffix)).
				SetName(fmt.Sprintf("Invitee %d", i)).SetPasswordHash("x").SetEmailVerifiedAt(now))
		}
		created, err := c.User.CreateBulk(users...).Save(ctx)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(created))
		for i, u := range created {
			ids[i] = u.ID
		}
		toks, err := sessions(ctx, c, ids...)
		if err != nil {
			return nil, err
		}
		for i, u := range created {
			s.invitees = append(s.invitees, invitee{email: u.Email, token: toks[i]})
		}
	}
	multi, err := c.User.Create().SetEmail("multi-" + suffix + "@bench.test").SetName("In Fifty").SetPasswordHash("x").Save(ctx)
	if err != nil {
		return nil, err
	}
	if toks, err = sessions(ctx, c, multi.ID); err != nil {
		return nil, err
	}
	s.multiToken = toks[0]
	orgIDs := []string{org.ID}
	for i := range 50 {
		o, err := c.Organization.Create().SetName(fmt.Sprintf("Team %02d %s", (i*37)%50, suffix)).SetSlug(fmt.Sprintf("team-%02d-%s", i, suffix)).Save(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.Member.Create().SetOrganizationID(o.ID).SetUserID(owner.ID).SetRole(role.Owner).Exec(ctx); err != nil {
			return nil, err
		}
		if err := c.Member.Create().SetOrganizationID(o.ID).SetUserID(multi.ID).SetRole(role.Member).Exec(ctx); err != nil {
			return nil, err
		}
		orgIDs = append(orgIDs, o.ID)
	}
	for _, id := range orgIDs {
		if err := db.Recount(ctx, id); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// sessions signs each user in (a day-long session) and returns their bearer tokens.
func sessions(ctx context.Context, c *ent.Client, userIDs ...string) ([]string, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	now := time.Now().UTC()
	toks := make([]string, len(userIDs))
	creates := make([]*ent.SessionCreate, len(userIDs))
	for i, id := range userIDs {
		tok, hash := token.New()
		toks[i] = tok
		creates[i] = c.Session.Create().SetTokenHash(hash).SetUserID(id).SetExpiresAt(now.Add(24 * time.Hour)).SetLastSeenAt(now)
	}
	return toks, c.Session.CreateBulk(creates...).Exec(ctx)
}

// metrics reads the server's unlabelled Prometheus samples.
func metrics(base string) (map[string]float64, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		if name, val, ok := strings.Cut(line, " "); ok {
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				out[name] = f
			}
		}
	}
	return out, sc.Err()
}

func step(s string) { fmt.Fprintln(os.Stderr, "==>", s) }
