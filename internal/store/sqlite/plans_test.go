package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestTopicQueriesUseIndexRanges checks the plan SQLite makes for every
// query the store runs by topic: each reads ranges of migration 005's
// partial indexes, never the events table from one end (a query that
// does not name an index's condition, in_order = 0 or 1, cannot use it,
// and a listing of a topic whose events mostly arrived late would then
// read them all for every page).
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
		"topic stats":     {`SELECT ` + topicColumns + ` WHERE c.id = 1 AND t.name = ?`, []any{"a"}},
		"arrival listing": {topicArrivalSQL, []any{"a", 0, 10}},
		"time listing":    {mergedSQL("ts"), []any{"a", 0, 10, 0, 0}},
		"causal listing":  {mergedSQL("clock"), []any{"a", 0, 10, 0, 0}},
	} {
		rows, err := s.r.Query(`EXPLAIN QUERY PLAN `+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notUsed int
			var detail string
			if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
			if f := strings.Fields(detail); len(f) >= 2 && (f[0] == "SCAN" || f[0] == "SEARCH") && (f[1] == "e" || f[1] == "events") &&
				!strings.Contains(detail, "(topic_id=?") {
				t.Errorf("%s reads events without a range of a topic: %q", name, detail)
			}
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), "_late") {
			t.Errorf("%s uses no late index:\n%s", name, strings.Join(plan, "\n"))
		}
	}
}
