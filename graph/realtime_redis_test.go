package graph_test

// Scale-out (issue 5, item 6): several orgql instances sharing one MySQL/MariaDB
// database and one Redis deliver every event to every subscriber, whichever
// instance the change was made on; when Redis is unreachable, subscribers still get
// their organization events from the event table, and viewerEvents streams, which
// cannot catch up, end with EVENTS_MISSED once the bus is back, or as soon as a
// notice from another instance is seen to be lost.
//
// The cluster tests run when ORGQL_TEST_MYSQL_DSN is set and Redis answers at
// 127.0.0.1:6379; the lost-notice test needs Redis only. Each test uses its own
// Redis database number, hence its own channel ("orgql:notices:<db>"), so that a
// notice one test loses on purpose never ends another test's streams.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

const rtRedisAddr = "127.0.0.1:6379"

// rtRedisOrSkip skips the test unless MySQL is configured and Redis answers.
func rtRedisOrSkip(t *testing.T) {
	t.Helper()
	if os.Getenv(testenv.MySQLEnv) == "" {
		t.Skipf("%s is not set", testenv.MySQLEnv)
	}
	rtNeedRedis(t)
}

// rtNeedRedis skips the test unless Redis answers.
func rtNeedRedis(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", rtRedisAddr, time.Second)
	if err != nil {
		t.Skipf("no Redis at %s: %v", rtRedisAddr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Skipf("Redis at %s: %v", rtRedisAddr, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		t.Skipf("Redis at %s does not answer PING: %q %v", rtRedisAddr, line, err)
	}
}

// rtRedis points an instance at a Redis address and database number and sets its
// poll interval.
func rtRedis(addr string, db int, poll time.Duration) testenv.Option {
	return testenv.WithConfig(func(c *config.Config) {
		c.RedisURL = "redis://" + addr + "/" + strconv.Itoa(db)
		c.RealtimePollInterval = poll
	})
}

// rtAs returns u as a client of another instance (same session token).
func rtAs(e *testenv.Env, u *testenv.User) *testenv.User {
	c := e.Client()
	c.Token = u.Token
	return &testenv.User{Client: c, ID: u.ID, Email: u.Email, Name: u.Name, Password: u.Password}
}

// TestRealtimeRedisAcrossInstances: subscribers on instance A get, within moments,
// the events of changes made on instance B (and the other way round), although A
// polls the event table only once a minute: Redis carried them. viewerEvents, the
// end of a removed member's stream and the closing of a signed-out session's
// sockets cross instances too.
func TestRealtimeRedisAcrossInstances(t *testing.T) {
	rtRedisOrSkip(t)
	cl := testenv.NewCluster(t, "mysql", 2, rtOptions(rtRedis(rtRedisAddr, 1, time.Minute))...)
	a, b := cl.Envs[0], cl.Envs[1]
	owner := b.SignUp("Owner")
	mem := b.SignUp("Member")
	o := b.CreateOrg(owner, "Scaled", "scaled-rt")
	memID := b.AddMember(o, mem, role.Member)

	sa := rtOrgStream(t, a, mem, o.ID, 1)
	va := rtViewerStream(t, a, mem, 1)
	sb := rtOrgStream(t, b, owner, o.ID, 1)

	// Made on B, delivered on A (and on B).
	rtRename(t, owner, o.ID, "from B")
	for name, s := range map[string]*testenv.Socket{"A": sa, "B": sb} {
		if ev := rtNext(t, s, "1"); ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, "from B") {
			t.Fatalf("subscriber on %s: want the rename made on B, got %+v", name, ev)
		}
	}
	// Made on A, delivered on B.
	rtRename(t, rtAs(a, owner), o.ID, "from A")
	for name, s := range map[string]*testenv.Socket{"A": sa, "B": sb} {
		if ev := rtNext(t, s, "1"); ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, "from A") {
			t.Fatalf("subscriber on %s: want the rename made on A, got %+v", name, ev)
		}
	}
	// viewerEvents across instances.
	rtSetRole(t, owner, memID, role.Admin)
	if ev := rtNext(t, sa, "1"); ev.Type != "MEMBER_ROLE_CHANGED" || ev.Member == nil || ev.Member.Role != "ADMIN" {
		t.Fatalf("A: want MEMBER_ROLE_CHANGED to ADMIN, got %+v", ev)
	}
	if ev := rtNextViewer(t, va); ev.Type != "ROLE_CHANGED" || ev.Member == nil || ev.Member.Role != "ADMIN" {
		t.Fatalf("A viewerEvents: want ROLE_CHANGED to ADMIN, got %+v", ev)
	}
	rtNext(t, sb, "1")

	// A burst made on B arrives whole and in order on A.
	var last int64
	for i := range 10 {
		rtRename(t, owner, o.ID, "burst "+string(rune('a'+i)))
	}
	for i := range 10 {
		ev := rtNext(t, sa, "1")
		seq := rtSeq(t, ev.Cursor)
		if !strings.Contains(*ev.Data, "burst "+string(rune('a'+i))) || (last > 0 && seq != last+1) {
			t.Fatalf("A: burst event %d: %+v (after %d)", i, ev, last)
		}
		last = seq
	}

	// Removal on B ends the stream on A.
	rtRemove(t, owner, memID)
	if ev := rtNext(t, sa, "1"); ev.Type != "MEMBER_REMOVED" || ev.MemberID == nil || *ev.MemberID != memID {
		t.Fatalf("A: want MEMBER_REMOVED, got %+v", ev)
	}
	rtExpectComplete(t, sa, "1")
	if ev := rtNextViewer(t, va); ev.Type != "REMOVED_FROM_ORGANIZATION" || ev.OrganizationID != o.ID {
		t.Fatalf("A viewerEvents: want REMOVED_FROM_ORGANIZATION, got %+v", ev)
	}
	rtWaitSubs(t, a, 0, 1)

	// Signing out on B closes the session's sockets on A at once (the session
	// sweep would take 30 s).
	start := time.Now()
	rtDo(t, mem.Client, rtMSignOut, map[string]any{})
	va.ExpectClose(4403, rtWait)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the socket closed after %s", d)
	}
	rtWaitSubs(t, a, 0, 0)
}

// rtProxy is a TCP proxy to Redis that a test can cut and restore, to play an
// outage between one instance and Redis.
type rtProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func rtNewProxy(t *testing.T, target string) *rtProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rtProxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

func (p *rtProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // cut meanwhile
				p.mu.Unlock()
				c.Close()
				u.Close()
				continue
			}
			p.conns[c], p.conns[u] = struct{}{}, struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
				p.mu.Lock()
				delete(p.conns, dst)
				delete(p.conns, src)
				p.mu.Unlock()
			}
			go pipe(c, u)
			go pipe(u, c)
		}
	}()
}

// Cut stops accepting and drops every connection: Redis is unreachable.
func (p *rtProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore listens again on the same address.
func (p *rtProxy) Restore() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("restoring the proxy on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestRealtimeRedisOutage: instance A reaches Redis through a proxy that the test
// cuts. Changes made on B meanwhile still reach A's subscriber, from the event
// table (A polls every 500 ms). When Redis is reachable again, A's viewerEvents
// stream, which may have missed events, is ended with CONFLICT / EVENTS_MISSED;
// after that the bus carries notices again (a new viewerEvents stream on A, which
// only the bus can feed, gets a change made on B) and organization events go on.
func TestRealtimeRedisOutage(t *testing.T) {
	rtRedisOrSkip(t)
	proxy := rtNewProxy(t, rtRedisAddr)
	cl := testenv.NewCluster(t, "mysql", 1, rtOptions(rtRedis(rtRedisAddr, 2, 500*time.Millisecond))...)
	b := cl.Envs[0]
	a := cl.Add(rtRedis(proxy.addr, 2, 500*time.Millisecond))
	owner := b.SignUp("Owner")
	mem := b.SignUp("Member")
	o := b.CreateOrg(owner, "Outage", "outage-rt")
	memID := b.AddMember(o, mem, role.Member)

	sa := rtOrgStream(t, a, mem, o.ID, 1)
	va := rtViewerStream(t, a, mem, 1)
	rtRename(t, owner, o.ID, "before the outage")
	if ev := rtNext(t, sa, "1"); !strings.Contains(*ev.Data, "before the outage") {
		t.Fatalf("A: got %+v", ev)
	}
	last := int64(0)

	proxy.Cut()
	for _, name := range []string{"outage 1", "outage 2", "outage 3"} {
		rtRename(t, owner, o.ID, name)
	}
	rtSetRole(t, owner, memID, role.Admin)
	for _, want := range []string{"outage 1", "outage 2", "outage 3"} {
		ev := rtNext(t, sa, "1")
		if ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, want) {
			t.Fatalf("A during the outage: want %q, got %+v", want, ev)
		}
		if seq := rtSeq(t, ev.Cursor); last > 0 && seq != last+1 {
			t.Fatalf("A during the outage: sequence %d after %d", seq, last)
		} else {
			last = seq
		}
	}
	if ev := rtNext(t, sa, "1"); ev.Type != "MEMBER_ROLE_CHANGED" || rtSeq(t, ev.Cursor) != last+1 {
		t.Fatalf("A during the outage: want MEMBER_ROLE_CHANGED at %d, got %+v", last+1, ev)
	}

	proxy.Restore()
	// The bus reconnects with a backoff of at most 5 s.
	m := rtRead(t, va, 15*time.Second)
	if m.ID != "v" || m.Type != "error" {
		t.Fatalf("A viewerEvents: want an error ending the stream after the outage, got %s %s: %s", m.ID, m.Type, m.Payload)
	}
	var errs []testenv.Error
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 ||
		errs[0].Code() != "CONFLICT" || errs[0].Reason() != "EVENTS_MISSED" {
		t.Fatalf("A viewerEvents: want CONFLICT/EVENTS_MISSED, got %s", m.Payload)
	}
	rtWaitSubs(t, a, 1, 0)

	// The bus works again: viewerEvents on A (fed by notices only) hear of a
	// change made on B.
	va2 := rtViewerStream(t, a, mem, 1)
	rtSetRole(t, owner, memID, role.Member)
	if ev := rtNextViewer(t, va2); ev.Type != "ROLE_CHANGED" || ev.Member == nil || ev.Member.Role != "MEMBER" {
		t.Fatalf("A viewerEvents after the outage: want ROLE_CHANGED to MEMBER, got %+v", ev)
	}
	if ev := rtNext(t, sa, "1"); ev.Type != "MEMBER_ROLE_CHANGED" || ev.Member == nil || ev.Member.Role != "MEMBER" {
		t.Fatalf("A after the outage: want MEMBER_ROLE_CHANGED to MEMBER, got %+v", ev)
	}
	rtRename(t, owner, o.ID, "after the outage")
	if ev := rtNext(t, sa, "1"); !strings.Contains(*ev.Data, "after the outage") || rtSeq(t, ev.Cursor) != last+3 {
		t.Fatalf("A after the outage: want the rename at %d, got %+v", last+3, ev)
	}
}

// TestRealtimeRedisLostNoticeEndsViewerEvents: instances number the notices they
// publish. When another instance's beat shows that one of its notices never
// arrived (its publish failed, say, while this instance's own link to Redis stayed
// up), viewerEvents streams end with CONFLICT / EVENTS_MISSED at once instead of
// staying silently short; organization streams, which catch up from the event
// table, go on. The test plays the other instance by publishing on the channel.
func TestRealtimeRedisLostNoticeEndsViewerEvents(t *testing.T) {
	rtNeedRedis(t)
	const db = 3
	e := testenv.New(t, "sqlite", rtOptions(rtRedis(rtRedisAddr, db, time.Minute))...)
	owner := e.SignUp("Owner")
	o := e.CreateOrg(owner, "Lost", "lost-rt")
	v := rtViewerStream(t, e, owner, 1)
	s := rtOrgStream(t, e, owner, o.ID, 1)

	rc := redis.NewClient(&redis.Options{Addr: rtRedisAddr, DB: db})
	defer rc.Close()
	ctx := context.Background()
	channel := "orgql:notices:" + strconv.Itoa(db)
	for deadline := time.Now().Add(rtWait); ; time.Sleep(20 * time.Millisecond) {
		n, err := rc.PubSubNumSub(ctx, channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n[channel] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance did not subscribe to %s", channel)
		}
	}
	publish := func(notice string) {
		t.Helper()
		if err := rc.Publish(ctx, channel, notice).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// (That beats showing no gap end nothing is tested in internal/realtime.)
	publish(`{"i":"peer-under-test","s":1,"b":true}`) // the peer says: I sent 1
	publish(`{"i":"peer-under-test","s":2,"b":true}`) // 2 was sent, never heard
	m := rtRead(t, v, rtWait)
	var errs []testenv.Error
	if m.Type != "error" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) == 0 ||
		errs[0].Code() != "CONFLICT" || errs[0].Reason() != "EVENTS_MISSED" {
		t.Fatalf("viewerEvents: want CONFLICT/EVENTS_MISSED, got %s %s", m.Type, m.Payload)
	}
	rtRename(t, owner, o.ID, "after the gap")
	if ev := rtNext(t, s, "1"); ev.Type != "ORGANIZATION_UPDATED" || !strings.Contains(*ev.Data, "after the gap") {
		t.Fatalf("organizationEvents: want the rename, got %+v", ev)
	}
}
