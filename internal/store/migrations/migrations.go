// Package migrations reads a store's embedded NNN_name.up.sql files. Each
// store applies them its own way (SQL dialect, locking), but they all refuse
// the same mistakes here.
package migrations

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads dir/*.up.sql from fsys in version order and refuses a
// duplicate, skipped or out-of-order version: a hole would leave some
// databases without a change that others have.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.up.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []Migration
	for i, name := range names {
		base := strings.TrimPrefix(name, dir+"/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.up.sql", base)
		}
		if v != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (no gaps or duplicates)", base, v, i+1)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(body)})
	}
	return ms, nil
}

// Pending returns the migrations after version have, or an error if the
// database is newer than this binary.
func Pending(ms []Migration, have int) ([]Migration, error) {
	if have > len(ms) {
		return nil, fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade eventagg", have, len(ms))
	}
	return ms[have:], nil
}
