// Command orgql-load measures orgql's realtime side on one machine: it builds and
// starts an orgql server (its own process, so its memory is measured alone), seeds an
// organization with N members and sessions straight into the database, connects N
// websocket subscribers to organizationEvents, and reports the server's memory and
// goroutines per idle subscription, the time to connect them all, the fan-out
// latency from a mutation to the last subscriber, the CPU time the server and the
// generator spent per fan-out, and whether goroutines return to their baseline
// after the subscribers leave.
//
//	go run ./internal/cmd/orgql-load -subscribers 1000
//	go run ./internal/cmd/orgql-load -subscribers 10000 -rounds 100
//
// It needs a file-descriptor limit above the subscriber count (ulimit -n) and runs
// on the embedded SQLite database by default (-database-url for MySQL).
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
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/token"
	"github.com/orgql/orgql/internal/viewer"
)

func main() {
	n := flag.Int("subscribers", 1000, "websocket subscribers to connect")
	rounds := flag.Int("rounds", 50, "mutations whose fan-out is timed")
	dbURL := flag.String("database-url", "", "database for the server (default: a fresh SQLite file)")
	parallel := flag.Int("dial-parallelism", 64, "connections opened at once")
	poll := flag.Duration("poll-interval", 500*time.Microsecond,
		"when few sockets are ready, wait this long for more before reading (Linux; 0: read at every wake-up)")
	flag.Parse()
	if err := run(*n, *rounds, *dbURL, *parallel, *poll); err != nil {
		fmt.Fprintln(os.Stderr, "orgql-load:", err)
		os.Exit(1)
	}
}

func run(n, rounds int, dbURL string, parallel int, poll time.Duration) error {
	dir, err := os.MkdirTemp("", "orgql-load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(dir, "orgql.db")
	}
	bin := filepath.Join(dir, "orgql")
	step("building the server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	srv := exec.Command(bin, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--database-url", dbURL,
		"--graphiql=false", "--log-level", "warn", "--pprof", "--metrics")
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	step("starting the server")
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}()
	if err := waitReady(base); err != nil {
		return err
	}

	step(fmt.Sprintf("seeding an organization with %d members", n))
	seed, err := seedDB(dbURL, n)
	if err != nil {
		return err
	}

	baseline, err := metrics(base)
	if err != nil {
		return err
	}
	step(fmt.Sprintf("connecting %d subscribers (%d at a time)", n, parallel))
	recv, err := newReceiver(n, poll)
	if err != nil {
		return err
	}
	defer recv.close()
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	var failed atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := subscribe(base, seed.tokens[i], seed.orgID, func(c *websocket.Conn) error { return recv.add(i, c) })
			if err != nil && failed.Add(1) == 1 {
				fmt.Fprintln(os.Stderr, "subscribe:", err)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d subscribers failed to connect", f, n)
	}
	if err := waitFor(base, "orgql_subscribers", float64(n), time.Minute); err != nil {
		return err
	}
	connectTime := time.Since(start)

	step("letting the server settle, then reading its memory")
	time.Sleep(3 * time.Second)
	idle, err := minMetrics(base, 5, 500*time.Millisecond)
	if err != nil {
		return err
	}

	if p := os.Getenv("ORGQL_LOAD_HEAP_PROFILE"); p != "" {
		if err := saveProfile(base, p); err != nil {
			return err
		}
	}
	if p := os.Getenv("ORGQL_LOAD_CPU_PROFILE"); p != "" {
		// Profiles the server while the rounds run.
		go func() {
			if err := saveURL(base+"/debug/pprof/profile?seconds=10", p); err != nil {
				fmt.Fprintln(os.Stderr, "cpu profile:", err)
			}
		}()
	}
	if p := os.Getenv("ORGQL_LOAD_SELF_PROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	step(fmt.Sprintf("timing %d fan-outs", rounds))
	cpu0, cpuOK := cpuTimes(srv.Process.Pid)
	mem0, err := metrics(base)
	if err != nil {
		return err
	}
	var lastPerRound, all []time.Duration
	for r := 0; r < rounds; r++ {
		t := recv.tally
		t.expect(r + 1)
		t0 := time.Now()
		if err := mutate(base, seed.ownerToken, seed.orgID, fmt.Sprintf("Load %d", r)); err != nil {
			return err
		}
		at, err := t.wait(30 * time.Second)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		var last time.Duration
		for _, a := range at {
			d := a.Sub(t0)
			all = append(all, d)
			last = max(last, d)
		}
		lastPerRound = append(lastPerRound, last)
	}
	cpu1, _ := cpuTimes(srv.Process.Pid)
	mem1, err := metrics(base)
	if err != nil {
		return err
	}

	step("disconnecting")
	recv.close()
	if err := waitFor(base, "orgql_subscribers", 0, time.Minute); err != nil {
		return err
	}
	var after map[string]float64
	for i := 0; i < 20; i++ {
		time.Sleep(500 * time.Millisecond)
		if after, err = metrics(base); err != nil {
			return err
		}
		if after["go_goroutines"] <= baseline["go_goroutines"]+2 {
			break
		}
	}

	mem := (idle["go_memstats_heap_inuse_bytes"] + idle["go_memstats_stack_inuse_bytes"]) -
		(baseline["go_memstats_heap_inuse_bytes"] + baseline["go_memstats_stack_inuse_bytes"])
	fmt.Printf("\norgql-load: %d subscribers, %d rounds, database %s\n", n, rounds, strings.SplitN(dbURL, ":", 2)[0])
	fmt.Printf("  connect + subscribe all:        %v (%.0f/s)\n", connectTime.Round(time.Millisecond), float64(n)/connectTime.Seconds())
	fmt.Printf("  memory per idle subscription:   %.1f KB (heap+stacks in use: %.1f + %.1f), RSS %.1f KB\n",
		mem/float64(n)/1024,
		(idle["go_memstats_heap_inuse_bytes"]-baseline["go_memstats_heap_inuse_bytes"])/float64(n)/1024,
		(idle["go_memstats_stack_inuse_bytes"]-baseline["go_memstats_stack_inuse_bytes"])/float64(n)/1024,
		(idle["process_resident_memory_bytes"]-baseline["process_resident_memory_bytes"])/float64(n)/1024)
	fmt.Printf("  goroutines per subscription:    %.2f (baseline %.0f, subscribed %.0f)\n",
		(idle["go_goroutines"]-baseline["go_goroutines"])/float64(n), baseline["go_goroutines"], idle["go_goroutines"])
	fmt.Printf("  fan-out to the last subscriber: p50 %v  p99 %v  max %v\n",
		pct(lastPerRound, 50), pct(lastPerRound, 99), pct(lastPerRound, 100))
	fmt.Printf("  fan-out, every delivery:        min %v  p50 %v  p99 %v\n", pct(all, 0), pct(all, 50), pct(all, 99))
	if cpuOK {
		fmt.Printf("  CPU per fan-out:                server %v, this generator %v\n",
			((cpu1.server - cpu0.server) / time.Duration(rounds)).Round(time.Millisecond),
			((cpu1.self - cpu0.self) / time.Duration(rounds)).Round(time.Millisecond))
	}
	// A collection marks every subscriber's state; one during a round delays it.
	fmt.Printf("  server allocation per fan-out:  %.0f KB; %.0f collections in %d rounds\n",
		(mem1["go_memstats_alloc_bytes_total"]-mem0["go_memstats_alloc_bytes_total"])/float64(rounds)/1024,
		mem1["go_gc_duration_seconds_count"]-mem0["go_gc_duration_seconds_count"], rounds)
	fmt.Printf("  goroutines after disconnect:    %.0f (baseline %.0f)\n", after["go_goroutines"], baseline["go_goroutines"])
	return nil
}

func step(s string) { fmt.Fprintln(os.Stderr, "==>", s) }

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return s[i].Round(100 * time.Microsecond)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(base string) error {
	for i := 0; i < 300; i++ {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the server did not become ready")
}

type seeded struct {
	orgID      string
	ownerToken string
	tokens     []string
}

// seedDB writes an organization, its owner and n members with sessions directly
// (signing up n users through the API would spend minutes hashing passwords).
func seedDB(url string, n int) (*seeded, error) {
	ctx := viewer.System(context.Background())
	db, err := database.Open(ctx, url, database.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	c := db.Client
	owner, err := c.User.Create().SetEmail("owner@load.test").SetName("Owner").SetPasswordHash("x").Save(ctx)
	if err != nil {
		return nil, err
	}
	org, err := c.Organization.Create().SetName("Load").SetSlug("load").Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.Member.Create().SetOrganizationID(org.ID).SetUserID(owner.ID).SetRole(role.Owner).Exec(ctx); err != nil {
		return nil, err
	}
	out := &seeded{orgID: org.ID}
	if out.ownerToken, err = session(ctx, c, owner.ID); err != nil {
		return nil, err
	}
	const chunk = 500
	for startAt := 0; startAt < n; startAt += chunk {
		end := min(startAt+chunk, n)
		users := make([]*ent.UserCreate, 0, end-startAt)
		for i := startAt; i < end; i++ {
			users = append(users, c.User.Create().SetEmail(fmt.Sprintf("load-%d@load.test", i)).SetName(fmt.Sprintf("Load %d", i)).SetPasswordHash("x"))
		}
		created, err := c.User.CreateBulk(users...).Save(ctx)
		if err != nil {
			return nil, err
		}
		members := make([]*ent.MemberCreate, 0, len(created))
		sessions := make([]*ent.SessionCreate, 0, len(created))
		now := time.Now().UTC()
		for _, u := range created {
			members = append(members, c.Member.Create().SetOrganizationID(org.ID).SetUserID(u.ID).SetRole(role.Member))
			tok, hash := token.New()
			out.tokens = append(out.tokens, tok)
			sessions = append(sessions, c.Session.Create().SetTokenHash(hash).SetUserID(u.ID).SetExpiresAt(now.Add(24*time.Hour)).SetLastSeenAt(now))
		}
		if err := c.Member.CreateBulk(members...).Exec(ctx); err != nil {
			return nil, err
		}
		if err := c.Session.CreateBulk(sessions...).Exec(ctx); err != nil {
			return nil, err
		}
	}
	// The member counters, as the service keeps them.
	return out, db.Recount(ctx, org.ID)
}

func session(ctx context.Context, c *ent.Client, userID string) (string, error) {
	tok, hash := token.New()
	now := time.Now().UTC()
	return tok, c.Session.Create().SetTokenHash(hash).SetUserID(userID).SetExpiresAt(now.Add(24 * time.Hour)).SetLastSeenAt(now).Exec(ctx)
}

// subscribe connects one subscriber, subscribes it to the organization's events and
// hands the connection to take, which reads it from then on.
func subscribe(base, tok, orgID string, take func(*websocket.Conn) error) error {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 30 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/graphql", nil)
	if err != nil {
		return err
	}
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + tok}}); err != nil {
		conn.Close()
		return err
	}
	var ack struct{ Type string }
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		conn.Close()
		return fmt.Errorf("no connection_ack (%v, %q)", err, ack.Type)
	}
	_ = conn.SetReadDeadline(time.Time{})
	q := `subscription($o: ID!) { organizationEvents(organizationId: $o) { cursor type createdAt actor { id name } } }`
	if err := conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": q, "variables": map[string]any{"o": orgID}}}); err != nil {
		conn.Close()
		return err
	}
	return take(conn)
}

// nextMessage marks a graphql-transport-ws result. Messages are not decoded: at
// 10,000 subscribers on the server's machine, the generator's decoding would be
// measured instead of the server.
var nextMessage = []byte(`"type":"next"`)

// tally counts the results each subscriber received and when the latest arrived.
// Each round renames the organization once, which is one event for every
// subscriber, and the next round starts only when all have it.
type tally struct {
	mu     sync.Mutex
	seen   []int
	last   []time.Time
	want   int           // results each subscriber has when the round is done
	short  int           // subscribers still short of want
	done   chan struct{} // closed when short reaches 0
	err    error         // the first failure (a connection lost, a result too many)
	failed chan struct{} // closed with err
}

func newTally(n int) *tally {
	return &tally{seen: make([]int, n), last: make([]time.Time, n), done: make(chan struct{}), failed: make(chan struct{})}
}

// expect starts a round: done closes when every subscriber has want results.
func (t *tally) expect(want int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want, t.short, t.done = want, 0, make(chan struct{})
	for _, s := range t.seen {
		if s < want {
			t.short++
		}
	}
	if t.short == 0 {
		close(t.done)
	}
}

// arrived records a result for subscriber i; t.mu is held.
func (t *tally) arrived(i int, at time.Time) {
	t.seen[i]++
	t.last[i] = at
	switch {
	case t.seen[i] > t.want:
		t.fail(fmt.Errorf("subscriber %d received %d results, expected %d", i, t.seen[i], t.want))
	case t.seen[i] == t.want:
		if t.short--; t.short == 0 {
			close(t.done)
		}
	}
}

// fail records the first failure; t.mu is held.
func (t *tally) fail(err error) {
	if t.err == nil {
		t.err = err
		close(t.failed)
	}
}

// wait returns when each subscriber received the round's result.
func (t *tally) wait(timeout time.Duration) ([]time.Time, error) {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	select {
	case <-done:
	case <-t.failed:
	case <-time.After(timeout):
		return nil, fmt.Errorf("not every subscriber received the event within %v", timeout)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return nil, t.err
	}
	return slices.Clone(t.last), nil
}

func mutate(base, tok, orgID, name string) error {
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($o: ID!, $n: String!) { updateOrganization(input: {organizationId: $o, name: $n}) { organization { id } } }`,
		"variables": map[string]any{"o": orgID, "n": name},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) {
		return fmt.Errorf("mutation failed: %s", b)
	}
	return nil
}

// metrics reads the server's Prometheus metrics (unlabelled samples only).
func metrics(base string) (map[string]float64, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = f
		}
	}
	return out, sc.Err()
}

// minMetrics samples the metrics k times and keeps each minimum: in-use memory
// includes garbage until the next collection, the minimum is the closest to live.
func minMetrics(base string, k int, every time.Duration) (map[string]float64, error) {
	var out map[string]float64
	for i := 0; i < k; i++ {
		m, err := metrics(base)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = m
		}
		for name, v := range m {
			out[name] = min(out[name], v)
		}
		time.Sleep(every)
	}
	return out, nil
}

func waitFor(base, name string, want float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, err := metrics(base)
		if err == nil && m[name] == want {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not reach %v", name, want)
}

// saveProfile stores the server's heap profile (ORGQL_LOAD_HEAP_PROFILE names the
// file) while the subscribers are idle, for `go tool pprof`.
func saveProfile(base, path string) error { return saveURL(base+"/debug/pprof/heap?gc=1", path) }

// saveURL stores what url answers in a file.
func saveURL(url, path string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, res.Body)
	return err
}
