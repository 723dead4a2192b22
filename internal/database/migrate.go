package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"entgo.io/ent/dialect"

	"github.com/orgql/orgql/ent/migrate"
	"github.com/orgql/orgql/ent/schema"
)

var migrateMu sync.Mutex

// Migrate brings the schema up to date. It adds tables, columns and indexes, drops
// the indexes the schema no longer declares, and never drops data, so a new binary
// can start on an old database and an old binary keeps working (if slower, without
// a dropped index) during a rolling upgrade. On MySQL a named lock makes replicas that
// start together migrate one after another.
func (db *DB) Migrate(ctx context.Context) error {
	// ent's migration mutates package-level table descriptions: two migrations in
	// one process (tests start several servers) must not overlap.
	migrateMu.Lock()
	defer migrateMu.Unlock()
	if db.Dialect == dialect.MySQL {
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		var got int
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('orgql_migrate', 120)").Scan(&got); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if got != 1 {
			return fmt.Errorf("another instance held the migration lock for 120 s")
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('orgql_migrate')")
	}
	// Indexes the schema no longer declares are dropped: each costs every write,
	// and a replaced one (a wider index for the same order) serves nothing.
	if err := db.Client.Schema.Create(ctx, migrate.WithDropIndex(true)); err != nil {
		return fmt.Errorf("migrating the schema: %w", err)
	}
	// Data migrations: each is idempotent and cheap when there is nothing to do.
	// organizations.name_key (the order-by-name key) arrived after organizations.
	if _, err := db.SQL.ExecContext(ctx, "UPDATE organizations SET name_key = LOWER(name) WHERE name_key = ''"); err != nil {
		return fmt.Errorf("filling organizations.name_key: %w", err)
	}
	// The members' copied sort keys and the counters arrived later still. A member
	// always has an email and an organization at least one member (its owner), so
	// an empty copy or a zero count marks a row from before them.
	if _, err := db.SQL.ExecContext(ctx, fillMemberSortKeys+" WHERE user_email = ''"); err != nil {
		return fmt.Errorf("filling the members' sort keys: %w", err)
	}
	if _, err := db.SQL.ExecContext(ctx, recountOrganizations+" WHERE member_count = 0"); err != nil {
		return fmt.Errorf("counting members and invitations: %w", err)
	}
	if _, err := db.SQL.ExecContext(ctx, recountUsers+" WHERE organization_count = 0 AND id IN (SELECT user_id FROM members)"); err != nil {
		return fmt.Errorf("counting organizations of users: %w", err)
	}
	return nil
}

// The statements that derive copies and counters from the rows they summarize;
// the service keeps them in step change by change (package org, ent/schema's
// sort key hooks). Each is completed with a WHERE clause.
const (
	fillMemberSortKeys = `UPDATE members SET
  user_name_key = (SELECT LOWER(u.name) FROM users u WHERE u.id = members.user_id),
  user_email = (SELECT u.email FROM users u WHERE u.id = members.user_id),
  org_name_key = (SELECT o.name_key FROM organizations o WHERE o.id = members.organization_id),
  org_slug = (SELECT o.slug FROM organizations o WHERE o.id = members.organization_id),
  org_created_at = (SELECT o.created_at FROM organizations o WHERE o.id = members.organization_id)`
	recountOrganizations = `UPDATE organizations SET
  member_count = (SELECT COUNT(*) FROM members m WHERE m.organization_id = organizations.id),
  owner_count = (SELECT COUNT(*) FROM members m WHERE m.organization_id = organizations.id AND m.role = 'OWNER'),
  admin_count = (SELECT COUNT(*) FROM members m WHERE m.organization_id = organizations.id AND m.role = 'ADMIN'),
  pending_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'PENDING'),
  accepted_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'ACCEPTED'),
  rejected_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'REJECTED'),
  canceled_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'CANCELED')`
	recountUsers = `UPDATE users SET
  organization_count = (SELECT COUNT(*) FROM members m WHERE m.user_id = users.id)`
)

// Recount sets the counters of an organization, and of every user whose
// organization count is off, from the rows they count. Bulk loaders that insert
// or delete members directly (benchmarks, tests) call it afterwards; the service
// never needs it.
func (db *DB) Recount(ctx context.Context, orgID string) error {
	if _, err := db.SQL.ExecContext(ctx, recountOrganizations+" WHERE id = ?", orgID); err != nil {
		return fmt.Errorf("counting members and invitations: %w", err)
	}
	// Every user whose count is off: also those the loader took out of orgID.
	if _, err := db.SQL.ExecContext(ctx, recountUsers+" WHERE organization_count <> (SELECT COUNT(*) FROM members m WHERE m.user_id = users.id)"); err != nil {
		return fmt.Errorf("counting organizations of users: %w", err)
	}
	return nil
}

// CheckDerived compares every copy and counter with the rows it is derived from
// and reports the first rows that disagree. An organization's event sequence is
// both its number of events and its last event's sequence (the audit log's
// totalCount relies on it). Tests run it when they end, so that no
// path of the service leaves a counter or a sort key behind.
func (db *DB) CheckDerived(ctx context.Context) error {
	var problems []string
	add := func(what string, rows *sql.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("checking %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if len(problems) < 20 {
				problems = append(problems, what+": "+id)
			}
		}
		return rows.Err()
	}
	counts := `SELECT id FROM organizations WHERE NOT (
  member_count = (SELECT COUNT(*) FROM members m WHERE m.organization_id = organizations.id)
  AND owner_count = (SELECT COUNT(*) FROM members m WHERE m.organization_id = organizations.id AND m.role = 'OWNER')
  AND admin_count = (SELECT COUNT(*) FROM members m WHERE m.organization_id = organizations.id AND m.role = 'ADMIN')
  AND pending_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'PENDING')
  AND accepted_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'ACCEPTED')
  AND rejected_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'REJECTED')
  AND canceled_invitation_count = (SELECT COUNT(*) FROM invitations i WHERE i.organization_id = organizations.id AND i.status = 'CANCELED')
  AND event_sequence = (SELECT COUNT(*) FROM events e WHERE e.organization_id = organizations.id)
  AND event_sequence = COALESCE((SELECT MAX(e.sequence) FROM events e WHERE e.organization_id = organizations.id), 0))`
	rows, err := db.SQL.QueryContext(ctx, counts)
	if err := add("organization counters", rows, err); err != nil {
		return err
	}
	rows, err = db.SQL.QueryContext(ctx, `SELECT id FROM users WHERE organization_count <> (SELECT COUNT(*) FROM members m WHERE m.user_id = users.id)`)
	if err := add("user organization_count", rows, err); err != nil {
		return err
	}
	rows, err = db.SQL.QueryContext(ctx, `SELECT m.id FROM members m JOIN users u ON u.id = m.user_id JOIN organizations o ON o.id = m.organization_id
WHERE m.user_email <> u.email OR m.org_name_key <> o.name_key OR m.org_slug <> o.slug OR m.org_created_at <> o.created_at OR m.org_created_at IS NULL`)
	if err := add("member sort keys", rows, err); err != nil {
		return err
	}
	// Name keys are lower-cased in Go (schema.NameKey): compared here in Go too.
	rows, err = db.SQL.QueryContext(ctx, `SELECT m.id, m.user_name_key, u.name FROM members m JOIN users u ON u.id = m.user_id`)
	if err != nil {
		return fmt.Errorf("checking member name keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, key, name string
		if err := rows.Scan(&id, &key, &name); err != nil {
			return err
		}
		if key != schema.NameKey(name) && len(problems) < 20 {
			problems = append(problems, "member name key: "+id)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.SQL.QueryContext(ctx, `SELECT id FROM organizations WHERE name_key = '' OR name_key IS NULL`)
	if err := add("organization name key", rows, err); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("derived data out of step with its source rows:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}
