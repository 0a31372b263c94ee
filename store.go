package eventagg

import (
	"context"
	"strings"
	"time"
)

// Store keeps events durably. Every implementation passes the same
// conformance suite (internal/store/storetest).
type Store interface {
	// Append stores a group of valid events in one transaction: each
	// (topic, event_id) that is new gets the next seq of its topic; one that
	// is already stored, or repeated earlier in the same group, is a
	// duplicate carrying the original's seq, and a conflict too when its
	// content digest differs from the original's (nothing of it is stored).
	// A new event without a clock gets the largest its topic has stored.
	// The counters (received, duplicates, conflicts, rejected) move in the
	// same transaction. When Append
	// returns nil the group is durable. On error nothing of it is stored.
	Append(ctx context.Context, events []Event, rejected int) ([]Appended, error)

	// Process runs the consumer once: it takes up to max stored but
	// unprocessed events in per-topic seq order, applies them to the
	// aggregates and saves its offset in the same transaction, so each event
	// is processed exactly once whatever crashes. It returns how many it
	// processed; 0 means it has caught up.
	Process(ctx context.Context, max int) (int, error)

	// Events returns one page of stored events. An unknown topic gives an
	// empty page, not an error.
	Events(ctx context.Context, q EventQuery) (EventPage, error)

	// End returns the arrival-order cursor after the newest stored event
	// of topic ("" for all topics): a reader that starts there sees only
	// what is committed later. Its cost does not grow with the store.
	End(ctx context.Context, topic string) (Cursor, error)

	// Stats returns the persisted counters and the number of topics, at a
	// cost that does not grow with the number of topics.
	Stats(ctx context.Context) (Stats, error)

	// Topics returns one page of topics with their counters, in name
	// order. Its cost grows with the page, not with the number of topics.
	Topics(ctx context.Context, q TopicQuery) ([]TopicStats, error)

	// Topic returns one topic's counters; an unknown topic is ENOTFOUND.
	Topic(ctx context.Context, name string) (TopicStats, error)

	// Watermark returns a mark of everything committed so far, by any
	// writer; Caught reports whether the consumer (of any replica) has
	// processed everything under a mark. Together they let a reader wait
	// for its own writes to be processed (read-your-writes on /stats).
	Watermark(ctx context.Context) (Watermark, error)
	Caught(ctx context.Context, w Watermark) (bool, error)

	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error

	Close() error
}

// Watermark is a position in the consumer's input, opaque outside the
// store that made it.
type Watermark []int64

// Order in which GET /events lists events.
type Order string

const (
	// ByArrival is commit order (per topic: seq). It is the only order a
	// reader can tail without missing events, because nothing is ever
	// inserted before a position already read.
	ByArrival Order = "arrival"
	// ByTime is event-time order, ties broken by seq. A late event (older
	// timestamp) lands before positions already read.
	ByTime Order = "time"
	// ByCausal is Lamport-clock order, ties broken by seq: an event a
	// publisher sent after it saw another (and so stamped with a larger
	// clock) is listed after it, whatever the wall clocks or the arrival
	// order say. Like ByTime it cannot be tailed: a late event with a small
	// clock lands before positions already read.
	ByCausal Order = "causal"
)

// EventQuery selects a page of events.
type EventQuery struct {
	Topic string // "" means all topics, in global commit order
	Order Order
	After Cursor // zero: from the start
	Limit int
}

// EventPage is one page of events. Next is the cursor to read the next page
// with, zero when there was nothing more at the time of the read. Last is the
// position after the final event returned (or, when the page is empty, the
// query's After, or the end of the expired events it skipped): a tailing
// reader polls with After = Last.
type EventPage struct {
	Events []StoredEvent
	Next   Cursor
	Last   Cursor
	// Skipped counts the events between the query's cursor and this page
	// that retention has expired (arrival order only; 0 otherwise).
	Skipped int64
}

// Stats are the persisted counters. When the service is idle,
// Received == Processed + Duplicates + Conflicts.
type Stats struct {
	Received   int64 // valid events received, duplicates included
	Stored     int64 // unique events stored
	Processed  int64 // unique events the consumer has applied
	Duplicates int64 // duplicates dropped (same key, same content)
	Conflicts  int64 // conflicts refused (same key, other content)
	Rejected   int64 // invalid events refused
	TopicCount int64 // topics that exist
	Expired    int64 // stored events whose contents retention removed (their keys stay)
}

// Expirer is a Store that can expire old events (retention): it removes
// the contents of events committed before a time, oldest first, at most
// limit in one small transaction, and returns how many. Their dedup keys
// and seqs stay, so a retry of an expired event is still a duplicate of
// its seq. Only events the consumer has applied are expired.
type Expirer interface {
	Expire(ctx context.Context, before time.Time, limit int) (int, error)
}

// TopicQuery selects a page of topics: those whose name is after After (""
// is the start) and starts with Prefix, in name order, at most Limit.
type TopicQuery struct {
	After  string
	Prefix string
	Limit  int
}

// Matches reports whether name belongs in the listing q selects; stores use
// it to stop a scan at the end of the prefix.
func (q TopicQuery) Matches(name string) bool {
	return name > q.After && strings.HasPrefix(name, q.Prefix)
}

// Pending is the number of stored events the consumer has not yet applied.
func (s Stats) Pending() int64 { return s.Stored - s.Processed }

// TopicStats are one topic's counters. Received == LastSeq + Duplicates +
// Conflicts, since seq is gap-free from 1.
type TopicStats struct {
	Topic      string
	Received   int64
	Duplicates int64
	Conflicts  int64
	LastSeq    int64     // last seq assigned: the events stored
	Processed  int64     // events the consumer has applied
	FirstTime  time.Time // earliest and latest event time stored; zero
	LastTime   time.Time // when the topic has no events yet
}

// Ingester takes the valid events of one request (and the count of invalid
// ones, for the counters) and returns only once they are durable.
// internal/pipeline implements it; the HTTP layer depends only on this.
type Ingester interface {
	Ingest(ctx context.Context, events []Event, rejected int) ([]Appended, error)
}

// Rows is what ReadPage reads: database/sql and pgx rows both fit.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
}

// ReadPage builds the page for q from rows holding, in order: position,
// topic, seq, event_id, event time and commit time (µs since the epoch),
// source, payload, clock and whether the event is in order (its time and
// clock at least every earlier event's of its topic; see the SQLite
// store's migration 005). A store asks for q.Limit+1 rows: the extra row only
// tells that there is a next page. In a time or causal listing, which a
// store merges from its in-order events (by seq) and its late ones, the
// cursors' Mark is the seq of the last in-order event listed. Both stores
// share it, so paging behaves the same on each.
func ReadPage(q EventQuery, rows Rows) (EventPage, error) {
	page := EventPage{Events: make([]StoredEvent, 0, min(q.Limit, 1024)), Last: q.After}
	mark := q.After.Mark
	for rows.Next() {
		if len(page.Events) == q.Limit {
			page.Next = page.Last
			break
		}
		var e StoredEvent
		var ts, recv int64
		var payload []byte
		var inOrder bool
		if err := rows.Scan(&e.Position, &e.Topic, &e.Seq, &e.EventID, &ts, &recv, &e.Source, &payload, &e.Clock, &inOrder); err != nil {
			return EventPage{}, err
		}
		e.Timestamp, e.ReceivedAt, e.Payload = time.UnixMicro(ts).UTC(), time.UnixMicro(recv).UTC(), payload
		page.Events = append(page.Events, e)
		page.Last = q.CursorAfter(e)
		if inOrder {
			mark = e.Seq
		}
		if q.Order == ByTime || q.Order == ByCausal {
			page.Last.Mark = mark
		}
	}
	return page, nil
}
