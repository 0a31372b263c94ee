package postgres

import (
	"context"
	"strings"
	"testing"
)

// TestTopicQueriesUseIndexRanges checks the plans PostgreSQL makes for the
// queries the store runs by topic, sequential scans disabled so that the
// plan shows what indexes can serve them: each reads migration 005's
// partial indexes, never the events table whole nor a whole topic through
// the dedup key's index (a query that does not name an index's condition,
// in_order or NOT in_order, cannot use it).
func TestTopicQueriesUseIndexRanges(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"topic stats":     {topicColumns + ` AND t.name = $1`, []any{"a"}},
		"topic end":       {topicEndSQL, []any{"a"}},
		"arrival listing": {topicArrivalSQL, []any{"a", 0, 10}},
		"time listing":    {mergedSQL("ts"), []any{"a", 0, 10, 0, 0}},
		"causal listing":  {mergedSQL("clock"), []any{"a", 0, 10, 0, 0}},
	} {
		rows, err := conn.Query(ctx, `EXPLAIN `+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan on events") || strings.Contains(text, "events_topic_id_event_id_key") || !strings.Contains(text, "_late") {
			t.Errorf("%s does not read ranges of the partial indexes:\n%s", name, text)
		}
	}
}
