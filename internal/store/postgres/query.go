package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/jackc/pgx/v5"
)

// eventColumns are what eventagg.ReadPage reads. Every event counts as in
// order: this store indexes all of them by time and clock, and its cursors
// need no Mark (see the SQLite store's migration 005).
const eventColumns = `e.id, t.name, e.seq, e.event_id, e.ts, e.received_at, e.source, e.payload, e.clock, true`

// Events implements eventagg.Store. The all-topics listing is in id order:
// allocation order, which across replicas is close to but not exactly commit
// order; per topic, seq order is exact.
func (s *Store) Events(ctx context.Context, q eventagg.EventQuery) (eventagg.EventPage, error) {
	global := q.Topic == ""
	if err := q.After.Check(q.Order, global); err != nil {
		return eventagg.EventPage{}, err
	}
	limit := q.Limit + 1 // one more tells whether there is a next page
	var rows pgx.Rows
	var err error
	// Expired events keep their rows (migration 003): the listings start
	// after each topic's expired seqs, and the all-topics one at the
	// horizon, below which every event has expired.
	switch {
	case global && q.Order == eventagg.ByArrival:
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events e JOIN topics t ON t.id = e.topic_id
			WHERE e.id > GREATEST($1, (`+horizon+`))
			  AND e.seq > COALESCE((SELECT x.expired_seq FROM topic_expiry x WHERE x.topic_id = e.topic_id), 0)
			ORDER BY e.id LIMIT $2`, q.After.Pos, limit)
	case global:
		return eventagg.EventPage{}, eventagg.Errorf(eventagg.EINVALID, "order: %s order needs a topic", q.Order)
	case q.Order == eventagg.ByArrival:
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM topics t LEFT JOIN topic_expiry x ON x.topic_id = t.id
			JOIN events e ON e.topic_id = t.id
			WHERE t.name = $1 AND e.seq > GREATEST($2, COALESCE(x.expired_seq, 0)) ORDER BY e.seq LIMIT $3`, q.Topic, q.After.Pos, limit)
	case q.Order == eventagg.ByCausal:
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM topics t LEFT JOIN topic_expiry x ON x.topic_id = t.id
			JOIN events e ON e.topic_id = t.id
			WHERE t.name = $1 AND (e.clock, e.seq) > ($2, $3) AND e.seq > COALESCE(x.expired_seq, 0) ORDER BY e.clock, e.seq LIMIT $4`,
			q.Topic, q.StartKey(), q.After.Pos, limit)
	default:
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM topics t LEFT JOIN topic_expiry x ON x.topic_id = t.id
			JOIN events e ON e.topic_id = t.id
			WHERE t.name = $1 AND (e.ts, e.seq) > ($2, $3) AND e.seq > COALESCE(x.expired_seq, 0) ORDER BY e.ts, e.seq LIMIT $4`,
			q.Topic, q.StartKey(), q.After.Pos, limit)
	}
	if err != nil {
		return eventagg.EventPage{}, interpretError(fmt.Errorf("list events: %w", err))
	}
	page, err := eventagg.ReadPage(q, rows)
	rows.Close() // before the queries below, which need a connection of their own
	if err == nil {
		err = rows.Err()
	}
	if err == nil && q.Order == eventagg.ByArrival {
		err = s.skipped(ctx, q, &page)
	}
	if err == nil {
		// Groups commit before their WAL flush (see append): show
		// nothing that a crash could still take back.
		err = s.durable(ctx)
	}
	if err != nil {
		return eventagg.EventPage{}, interpretError(err)
	}
	return page, nil
}

// horizon is an id at and below which every event has expired: the lowest
// of the buckets' last expired ids, over the buckets that hold events. It
// is exact because, within a bucket, ids rise with pos and expiry takes a
// prefix of positions. PostgreSQL computes it once a statement.
const horizon = `SELECT COALESCE(min(x.expired_id), 0) FROM bucket_expiry x JOIN buckets b ON b.id = x.bucket WHERE b.last_pos > 0`

// skipped counts the expired events between an arrival-order cursor and
// the page, and moves an empty page's Last past them, so that a tailing
// reader does not skip them again at every poll. Per topic they are the
// seqs up to its expired seq; across topics, every row between the cursor
// and the page's first event is an expired one (any other would have been
// listed first), so it is a count of a range of the primary key, as long as
// what it skips.
func (s *Store) skipped(ctx context.Context, q eventagg.EventQuery, page *eventagg.EventPage) error {
	if len(page.Events) > 0 && (q.Topic == "" && page.Events[0].Position == q.After.Pos+1 || q.Topic != "" && page.Events[0].Seq == q.After.Pos+1) {
		return nil // the page starts right after the cursor: nothing between
	}
	var n, last int64
	var err error
	if q.Topic != "" {
		err = s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT x.expired_seq FROM topics t JOIN topic_expiry x ON x.topic_id = t.id
			WHERE t.name = $1), 0)`, q.Topic).Scan(&last)
		n = max(0, last-q.After.Pos)
	} else {
		end := int64(math.MaxInt64)
		if len(page.Events) > 0 {
			end = page.Events[0].Position
		}
		err = s.pool.QueryRow(ctx, `SELECT count(*), COALESCE(max(id), 0) FROM events WHERE id > $1 AND id < $2`, q.After.Pos, end).Scan(&n, &last)
	}
	if err != nil {
		return fmt.Errorf("count expired: %w", err)
	}
	page.Skipped = n
	if n > 0 && len(page.Events) == 0 {
		page.Last = eventagg.Cursor{Order: eventagg.ByArrival, Global: q.Topic == "", Pos: last}
	}
	return nil
}

// End implements eventagg.Store: one probe of the primary key, or of the
// topic's seq index. Across replicas the all-topics end is the largest id
// allocated and committed; a group still in flight with a smaller id lands
// before it (see Events).
func (s *Store) End(ctx context.Context, topic string) (eventagg.Cursor, error) {
	var pos int64
	var err error
	if topic == "" {
		err = s.pool.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM events`).Scan(&pos)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT max(e.seq) FROM topics t JOIN events e ON e.topic_id = t.id WHERE t.name = $1), 0)`, topic).Scan(&pos)
	}
	if err == nil {
		err = s.durable(ctx) // as in Events
	}
	if err != nil {
		return eventagg.Cursor{}, interpretError(fmt.Errorf("read the end: %w", err))
	}
	return eventagg.Cursor{Order: eventagg.ByArrival, Global: topic == "", Pos: pos}, nil
}

// Stats implements eventagg.Store: the summed counter shards, one snapshot.
func (s *Store) Stats(ctx context.Context) (eventagg.Stats, error) {
	var st eventagg.Stats
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(received), 0), COALESCE(SUM(stored), 0), COALESCE(SUM(processed), 0),
		COALESCE(SUM(duplicates), 0), COALESCE(SUM(conflicts), 0), COALESCE(SUM(rejected), 0), COALESCE(SUM(topics), 0),
		(SELECT COALESCE(SUM(expired), 0) FROM bucket_expiry) FROM counters`).
		Scan(&st.Received, &st.Stored, &st.Processed, &st.Duplicates, &st.Conflicts, &st.Rejected, &st.TopicCount, &st.Expired)
	if err != nil {
		err = fmt.Errorf("read counters: %w", err)
	} else {
		err = s.durable(ctx) // as in Events
	}
	return st, interpretError(err)
}

// topicColumns read a topic's counters from the indexes: its last seq from
// events_seq, its events at or below its bucket's offset (seq rises with pos
// within a topic, so that is the seq of the last one) from the same index,
// and its first and last time from events_time; received is last seq plus
// duplicates and conflicts. Only topics that hold events are listed.
const topicColumns = `SELECT t.name, t.duplicates, t.conflicts, m.last_seq, COALESCE(p.seq, 0), tt.first, tt.last
	FROM topics t
	CROSS JOIN LATERAL (SELECT max(seq) AS last_seq FROM events WHERE topic_id = t.id) AS m
	JOIN bucket_offsets o ON o.bucket = t.id % ` + bucketsSQL + `
	LEFT JOIN LATERAL (SELECT seq FROM events WHERE topic_id = t.id AND pos <= o.processed_pos ORDER BY seq DESC LIMIT 1) AS p ON true
	CROSS JOIN LATERAL (SELECT min(ts) AS first, max(ts) AS last FROM events WHERE topic_id = t.id) AS tt
	WHERE m.last_seq IS NOT NULL`

// Topics implements eventagg.Store: a range of the names' UNIQUE index, in
// byte order (COLLATE "C", migration 006) like Go's string comparison (and
// so like TopicQuery.Matches), whatever the database's collation.
func (s *Store) Topics(ctx context.Context, q eventagg.TopicQuery) ([]eventagg.TopicStats, error) {
	rows, err := s.pool.Query(ctx, topicColumns+` AND t.name > $1 AND t.name >= $2
		ORDER BY t.name LIMIT $3`, q.After, q.Prefix, q.Limit)
	if err != nil {
		return nil, interpretError(fmt.Errorf("list topics: %w", err))
	}
	var out []eventagg.TopicStats
	for rows.Next() {
		t, err := scanTopic(rows)
		if err != nil {
			rows.Close()
			return nil, interpretError(err)
		}
		if !q.Matches(t.Topic) {
			break // past the prefix
		}
		out = append(out, t)
	}
	rows.Close()
	if err = rows.Err(); err == nil {
		err = s.durable(ctx)
	}
	return out, interpretError(err)
}

// Topic implements eventagg.Store.
func (s *Store) Topic(ctx context.Context, name string) (eventagg.TopicStats, error) {
	t, err := scanTopic(s.pool.QueryRow(ctx, topicColumns+` AND t.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, eventagg.Errorf(eventagg.ENOTFOUND, "topic %s: not found", eventagg.Quote(name))
	}
	if err == nil {
		err = s.durable(ctx)
	}
	return t, interpretError(err)
}

func scanTopic(row pgx.Row) (eventagg.TopicStats, error) {
	var t eventagg.TopicStats
	var first, last *int64
	if err := row.Scan(&t.Topic, &t.Duplicates, &t.Conflicts, &t.LastSeq, &t.Processed, &first, &last); err != nil {
		return t, err
	}
	t.Received = t.LastSeq + t.Duplicates + t.Conflicts
	if first != nil && last != nil {
		t.FirstTime, t.LastTime = fromMicros(*first), fromMicros(*last)
	}
	return t, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
