package sqlite

import (
	"context"
	"database/sql"
	"strings"
)

// rowInsert inserts rows of a few values each with two prepared statements:
// one of many rows at once, and one of a single row for the rest. One
// statement of many rows costs far less a row than a statement each, or
// than json_each, which parses and extracts every value.
type rowInsert struct {
	many, one   *sql.Stmt
	rows, width int // rows in many, values in a row
}

// prepareRows prepares verb (INSERT, INSERT OR IGNORE) into table's cols,
// rows rows at once and one.
func (s *Store) prepareRows(ctx context.Context, verb, table string, cols []string, rows int) (rowInsert, error) {
	r := rowInsert{rows: rows, width: len(cols)}
	row := "(?" + strings.Repeat(", ?", len(cols)-1) + ")"
	head := verb + " INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " + row
	var err error
	if r.many, err = s.w.PrepareContext(ctx, head+strings.Repeat(", "+row, rows-1)); err != nil {
		return r, err
	}
	r.one, err = s.w.PrepareContext(ctx, head)
	return r, err
}

// exec inserts args, the values of the rows one row after the other, in
// tx, and returns how many rows it inserted.
func (r rowInsert) exec(ctx context.Context, tx *sql.Tx, args []any) (int64, error) {
	many, one := tx.StmtContext(ctx, r.many), tx.StmtContext(ctx, r.one)
	var added int64
	for len(args) > 0 {
		stmt, n := many, r.rows*r.width
		if len(args) < n {
			stmt, n = one, r.width
		}
		res, err := stmt.ExecContext(ctx, args[:n]...)
		if err != nil {
			return added, err
		}
		rows, err := res.RowsAffected()
		if err != nil {
			return added, err
		}
		added += rows
		args = args[n:]
	}
	return added, nil
}
