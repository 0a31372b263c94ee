package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestTopicQueriesUseIndexRanges checks the plan SQLite makes for every
// query the store runs by topic: each reads ranges of migration 005's
// partial indexes and of migration 006's levels, or rows by id, never a
// table from one end (a query that does not name a partial index's
// condition, in_order = 0 or 1, cannot use it, and a listing of a topic
// whose events mostly arrived late would then read them all for every
// page; a join the planner turned around would read every name).
func TestTopicQueriesUseIndexRanges(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "plans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"load topics":     {loadTopicsSQL, []any{`["a"]`}},
		"topic stats":     {topicSQL, []any{"a"}},
		"topics listing":  {topicsSQL, []any{"a", "", 10}},
		"arrival listing": {topicArrivalSQL, []any{"a", 0, 10}},
		"time listing":    {mergedSQL("ts"), []any{"a", 0, 10, 0, 0}},
		"causal listing":  {mergedSQL("clock"), []any{"a", 0, 10, 0, 0}},
	} {
		plan := queryPlan(t, s, q.sql, q.args...)
		for _, detail := range plan {
			if !probes(detail) {
				t.Errorf("%s reads a table without a range of a key: %q", name, detail)
			}
		}
		if name != "topics listing" && !strings.Contains(strings.Join(plan, "\n"), "_late") {
			t.Errorf("%s uses no late index:\n%s", name, strings.Join(plan, "\n"))
		}
	}
}

// TestCountMergeProbesTopics: the merge of the recent topic counts
// (migration 007) reads each topic it adds to by its id, never the topics
// in between: a chunk's ids span the whole table when there are many.
func TestCountMergeProbesTopics(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "plans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mergedLevels[len(mergedLevels)-1]
	plan := queryPlan(t, s, fmt.Sprintf(l.move, "topic_id > ? AND topic_id <= ?"), 1, 100)
	if p := strings.Join(plan, "\n"); l.recent != "topic_counts_recent" || !strings.Contains(p, "SEARCH topics USING INTEGER PRIMARY KEY (rowid=?)") {
		t.Errorf("the merge of %s reads topics otherwise than by id:\n%s", l.recent, p)
	}
}

// queryPlan returns the lines of SQLite's plan for query.
func queryPlan(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.r.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// probes says whether a line of a query plan reads a table by a range of a
// key: a topic's, a name's or an id. Scans are allowed only of json_each
// (a statement's argument, j), of the one row of counters and of
// subqueries' own rows (s is inOrderArm's).
func probes(detail string) bool {
	f := strings.Fields(detail)
	switch {
	case len(f) < 2:
		return true
	case f[0] == "SCAN":
		return f[1] == "j" || f[1] == "json_each" || f[1] == "c" || f[1] == "counters" || strings.HasPrefix(f[1], "(subquery") ||
			f[1] == "CONSTANT" || f[1] == "s"
	case f[0] == "SEARCH" && strings.HasPrefix(f[1], "(subquery"):
		return true
	case f[0] == "SEARCH":
		return strings.Contains(detail, "(topic_id=?") || strings.Contains(detail, "(name=?") || strings.Contains(detail, "(name>?") ||
			strings.Contains(detail, "(rowid=?)")
	}
	return true
}
