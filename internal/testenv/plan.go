package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
)

// Plan returns the database's plan for st, one line per step: on SQLite the
// detail column of EXPLAIN QUERY PLAN ("SEARCH members USING INDEX ..."), on
// MySQL/MariaDB each EXPLAIN row as "table=... type=... key=... extra=...".
func (e *Env) Plan(st Statement) ([]string, error) {
	prefix := "EXPLAIN QUERY PLAN "
	if e.Kind == "mysql" {
		prefix = "EXPLAIN "
	}
	rows, err := e.App.DB.SQL.QueryContext(context.Background(), prefix+st.Query, st.Args...)
	if err != nil {
		return nil, fmt.Errorf("explaining %s: %w", st.Query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		get := func(name string) string {
			for i, c := range cols {
				if strings.EqualFold(c, name) {
					return vals[i].String
				}
			}
			return ""
		}
		if e.Kind == "mysql" {
			out = append(out, fmt.Sprintf("table=%s type=%s key=%s extra=%s", get("table"), get("type"), get("key"), get("Extra")))
		} else {
			out = append(out, get("detail"))
		}
	}
	return out, rows.Err()
}

var (
	// SQLite reads a whole table (or a whole index) with SCAN; a derived table
	// or a co-routine of the statement's own is SCANned too and is not a problem.
	sqliteScan    = regexp.MustCompile(`^SCAN (\w+)(?: USING (?:COVERING )?INDEX|$)`)
	sqliteDerived = regexp.MustCompile(`^(?:CO-ROUTINE|MATERIALIZE) (\w+)`)
	sqliteSort    = regexp.MustCompile(`USE TEMP B-TREE FOR (?:ORDER BY|RIGHT PART OF ORDER BY)`)
)

// PlanProblems returns the steps of st's plan that read one of tables in full
// (a table or full index scan) or sort rows no index orders (SQLite "USE TEMP
// B-TREE FOR ORDER BY", MySQL "Using filesort"). The statement's own derived
// tables and co-routines are read whole by design and not reported.
func (e *Env) PlanProblems(st Statement, tables []string) ([]string, error) {
	plan, err := e.Plan(st)
	if err != nil {
		return nil, err
	}
	watched := func(t string) bool {
		for _, w := range tables {
			if t == w {
				return true
			}
		}
		return false
	}
	// SQLite names a derived table's co-routine or materialization after its alias,
	// which may be a table's name (a page read in a derived table named like the
	// table, so that the read policy applies to it).
	own := map[string]bool{}
	for _, step := range plan {
		if m := sqliteDerived.FindStringSubmatch(step); m != nil {
			own[m[1]] = true
		}
	}
	var bad []string
	for _, step := range plan {
		if e.Kind == "mysql" {
			f := map[string]string{}
			for _, kv := range strings.Split(step, " ") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					f[k] = v
				}
			}
			if watched(f["table"]) && (f["type"] == "ALL" || f["type"] == "index") || strings.Contains(step, "Using filesort") {
				bad = append(bad, step)
			}
			continue
		}
		if m := sqliteScan.FindStringSubmatch(step); m != nil && watched(m[1]) && !own[m[1]] || sqliteSort.MatchString(step) {
			bad = append(bad, step)
		}
	}
	return bad, nil
}
