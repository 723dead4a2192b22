package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/realtime"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// TestRealtimeMemberReplayStartsAtJoinEvent: a MEMBER who resumes from the very
// beginning gets the events from their own MEMBER_JOINED on, never the history
// before it, even when the membership's timestamp is off (a replica's clock an hour
// behind): the bound is the join event's sequence, not a time.
func TestRealtimeMemberReplayStartsAtJoinEvent(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		joiner := e.SignUp("Joiner")
		o := e.CreateOrg(owner, "Replay", "replay-join")
		for i := range 3 {
			rtRename(t, owner, o.ID, fmt.Sprintf("before join %d", i))
		}
		rtInvite(t, owner, o.ID, joiner.Email, role.Member)
		memberID := rtDo(t, joiner.Client, rtMAccept, map[string]any{"token": e.Mail.Token(joiner.Email)}).
			Str(t, "acceptInvitation.member.id")
		rtRename(t, owner, o.ID, "after join")

		if _, err := e.App.DB.SQL.ExecContext(context.Background(),
			"UPDATE members SET created_at = ? WHERE id = ?", time.Now().Add(-time.Hour).UTC(), memberID); err != nil {
			t.Fatal(err)
		}

		s := rtDial(t, e, joiner)
		rtSubscribeOrg(s, "1", o.ID, realtime.Cursor(0))
		for _, want := range []string{"MEMBER_JOINED", "ORGANIZATION_UPDATED"} {
			ev := rtNext(t, s, "1")
			if ev.Type != want {
				t.Fatalf("a member's replay from the start: want %s, got %+v", want, ev)
			}
			if want == "MEMBER_JOINED" && (ev.Member == nil || ev.Member.ID != memberID) {
				t.Fatalf("the replay starts at another join: %+v", ev)
			}
		}
		rtExpectQuiet(t, s, 200*time.Millisecond)
	}, rtOptions()...)
}

// TestRealtimeEventCursorClosesTheQueryGap: a client reads the member list and
// Organization.eventCursor in one query, the organization changes before it
// subscribes, and it subscribes with after: eventCursor. The stream carries exactly
// the changes made after the query (none missed for want of a subscription yet,
// none from before), and eventCursor then stands at the last of them. A MEMBER may
// read it.
func TestRealtimeEventCursorClosesTheQueryGap(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		mem := e.SignUp("Member")
		o := e.CreateOrg(owner, "Gap", "gap-cursor")
		e.AddMember(o, mem, role.Member)
		rtRename(t, owner, o.ID, "read by the query")

		const q = `query($id: ID!) { node(id: $id) { ... on Organization { name eventCursor members(first: 10) { totalCount } } } }`
		res := mem.Client.Do(q, map[string]any{"id": o.ID}).OK(t, nil)
		cursor := res.Str(t, "node.eventCursor")
		if res.Str(t, "node.name") != "read by the query" {
			t.Fatalf("query: %s", res.Raw)
		}
		rtRename(t, owner, o.ID, "after the query 1") // before the client subscribes
		rtRename(t, owner, o.ID, "after the query 2")

		s := rtDial(t, e, mem)
		rtSubscribeOrg(s, "1", o.ID, cursor)
		last := rtSeq(t, cursor)
		for _, want := range []string{"after the query 1", "after the query 2"} {
			ev := rtNext(t, s, "1")
			if ev.Type != "ORGANIZATION_UPDATED" || ev.Data == nil || !strings.Contains(*ev.Data, want) || rtSeq(t, ev.Cursor) != last+1 {
				t.Fatalf("want %q at %d, got %+v", want, last+1, ev)
			}
			last++
		}
		again := mem.Client.Do(q, map[string]any{"id": o.ID}).OK(t, nil).Str(t, "node.eventCursor")
		if rtSeq(t, again) != last {
			t.Fatalf("eventCursor %q (%d) after the changes, want %d", again, rtSeq(t, again), last)
		}
		rtRename(t, owner, o.ID, "live")
		if ev := rtNext(t, s, "1"); ev.Data == nil || !strings.Contains(*ev.Data, "live") || rtSeq(t, ev.Cursor) != last+1 {
			t.Fatalf("live: %+v", ev)
		}
	}, rtOptions()...)
}
