package authz_test

// The role matrix of GUIDE §2 as hand-written tables. Every expected outcome below
// was written from the guide (and the intended semantics noted on each table), not
// computed by calling package authz. Each table is checked for exhaustiveness: a
// combination of the cross product actor × target × self-or-other × owner count
// (× new role) that is missing from a table, listed twice, or impossible (such as
// "self" with a target role other than the actor's) fails the test, so the tables
// stay complete when the matrix grows.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/authz"
	"github.com/orgql/orgql/internal/role"
)

// Role labels of the tables. X is "not a valid role": it expands to several
// concrete invalid roles, including the empty role (a non-member) and a lower-case
// spelling of a real role.
type rl string

const (
	O rl = "OWNER"
	A rl = "ADMIN"
	M rl = "MEMBER"
	X rl = "invalid"
)

var (
	allActors  = []rl{O, A, M, X}
	allTargets = []rl{O, A, M} // a member always has a valid role
	allNew     = []rl{O, A, M, X}
	invalid    = []role.Role{"", "owner", "SUPERUSER", " ADMIN"}
)

// concrete expands a label into the roles it stands for.
func concrete(l rl) []role.Role {
	if l == X {
		return invalid
	}
	return []role.Role{role.Role(l)}
}

// Self or other.
type who bool

const (
	self  who = true
	other who = false
)

func (w who) String() string {
	if w {
		return "self"
	}
	return "other"
}

// Owner count labels: one, or many (expanded to 2, 3 and 10).
type owners string

const (
	one  owners = "1 owner"
	many owners = "2+ owners"
)

var allOwners = []owners{one, many}

func (o owners) counts() []int {
	if o == one {
		return []int{1}
	}
	return []int{2, 3, 10}
}

// Expected outcomes: ok, or a FORBIDDEN refusal with one of these reasons, spelled
// out here as the API contract (not taken from the package's constants).
const (
	ok    = ""
	ins   = "INSUFFICIENT_ROLE"
	notA  = "ROLE_NOT_ASSIGNABLE"
	last  = "LAST_OWNER"
	rmSlf = "CANNOT_REMOVE_SELF"
	xfSlf = "CANNOT_TRANSFER_TO_SELF"
)

// situation is the actor's role and the target as the matrix sees them.
type situation struct {
	actor, target rl
	who           who
	owners        owners
}

func (s situation) String() string {
	return fmt.Sprintf("actor=%s target=%s %s %s", s.actor, s.target, s.who, s.owners)
}

// feasible reports whether the situation can exist: the actor is the target only
// with the same (valid) role, and an owner acting on another owner means at least
// two owners.
func feasible(s situation) bool {
	if s.who == self && s.actor != s.target {
		return false
	}
	if s.actor == O && s.target == O && s.who == other && s.owners == one {
		return false
	}
	return true
}

// checkExhaustive fails unless keys holds every feasible situation exactly once and
// no infeasible one.
func checkExhaustive(t *testing.T, table string, keys []situation) {
	t.Helper()
	seen := map[situation]int{}
	for _, k := range keys {
		seen[k]++
		if seen[k] == 2 {
			t.Errorf("%s: %v is listed twice", table, k)
		}
		if !feasible(k) {
			t.Errorf("%s: %v cannot happen and must not be listed", table, k)
		}
	}
	var missing []string
	for _, a := range allActors {
		for _, tg := range allTargets {
			for _, w := range []who{self, other} {
				for _, o := range allOwners {
					s := situation{a, tg, w, o}
					if feasible(s) && seen[s] == 0 {
						missing = append(missing, s.String())
					}
				}
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s: no expectation for %s: add it to the table", table, m)
	}
}

// checkOutcome compares a decision with the expected outcome.
func checkOutcome(t *testing.T, what string, err error, want string) {
	t.Helper()
	if want == ok {
		if err != nil {
			t.Errorf("%s: want allowed, got %v", what, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%s: want FORBIDDEN/%s, got allowed", what, want)
		return
	}
	ae, isApp := apperr.As(err)
	if !isApp {
		t.Errorf("%s: want FORBIDDEN/%s, got a non-catalog error %v", what, want, err)
		return
	}
	if ae.Code != apperr.Forbidden || ae.Reason != want {
		t.Errorf("%s: want FORBIDDEN/%s, got %s/%s (%s)", what, want, ae.Code, ae.Reason, ae.Message)
	}
	if strings.TrimSpace(ae.Message) == "" {
		t.Errorf("%s: refusal without a message", what)
	}
}

// targets expands a situation into the concrete (actor role, Target) pairs it covers.
func targets(s situation) (out []struct {
	actor role.Role
	t     authz.Target
}) {
	for _, a := range concrete(s.actor) {
		for _, n := range s.owners.counts() {
			out = append(out, struct {
				actor role.Role
				t     authz.Target
			}{a, authz.Target{Role: role.Role(s.target), Self: bool(s.who), Owners: n}})
		}
	}
	return out
}

// changeRoleTable: the outcome of ChangeRole for each new role, in the order OWNER,
// ADMIN, MEMBER, invalid.
//
// Intended semantics (GUIDE §2 plus the notes): only OWNERs and ADMINs
// change roles, and a MEMBER (or a non-member) is refused INSUFFICIENT_ROLE before
// anything else; an unknown role is never assignable (ROLE_NOT_ASSIGNABLE); setting
// the role a member already has is allowed and changes nothing; only OWNERs grant
// OWNER (an ADMIN gets ROLE_NOT_ASSIGNABLE) and change an OWNER's role (an ADMIN
// gets INSUFFICIENT_ROLE); an ADMIN may demote themselves to MEMBER; an OWNER may
// demote themselves unless they are the last owner (LAST_OWNER).
var changeRoleTable = map[situation][4]string{
	//                          -> OWNER  ADMIN  MEMBER invalid
	{O, O, self, one}:   {ok, last, last, notA}, // the last owner cannot step down; OWNER->OWNER is a no-op
	{O, O, self, many}:  {ok, ok, ok, notA},     // another owner remains
	{O, O, other, many}: {ok, ok, ok, notA},     // an owner demotes another owner
	{O, A, other, one}:  {ok, ok, ok, notA},     // grant OWNER, no-op, demote
	{O, A, other, many}: {ok, ok, ok, notA},
	{O, M, other, one}:  {ok, ok, ok, notA}, // grant OWNER, promote, no-op
	{O, M, other, many}: {ok, ok, ok, notA},

	{A, O, other, one}:  {ok, ins, ins, notA}, // OWNER->OWNER changes nothing; changing an owner's role is OWNER only
	{A, O, other, many}: {ok, ins, ins, notA},
	{A, A, self, one}:   {notA, ok, ok, notA}, // an admin may demote themselves; never grant OWNER
	{A, A, self, many}:  {notA, ok, ok, notA},
	{A, A, other, one}:  {notA, ok, ok, notA},
	{A, A, other, many}: {notA, ok, ok, notA},
	{A, M, other, one}:  {notA, ok, ok, notA},
	{A, M, other, many}: {notA, ok, ok, notA},

	{M, O, other, one}:  {ins, ins, ins, ins}, // MEMBERs change no roles, not even to the same role
	{M, O, other, many}: {ins, ins, ins, ins},
	{M, A, other, one}:  {ins, ins, ins, ins},
	{M, A, other, many}: {ins, ins, ins, ins},
	{M, M, self, one}:   {ins, ins, ins, ins},
	{M, M, self, many}:  {ins, ins, ins, ins},
	{M, M, other, one}:  {ins, ins, ins, ins},
	{M, M, other, many}: {ins, ins, ins, ins},

	{X, O, other, one}:  {ins, ins, ins, ins}, // not a member: no role at all
	{X, O, other, many}: {ins, ins, ins, ins},
	{X, A, other, one}:  {ins, ins, ins, ins},
	{X, A, other, many}: {ins, ins, ins, ins},
	{X, M, other, one}:  {ins, ins, ins, ins},
	{X, M, other, many}: {ins, ins, ins, ins},
}

func TestMatrixChangeRole(t *testing.T) {
	keys := make([]situation, 0, len(changeRoleTable))
	for k := range changeRoleTable {
		keys = append(keys, k)
	}
	checkExhaustive(t, "changeRoleTable", keys)
	for s, want := range changeRoleTable {
		for _, c := range targets(s) {
			for i, nl := range allNew {
				for _, nr := range concrete(nl) {
					what := fmt.Sprintf("ChangeRole(%q, %+v, %q) [%v]", c.actor, c.t, nr, s)
					checkOutcome(t, what, authz.ChangeRole(c.actor, c.t, nr), want[i])
				}
			}
		}
	}
}

// removeTable: Remove. Only OWNERs and ADMINs remove (INSUFFICIENT_ROLE first);
// nobody removes themselves (CANNOT_REMOVE_SELF, checked right after the role: they
// leave instead); only OWNERs remove an OWNER; the last owner cannot be removed.
var removeTable = map[situation]string{
	{O, O, self, one}:   rmSlf,
	{O, O, self, many}:  rmSlf,
	{O, O, other, many}: ok,
	{O, A, other, one}:  ok,
	{O, A, other, many}: ok,
	{O, M, other, one}:  ok,
	{O, M, other, many}: ok,

	{A, O, other, one}:  ins,
	{A, O, other, many}: ins,
	{A, A, self, one}:   rmSlf,
	{A, A, self, many}:  rmSlf,
	{A, A, other, one}:  ok,
	{A, A, other, many}: ok,
	{A, M, other, one}:  ok,
	{A, M, other, many}: ok,

	{M, O, other, one}:  ins,
	{M, O, other, many}: ins,
	{M, A, other, one}:  ins,
	{M, A, other, many}: ins,
	{M, M, self, one}:   ins, // the role comes first: a MEMBER cannot remove anyone
	{M, M, self, many}:  ins,
	{M, M, other, one}:  ins,
	{M, M, other, many}: ins,

	{X, O, other, one}:  ins,
	{X, O, other, many}: ins,
	{X, A, other, one}:  ins,
	{X, A, other, many}: ins,
	{X, M, other, one}:  ins,
	{X, M, other, many}: ins,
}

func TestMatrixRemove(t *testing.T) {
	keys := make([]situation, 0, len(removeTable))
	for k := range removeTable {
		keys = append(keys, k)
	}
	checkExhaustive(t, "removeTable", keys)
	for s, want := range removeTable {
		for _, c := range targets(s) {
			what := fmt.Sprintf("Remove(%q, %+v) [%v]", c.actor, c.t, s)
			checkOutcome(t, what, authz.Remove(c.actor, c.t), want)
		}
	}
}

// transferTable: Transfer. OWNER only; never to oneself; to any other member,
// including one who is already an OWNER (the actor then becomes an ADMIN).
var transferTable = map[situation]string{
	{O, O, self, one}:   xfSlf,
	{O, O, self, many}:  xfSlf,
	{O, O, other, many}: ok,
	{O, A, other, one}:  ok,
	{O, A, other, many}: ok,
	{O, M, other, one}:  ok,
	{O, M, other, many}: ok,

	{A, O, other, one}:  ins,
	{A, O, other, many}: ins,
	{A, A, self, one}:   ins,
	{A, A, self, many}:  ins,
	{A, A, other, one}:  ins,
	{A, A, other, many}: ins,
	{A, M, other, one}:  ins,
	{A, M, other, many}: ins,

	{M, O, other, one}:  ins,
	{M, O, other, many}: ins,
	{M, A, other, one}:  ins,
	{M, A, other, many}: ins,
	{M, M, self, one}:   ins,
	{M, M, self, many}:  ins,
	{M, M, other, one}:  ins,
	{M, M, other, many}: ins,

	{X, O, other, one}:  ins,
	{X, O, other, many}: ins,
	{X, A, other, one}:  ins,
	{X, A, other, many}: ins,
	{X, M, other, one}:  ins,
	{X, M, other, many}: ins,
}

func TestMatrixTransfer(t *testing.T) {
	keys := make([]situation, 0, len(transferTable))
	for k := range transferTable {
		keys = append(keys, k)
	}
	checkExhaustive(t, "transferTable", keys)
	for s, want := range transferTable {
		for _, c := range targets(s) {
			what := fmt.Sprintf("Transfer(%q, %+v) [%v]", c.actor, c.t, s)
			checkOutcome(t, what, authz.Transfer(c.actor, c.t), want)
		}
	}
}

// canChangeRoleTable: CanChangeRoleOf, the Member.viewerCanChangeRole field: whether
// the actor may change the target's role to at least one OTHER role.
var canChangeRoleTable = map[situation]bool{
	{O, O, self, one}:   false, // the last owner can only "change" to OWNER, which is no change
	{O, O, self, many}:  true,
	{O, O, other, many}: true,
	{O, A, other, one}:  true,
	{O, A, other, many}: true,
	{O, M, other, one}:  true,
	{O, M, other, many}: true,

	{A, O, other, one}:  false,
	{A, O, other, many}: false,
	{A, A, self, one}:   true, // demote to MEMBER
	{A, A, self, many}:  true,
	{A, A, other, one}:  true,
	{A, A, other, many}: true,
	{A, M, other, one}:  true,
	{A, M, other, many}: true,

	{M, O, other, one}:  false,
	{M, O, other, many}: false,
	{M, A, other, one}:  false,
	{M, A, other, many}: false,
	{M, M, self, one}:   false,
	{M, M, self, many}:  false,
	{M, M, other, one}:  false,
	{M, M, other, many}: false,

	{X, O, other, one}:  false,
	{X, O, other, many}: false,
	{X, A, other, one}:  false,
	{X, A, other, many}: false,
	{X, M, other, one}:  false,
	{X, M, other, many}: false,
}

func TestMatrixCanChangeRoleOf(t *testing.T) {
	keys := make([]situation, 0, len(canChangeRoleTable))
	for k := range canChangeRoleTable {
		keys = append(keys, k)
	}
	checkExhaustive(t, "canChangeRoleTable", keys)
	for s, want := range canChangeRoleTable {
		// The two hand-written tables must agree with each other: the capability is
		// true exactly when some other valid role is allowed by changeRoleTable.
		some := false
		for i, nl := range allNew {
			if nl != X && nl != s.target && changeRoleTable[s][i] == ok {
				some = true
			}
		}
		if some != want {
			t.Errorf("tables disagree for %v: canChangeRoleTable says %v, changeRoleTable says %v", s, want, some)
		}
		for _, c := range targets(s) {
			if got := authz.CanChangeRoleOf(c.actor, c.t); got != want {
				t.Errorf("CanChangeRoleOf(%q, %+v) = %v, want %v [%v]", c.actor, c.t, got, want, s)
			}
		}
	}
}

// leaveTable: Leave, by the leaver's role and the owner count. Everyone may leave
// except the last owner; something that is not a role is refused.
var leaveTable = map[rl]map[owners]string{
	O: {one: last, many: ok},
	A: {one: ok, many: ok},
	M: {one: ok, many: ok},
	X: {one: ins, many: ins},
}

func TestMatrixLeave(t *testing.T) {
	for _, r := range allActors {
		row, found := leaveTable[r]
		if !found {
			t.Errorf("leaveTable: no row for %s", r)
			continue
		}
		for _, o := range allOwners {
			want, found := row[o]
			if !found {
				t.Errorf("leaveTable: no expectation for %s with %s", r, o)
				continue
			}
			for _, cr := range concrete(r) {
				for _, n := range o.counts() {
					checkOutcome(t, fmt.Sprintf("Leave(%q, %d)", cr, n), authz.Leave(cr, n), want)
				}
			}
		}
	}
}

// actionTable: for each action of GUIDE §2 that depends on the role alone, its
// least role and whether OWNER, ADMIN and MEMBER may do it.
var actionTable = []struct {
	name    string
	action  authz.Action
	min     role.Role
	allowed [3]bool // OWNER, ADMIN, MEMBER
}{
	{"ViewOrganization", authz.ViewOrganization, role.Member, [3]bool{true, true, true}},
	{"ViewInvitations", authz.ViewInvitations, role.Admin, [3]bool{true, true, false}},
	{"ViewAuditLog", authz.ViewAuditLog, role.Admin, [3]bool{true, true, false}},
	{"UpdateSettings", authz.UpdateSettings, role.Admin, [3]bool{true, true, false}},
	{"InviteMembers", authz.InviteMembers, role.Admin, [3]bool{true, true, false}},
	{"ManageMembers", authz.ManageMembers, role.Admin, [3]bool{true, true, false}},
	{"ManageOwners", authz.ManageOwners, role.Owner, [3]bool{true, false, false}},
	{"ManageApplications", authz.ManageApplications, role.Admin, [3]bool{true, true, false}},
	{"DeleteOrganization", authz.DeleteOrganization, role.Owner, [3]bool{true, false, false}},
	{"TransferOwnership", authz.TransferOwnership, role.Owner, [3]bool{true, false, false}},
}

func TestMatrixActions(t *testing.T) {
	listed := map[authz.Action]string{}
	for _, row := range actionTable {
		if prev, dup := listed[row.action]; dup {
			t.Errorf("actionTable lists action %d twice (%s, %s)", row.action, prev, row.name)
		}
		listed[row.action] = row.name

		if got := authz.MinRole(row.action); got != row.min {
			t.Errorf("MinRole(%s) = %q, want %q", row.name, got, row.min)
		}
		for i, r := range []role.Role{role.Owner, role.Admin, role.Member} {
			want := row.allowed[i]
			if got := authz.Allows(r, row.action); got != want {
				t.Errorf("Allows(%s, %s) = %v, want %v", r, row.name, got, want)
			}
			what := fmt.Sprintf("Require(%s, %s)", r, row.name)
			if want {
				checkOutcome(t, what, authz.Require(r, row.action), ok)
			} else {
				checkOutcome(t, what, authz.Require(r, row.action), ins)
			}
		}
		for _, r := range invalid {
			if authz.Allows(r, row.action) {
				t.Errorf("Allows(%q, %s) = true, want false", r, row.name)
			}
			checkOutcome(t, fmt.Sprintf("Require(%q, %s)", r, row.name), authz.Require(r, row.action), ins)
		}
	}

	// Exhaustiveness: any action the package knows (it has a least role, or some
	// role may do it) must be in actionTable. Actions are small consecutive integers.
	for a := authz.Action(-8); a < 512; a++ {
		known := authz.MinRole(a) != ""
		for _, r := range role.All {
			known = known || authz.Allows(r, a)
		}
		if _, in := listed[a]; known && !in {
			t.Errorf("action %d (least role %q) is missing from actionTable", a, authz.MinRole(a))
		}
		if _, in := listed[a]; !known && !in {
			// An unknown action is allowed to nobody.
			for _, r := range slices.Concat(role.All, invalid) {
				checkOutcome(t, fmt.Sprintf("Require(%q, unknown action %d)", r, a), authz.Require(r, a), ins)
			}
		}
	}
}

// assignableTable: Assignable(actor, role): who may give which role (by role change
// or invitation). OWNERs give any role; ADMINs give ADMIN and MEMBER; MEMBERs and
// non-members give nothing; an unknown role is never assignable.
var assignableTable = map[rl]map[rl]bool{
	O: {O: true, A: true, M: true, X: false},
	A: {O: false, A: true, M: true, X: false},
	M: {O: false, A: false, M: false, X: false},
	X: {O: false, A: false, M: false, X: false},
}

func TestMatrixAssignable(t *testing.T) {
	for _, al := range allActors {
		for _, nl := range allNew {
			want, found := assignableTable[al][nl]
			if !found {
				t.Errorf("assignableTable: no expectation for actor %s, role %s", al, nl)
				continue
			}
			for _, a := range concrete(al) {
				for _, r := range concrete(nl) {
					if got := authz.Assignable(a, r); got != want {
						t.Errorf("Assignable(%q, %q) = %v, want %v", a, r, got, want)
					}
				}
			}
		}
	}
	// Assignable agrees with changeRoleTable: a role is assignable by an actor
	// exactly when the actor may set it on some member whose role differs.
	for s, outcomes := range changeRoleTable {
		for i, nl := range allNew {
			if nl == s.target || outcomes[i] == ins || outcomes[i] == last {
				continue
			}
			if want := outcomes[i] == ok; assignableTable[s.actor][nl] != want {
				t.Errorf("tables disagree for %v -> %s: assignableTable %v, changeRoleTable %q",
					s, nl, assignableTable[s.actor][nl], outcomes[i])
			}
		}
	}
}

// TestMatrixReasonConstants pins the exported reasons to the API contract.
func TestMatrixReasonConstants(t *testing.T) {
	for got, want := range map[string]string{
		authz.ReasonInsufficientRole:  ins,
		authz.ReasonRoleNotAssignable: notA,
		authz.ReasonLastOwner:         last,
		authz.ReasonCannotRemoveSelf:  rmSlf,
		authz.ReasonTransferToSelf:    xfSlf,
	} {
		if got != want {
			t.Errorf("reason constant %q, want %q", got, want)
		}
	}
}
