package graph_test

import (
	"context"
	"fmt"
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
