// Package eventagg is the domain of the event aggregator: events and their
// validation, the verdicts a publish gets, cursors, the Store interface and
// the one error type. It imports no database or HTTP code.
package eventagg

import (
	"encoding/json"
	"time"
)

// Event is a validated event, ready to store. Timestamp is UTC with at most
// microsecond precision, the precision every store keeps.
type Event struct {
	Topic     string          `json:"topic"`
	EventID   string          `json:"event_id"`
	Timestamp time.Time       `json:"timestamp"`
	Source    string          `json:"source"`
	Payload   json.RawMessage `json:"payload"`
}

// StoredEvent is an event as the store returns it: with its per-topic
// sequence number and the time the service committed it.
type StoredEvent struct {
	Event
	Seq        int64     `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	// Position is the event's place in the store's all-topics order; the
	// cursors of that listing are made from it.
	Position int64 `json:"-"`
}

// Input is an event as a publisher sent it, before validation. Timestamp is
// kept as text because publishers send several ISO 8601 shapes that
// time.Time's own decoder refuses (for instance no zone).
type Input struct {
	Topic     string          `json:"topic"`
	EventID   string          `json:"event_id"`
	Timestamp string          `json:"timestamp"`
	Source    string          `json:"source"`
	Payload   json.RawMessage `json:"payload"`
}

// Status is the verdict on one published event.
type Status string

const (
	Accepted  Status = "accepted"  // stored now, with a new seq
	Duplicate Status = "duplicate" // (topic, event_id) was stored before; seq is the original's
	Rejected  Status = "rejected"  // invalid; nothing stored
)

// Appended is what the store reports for one event of an append: the seq it
// has in its topic, and whether it was already there. A store that knows
// them at once also gives a new event's all-topics position and commit
// time (else they are zero), so a reader of recent commits need not read
// them back.
type Appended struct {
	Seq        int64
	Duplicate  bool
	Position   int64
	ReceivedAt time.Time
}
