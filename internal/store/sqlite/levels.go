package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// directEvents is how many events a topic must have in a group for its
// in-order ones to go straight into seq_in: they share the topic's last
// page there, and the recent level would write each row twice more (into
// it, and out of it at the merge). With many topics a group brings one or
// two events to each, which go into the recent level, unless the group
// created the topic: a new topic has the largest id yet, so its rows go at
// the end of seq_in, onto the same last page or two as every other new
// topic's of the group. With a topic per customer that is half the rows.
const directEvents = 4

// seqRows is how many rows one statement inserts into a seq level.
const seqRows = 128

// DefaultLevelRows is how many rows the recent levels of the topic names
// and of the in-order events (migration 006) hold before they are merged
// into the large ones. A group touches at most all the recent levels'
// pages (some 60 of them at this size) and a merge at most one page of
// the large levels per row: the larger the recent levels, the more rows a
// merge brings to each page, and the more pages each group touches.
const DefaultLevelRows = 1 << 14

// The recent levels' state is the writer's, under Store.writeMu.
type levels struct {
	rows  int // rows in the recent levels, as counted by the writer
	limit int // merge when rows reaches it
}

// countLevels reads, at Open, how many rows the recent levels hold.
func (s *Store) countLevels(ctx context.Context) error {
	err := s.w.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM seq_in_recent) + (SELECT count(*) FROM topic_names_recent)
		+ (SELECT count(*) FROM topic_counts_recent)`).Scan(&s.levels.rows)
	if err != nil {
		return fmt.Errorf("count recent levels: %w", err)
	}
	return nil
}

// levelChunk is how many rows one transaction of a merge moves, so that
// a group waits for a merge no longer than for a large group of its own
// (at a million topics each row is a page of a large level).
const levelChunk = 2048

// level is a recent table, its key, and move: the statement that adds the
// rows of the recent table that the condition %s selects to the large
// level (a table of the same columns, or for the topics' counts the
// topics' own columns).
type level struct {
	recent string
	key    []string
	move   string
}

var mergedLevels = []level{
	{"seq_in_recent", []string{"topic_id", "seq"}, `INSERT INTO seq_in SELECT * FROM seq_in_recent WHERE %s`},
	{"topic_names_recent", []string{"name"}, `INSERT INTO topic_names SELECT * FROM topic_names_recent WHERE %s`},
	// Driven by the recent rows, a probe of topics each (written as
	// UPDATE … FROM, SQLite read every topic in the chunk's id range).
	{"topic_counts_recent", []string{"topic_id"}, `UPDATE topics SET
		duplicates = duplicates + (SELECT r.duplicates FROM topic_counts_recent r WHERE r.topic_id = topics.id),
		conflicts = conflicts + (SELECT r.conflicts FROM topic_counts_recent r WHERE r.topic_id = topics.id)
		WHERE id IN (SELECT topic_id FROM topic_counts_recent WHERE %s)`},
}

// mergeLevels moves the recent levels into the large ones once they hold
// limit rows (or now, if force), in key order, levelChunk rows a
// transaction, so that each page of a large level is written once for all
// its new rows in a chunk. The rows the writer adds meanwhile behind a
// chunk wait for the next merge. A row already in a large level would be a
// bug (a topic created twice, a seq given twice): the plain INSERT then
// fails the merge rather than hide it; so does a count whose topic has no
// row.
func (s *Store) mergeLevels(ctx context.Context, force bool) error {
	s.writeMu.Lock()
	due := s.levels.rows >= s.levels.limit
	s.writeMu.Unlock()
	if !due && !force {
		return nil
	}
	for _, l := range mergedLevels {
		var after []any // the last key moved; nil before the first chunk
		for {
			s.writeMu.Lock()
			next, moved, err := s.mergeChunkOf(ctx, l, after)
			s.levels.rows = max(0, s.levels.rows-moved)
			s.writeMu.Unlock()
			if err != nil {
				return fmt.Errorf("merge %s: %w", l.recent, err)
			}
			if next == nil {
				break
			}
			after = next
		}
	}
	return nil
}

// mergeChunkOf moves the next levelChunk rows of l above the key after
// (all, if nil) in one transaction, and returns the last key it moved, or
// nil if it moved the last of them.
func (s *Store) mergeChunkOf(ctx context.Context, l level, after []any) ([]any, int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	key := "(" + strings.Join(l.key, ", ") + ")"
	marks := "(?" + strings.Repeat(", ?", len(l.key)-1) + ")"
	where, args := "true", []any{}
	if after != nil {
		where, args = key+" > "+marks, after
	}
	// The chunk's last key, unless fewer rows are left.
	last := make([]any, len(l.key))
	ptrs := make([]any, len(last))
	for i := range last {
		ptrs[i] = &last[i]
	}
	err = tx.QueryRowContext(ctx, `SELECT `+strings.Join(l.key, ", ")+` FROM `+l.recent+` WHERE `+where+
		` ORDER BY `+strings.Join(l.key, ", ")+` LIMIT 1 OFFSET ?`, append(args, levelChunk-1)...).Scan(ptrs...)
	switch {
	case err == sql.ErrNoRows:
		last = nil
	case err != nil:
		return nil, 0, err
	default:
		where += " AND " + key + " <= " + marks
		args = append(args, last...)
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf(l.move, where), args...)
	if err != nil {
		return nil, 0, err
	}
	applied, err := res.RowsAffected()
	if err != nil {
		return nil, 0, err
	}
	if res, err = tx.ExecContext(ctx, `DELETE FROM `+l.recent+` WHERE `+where, args...); err != nil {
		return nil, 0, err
	}
	moved, err := res.RowsAffected()
	if err != nil {
		return nil, 0, err
	}
	if applied != moved {
		return nil, 0, fmt.Errorf("%d of %d rows applied", applied, moved)
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, err
	}
	return last, int(moved), nil
}

// topicID is a subquery for the id of the topic named by the SQL
// expression name, or NULL: a probe of each name level.
func topicID(name string) string {
	return `(SELECT id FROM topic_names WHERE name = ` + name + ` UNION ALL SELECT id FROM topic_names_recent WHERE name = ` + name + `)`
}

// inOrderEdge is a subquery for col (seq or id) of the first or last
// in-order event of the topic whose id is the SQL expression t, among
// those that match where (true: all), or NULL: a probe of each level, the
// one of the two with the smaller or larger seq (a topic's rows may be in
// either level).
func inOrderEdge(col, t, where string, last bool) string {
	dir := ""
	if last {
		dir = " DESC"
	}
	arm := func(table string) string {
		return `SELECT * FROM (SELECT seq AS k, ` + col + ` AS v FROM ` + table + ` WHERE topic_id = ` + t + ` AND ` + where +
			` ORDER BY seq` + dir + ` LIMIT 1)`
	}
	return `(SELECT v FROM (` + arm("seq_in") + ` UNION ALL ` + arm("seq_in_recent") + `) ORDER BY k` + dir + ` LIMIT 1)`
}

// inOrderAt is a subquery for col of the events row at the in-order edge
// of topic t (see inOrderEdge), or NULL.
func inOrderAt(col, t string, last bool) string {
	return `(SELECT ` + col + ` FROM events WHERE id = ` + inOrderEdge("id", t, "true", last) + `)`
}

// inOrderArm lists, as rows of eventColumns and in_order, topic ?1's
// in-order events with a seq above ?2 from one level, the first ?3 by seq.
func inOrderArm(level string) string {
	return `SELECT * FROM (SELECT ` + eventColumns + `, e.in_order
		FROM (SELECT id FROM ` + level + ` WHERE topic_id = ` + topicID("?1") + ` AND seq > ?2 ORDER BY seq LIMIT ?3) s
		JOIN events e ON e.id = s.id JOIN topics t ON t.id = e.topic_id)`
}

// inOrderArms is both levels' arms: together they hold topic ?1's first
// ?3 in-order events after seq ?2, in some order, and maybe more.
var inOrderArms = inOrderArm("seq_in") + ` UNION ALL ` + inOrderArm("seq_in_recent")

// largest is a subquery for the largest col (seq, ts or clock) of the
// events of the topic whose id is the SQL expression t, or NULL: the last
// in-order event's (along seq the in-order events rise in all three), or
// the late ones' largest.
func largest(col, t string) string {
	inOrder := inOrderAt(col, t, true)
	if col == "seq" {
		inOrder = inOrderEdge("seq", t, "true", true) // no need of the row
	}
	return maxOf(inOrder, `(SELECT max(`+col+`) FROM events WHERE topic_id = `+t+` AND in_order = 0)`)
}

// maxOf and minOf are subqueries for the largest and smallest of two SQL
// expressions, ignoring NULLs (SQLite's two-argument max is NULL if
// either is).
func maxOf(a, b string) string {
	return `(SELECT max(x) FROM (SELECT ` + a + ` AS x UNION ALL SELECT ` + b + `))`
}

func minOf(a, b string) string {
	return `(SELECT min(x) FROM (SELECT ` + a + ` AS x UNION ALL SELECT ` + b + `))`
}
