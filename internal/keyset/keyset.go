// Package keyset builds the index-backed pages of orgql's connections: a page is
// one index seek from the cursor to the next limit+1 rows, so it costs the same on
// the first page and the thousandth, in a tenant of a hundred rows or a hundred
// thousand. Every order of every connection has an index of the form
// (equality columns..., key, id): the seek predicate below is a range on it, and
// ORDER BY key, id is the index order, so the database never sorts.
package keyset

import (
	"entgo.io/ent/dialect/sql"
)

// Seek returns the predicate for the rows strictly after (key, id) in the order
// "keyCol, idCol" ascending, or strictly before it when desc. It is written
//
//	key >= ? AND (key > ? OR id > ?)
//
// rather than as a row comparison, because both SQLite and MariaDB turn its first
// conjunct into an index range (MariaDB does not for row comparisons); the rest
// filters the few rows of the range's first key. With idCol "" the key is unique
// and the predicate is key > ?.
func Seek(keyCol, idCol string, desc bool, key, id any) *sql.Predicate {
	ge, gt := sql.GTE, sql.GT
	if desc {
		ge, gt = sql.LTE, sql.LT
	}
	if idCol == "" {
		return gt(keyCol, key)
	}
	return sql.And(ge(keyCol, key), sql.Or(gt(keyCol, key), gt(idCol, id)))
}

// Order appends ORDER BY keyCol, idCol (idCol may be "") in one direction to s:
// the order of the index the page seeks in.
func Order(s *sql.Selector, desc bool, cols ...string) {
	for _, c := range cols {
		if c == "" {
			continue
		}
		if desc {
			s.OrderBy(sql.Desc(c))
		} else {
			s.OrderBy(sql.Asc(c))
		}
	}
}

// Info is what a page says about its neighbours (Relay's PageInfo).
type Info struct {
	HasNextPage, HasPreviousPage bool
}

// Trim takes the rows a page query returned (it asked for limit+1, in the order
// it read them: reversed when the page is read backwards, with last/before) and
// returns the page in display order with its page info. A forward page after a
// cursor has a previous page, a backward page before a cursor has a next page;
// the extra row tells whether there is more in the direction of reading.
func Trim[T any](rows []T, limit int, backward, hasCursor bool) ([]T, Info) {
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	var info Info
	if backward {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
		info.HasPreviousPage, info.HasNextPage = more, hasCursor
	} else {
		info.HasNextPage, info.HasPreviousPage = more, hasCursor
	}
	return rows, info
}
