package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/eventagg/eventagg"
)

// Events implements eventagg.Store. Reads go to the read-only pool, so they
// never wait for the writer (WAL gives each read a consistent snapshot).
func (s *Store) Events(ctx context.Context, q eventagg.EventQuery) (eventagg.EventPage, error) {
	page, err := s.events(ctx, q)
	return page, interpretError(err)
}

const eventColumns = `e.id, t.name, e.seq, e.event_id, e.ts, e.received_at, e.source, e.payload, e.clock`

func (s *Store) events(ctx context.Context, q eventagg.EventQuery) (eventagg.EventPage, error) {
	global := q.Topic == ""
	if err := q.After.Check(q.Order, global); err != nil {
		return eventagg.EventPage{}, err
	}
	var rows *sql.Rows
	var err error
	// One row more than asked tells whether there is a next page.
	limit := q.Limit + 1
	switch {
	case global && q.Order == eventagg.ByArrival:
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+`, e.in_order
			FROM events e JOIN topics t ON t.id = e.topic_id
			WHERE e.id > ? ORDER BY e.id LIMIT ?`, q.After.Pos, limit)
	case global:
		return eventagg.EventPage{}, eventagg.Errorf(eventagg.EINVALID, "order: %s order needs a topic", q.Order)
	case q.Order == eventagg.ByArrival:
		rows, err = s.r.QueryContext(ctx, topicArrivalSQL, q.Topic, q.After.Pos, limit)
	case q.Order == eventagg.ByCausal:
		return s.mergedEvents(ctx, q, "clock")
	default:
		return s.mergedEvents(ctx, q, "ts")
	}
	if err != nil {
		return eventagg.EventPage{}, fmt.Errorf("list events: %w", err)
	}
	page, err := readPage(q, rows)
	if err != nil {
		return page, err
	}
	page.Skipped, err = s.skipped(ctx, q)
	if page.Skipped > 0 && len(page.Events) == 0 {
		// Past them, so that a tailing reader does not skip them again
		// at every poll: ids below expired_upto, and a topic's seqs
		// below its expired_seq, are gap-free.
		page.Last = eventagg.Cursor{Order: eventagg.ByArrival, Global: q.Topic == "", Pos: q.After.Pos + page.Skipped}
	}
	return page, err
}

// readPage reads a page from rows and closes them.
func readPage(q eventagg.EventQuery, rows *sql.Rows) (eventagg.EventPage, error) {
	defer rows.Close()
	page, err := eventagg.ReadPage(q, rows)
	if err != nil {
		return eventagg.EventPage{}, err
	}
	return page, rows.Err()
}

// lateArm selects, ordered and limited (?3), the late events of topic ?1
// that match where: one range of one of migration 005's partial indexes.
func lateArm(where, order string) string {
	return `SELECT * FROM (SELECT ` + eventColumns + `, e.in_order FROM topics t JOIN events e ON e.topic_id = t.id
		WHERE t.id = ` + topicID("?1") + ` AND e.in_order = 0 AND ` + where + ` ORDER BY ` + order + ` LIMIT ?3)`
}

// topicArrivalSQL lists topic ?1 after seq ?2, ?3 events: in-order
// (both levels, migration 006) and late events merged by seq.
var topicArrivalSQL = inOrderArms + ` UNION ALL ` + lateArm(`e.seq > ?2`, `e.seq`) + ` ORDER BY seq LIMIT ?3`

// mergedSQL lists topic ?1 by key (ts or clock), ?3 events: in-order
// events after seq ?2 (the cursor's Mark), late ones after (?4, ?5).
func mergedSQL(key string) string {
	return inOrderArms + ` UNION ALL ` + lateArm(`(e.`+key+`, e.seq) > (?4, ?5)`, `e.`+key+`, e.seq`) +
		` ORDER BY ` + key + `, seq LIMIT ?3`
}

// mergedEvents lists a topic by time or clock (key): the in-order events,
// which seq_in and seq_in_recent list already sorted by key, merged with the late
// ones from events_time_late or events_clock_late. The cursor's Mark says
// how far along seq the in-order events have been listed: all those up to
// it come before the cursor, all those above after it.
func (s *Store) mergedEvents(ctx context.Context, q eventagg.EventQuery, key string) (eventagg.EventPage, error) {
	rows, err := s.r.QueryContext(ctx, mergedSQL(key), q.Topic, q.After.Mark, q.Limit+1, q.StartKey(), q.After.Pos)
	if err != nil {
		return eventagg.EventPage{}, fmt.Errorf("list events: %w", err)
	}
	return readPage(q, rows)
}

// skipped counts the expired events between an arrival-order cursor and
// the first retained event: the ids (global) and each topic's seqs below
// the expired prefix's end are exactly the expired ones.
func (s *Store) skipped(ctx context.Context, q eventagg.EventQuery) (int64, error) {
	if q.Order != eventagg.ByArrival {
		return 0, nil
	}
	var end int64
	var err error
	if q.Topic == "" {
		err = s.r.QueryRowContext(ctx, `SELECT expired_upto FROM counters WHERE id = 1`).Scan(&end)
	} else {
		err = s.r.QueryRowContext(ctx, `SELECT COALESCE((SELECT expired_seq FROM topics WHERE id = `+topicID("?1")+`), 0)`, q.Topic).Scan(&end)
	}
	if err != nil {
		return 0, fmt.Errorf("read expired: %w", err)
	}
	return max(0, end-q.After.Pos), nil
}

// End implements eventagg.Store: one probe of the primary key, or of the
// topic's seq index.
func (s *Store) End(ctx context.Context, topic string) (eventagg.Cursor, error) {
	if topic == "" {
		var id int64
		if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM events`).Scan(&id); err != nil {
			return eventagg.Cursor{}, interpretError(fmt.Errorf("read the end: %w", err))
		}
		return eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: id}, nil
	}
	t, err := s.Topic(ctx, topic)
	if eventagg.ErrorCode(err) == eventagg.ENOTFOUND {
		err = nil // no events yet: the end is the start
	}
	return eventagg.Cursor{Order: eventagg.ByArrival, Pos: t.LastSeq}, err
}

// Stats implements eventagg.Store: one row, whatever the number of topics.
func (s *Store) Stats(ctx context.Context) (eventagg.Stats, error) {
	var st eventagg.Stats
	err := s.r.QueryRowContext(ctx,
		`SELECT received, stored, processed, duplicates, conflicts, rejected, topics, expired FROM counters WHERE id = 1`).
		Scan(&st.Received, &st.Stored, &st.Processed, &st.Duplicates, &st.Conflicts, &st.Rejected, &st.TopicCount, &st.Expired)
	if err != nil {
		return st, interpretError(fmt.Errorf("read counters: %w", err))
	}
	return st, nil
}

// topicColumns reads a topic's (t's) counters: its duplicates and
// conflicts, in its row and its recent counts (migration 007), and from the
// events' indexes, each an index probe or two (in-order events, in either
// level, and late ones): the last seq; the seq of the last event the consumer has passed
// (seq rises with id within a topic, so it is the seq of the last one at or
// below the offset, c.consumer_offset); the first time (the first in-order
// event's, or the earliest late one's) and the last (the last in-order
// event's, or the latest late one's: an in-order event's time is at least
// every earlier event's). Retention removes a prefix of each topic's
// events, all of them applied, so both seqs are at least the topic's
// expired_seq.
var topicColumns = `t.name, t.duplicates + COALESCE((SELECT duplicates FROM topic_counts_recent WHERE topic_id = t.id), 0),
	t.conflicts + COALESCE((SELECT conflicts FROM topic_counts_recent WHERE topic_id = t.id), 0),
	max(t.expired_seq, COALESCE(` + largest("seq", "t.id") + `, 0)),
	max(t.expired_seq, COALESCE(` + maxOf(inOrderEdge("seq", "t.id", "id <= c.consumer_offset", true),
	`(SELECT seq FROM events WHERE topic_id = t.id AND in_order = 0 AND id <= c.consumer_offset ORDER BY seq DESC LIMIT 1)`) + `, 0)),
	` + minOf(inOrderAt("ts", "t.id", false), `(SELECT min(ts) FROM events WHERE topic_id = t.id AND in_order = 0)`) + `,
	` + largest("ts", "t.id")

// namesAfter lists, from one name level, the first ?3 names above ?1 and
// at least ?2 (the prefix), with their ids.
func namesAfter(level string) string {
	return `SELECT * FROM (SELECT name, id FROM ` + level + ` WHERE name > ?1 AND name >= ?2 ORDER BY name LIMIT ?3)`
}

// topicsSQL lists the first ?3 topics by name after ?1 from prefix ?2 on,
// with their counters: a range of each name level.
var topicsSQL = `SELECT ` + topicColumns + ` FROM (` + namesAfter("topic_names") + ` UNION ALL ` + namesAfter("topic_names_recent") + `) n
	JOIN topics t ON t.id = n.id, counters c WHERE c.id = 1 ORDER BY t.name LIMIT ?3`

// topicSQL reads the counters of topic ?1.
var topicSQL = `SELECT ` + topicColumns + ` FROM topics t, counters c WHERE c.id = 1 AND t.id = ` + topicID("?1")

// Topics implements eventagg.Store: a range of each name level.
func (s *Store) Topics(ctx context.Context, q eventagg.TopicQuery) ([]eventagg.TopicStats, error) {
	// Names compare as bytes (BINARY), like Go strings, so the names with
	// the prefix start at the prefix and the scan stops at the first that
	// lacks it.
	rows, err := s.r.QueryContext(ctx, topicsSQL, q.After, q.Prefix, q.Limit)
	if err != nil {
		return nil, interpretError(fmt.Errorf("list topics: %w", err))
	}
	defer rows.Close()
	var out []eventagg.TopicStats
	for rows.Next() {
		t, err := scanTopic(rows)
		if err != nil {
			return nil, interpretError(err)
		}
		if !q.Matches(t.Topic) {
			break // past the prefix
		}
		out = append(out, t)
	}
	return out, interpretError(rows.Err())
}

// Topic implements eventagg.Store.
func (s *Store) Topic(ctx context.Context, name string) (eventagg.TopicStats, error) {
	t, err := scanTopic(s.r.QueryRowContext(ctx, topicSQL, name))
	if err == sql.ErrNoRows {
		return t, eventagg.Errorf(eventagg.ENOTFOUND, "topic %s: not found", eventagg.Quote(name))
	}
	return t, interpretError(err)
}

func scanTopic(row interface{ Scan(...any) error }) (eventagg.TopicStats, error) {
	var t eventagg.TopicStats
	var first, last sql.NullInt64
	if err := row.Scan(&t.Topic, &t.Duplicates, &t.Conflicts, &t.LastSeq, &t.Processed, &first, &last); err != nil {
		return t, err
	}
	t.Received = t.LastSeq + t.Duplicates + t.Conflicts
	if first.Valid {
		t.FirstTime, t.LastTime = fromMicros(first.Int64), fromMicros(last.Int64)
	}
	return t, nil
}
