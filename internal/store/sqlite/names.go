package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// allNames is the writer's set of every topic name in the file, kept while
// there are at most its bound: a name the writer has not cached and that is
// not in the set is new, and is created without first being looked for in
// both name levels. With a topic per customer most groups bring hundreds of
// new names, and those lookups that could find nothing were a twentieth of
// the writer's time at 100,000 topics. Past the bound the set is dropped
// (nil) and every name not cached is looked up, as before.
//
// Topic ids only grow (topics are never deleted), so the set catches up
// by reading the names above the largest id it holds (stale): all of them
// at the first group after Open, then what another process wrote or a
// commit whose outcome is not known may have added. Were it wrong all the
// same, the trigger topic_named refuses a name that exists, and the group
// fails rather than store a second topic of a name.
type allNames struct {
	names map[string]struct{} // nil: not kept
	upTo  int64               // the largest topic id in names
	bound int
	stale bool // names above upTo may exist
}

// catchUp adds the names above upTo, or drops the set past the bound.
func (a *allNames) catchUp(ctx context.Context, tx *sql.Tx) error {
	if a.names == nil {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM topics WHERE id > ? ORDER BY id LIMIT ?`, a.upTo, a.bound-len(a.names)+1)
	if err != nil {
		return fmt.Errorf("read topic names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("read topic names: %w", err)
		}
		a.add(name, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read topic names: %w", err)
	}
	a.stale = false
	return nil
}

// add records a name stored under id, or drops the set past the bound.
func (a *allNames) add(name string, id int64) {
	if a.names == nil {
		return
	}
	if len(a.names) >= a.bound {
		a.names = nil
		return
	}
	a.names[name] = struct{}{}
	a.upTo = max(a.upTo, id)
}

// isNew reports whether name is certainly not stored.
func (a *allNames) isNew(name string) bool {
	if a.names == nil || a.stale {
		return false
	}
	_, ok := a.names[name]
	return !ok
}

// drop stops keeping the set: every name not cached is looked up.
func (a *allNames) drop() { a.names = nil }
