// Package eventagg is the domain of the event aggregator: events and their
// validation, the verdicts a publish gets, cursors, the Store interface and
// the one error type. It imports no database or HTTP code.
package eventagg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"sync"
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
	// Clock is the publisher's Lamport time, when HasClock; a store gives
	// an event sent without one the largest clock its topic has stored, so
	// that it sorts after everything committed before it (order=causal).
	// It is ordering metadata, not content: the digest leaves it out.
	Clock    int64 `json:"clock"`
	HasClock bool  `json:"-"`
	// Digest identifies the content (see ContentDigest); validation sets
	// it, so the single writer does not have to.
	Digest Digest `json:"-"`
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
	Clock     json.RawMessage `json:"clock,omitempty"`
}

// Status is the verdict on one published event.
type Status string

const (
	Accepted  Status = "accepted"  // stored now, with a new seq
	Duplicate Status = "duplicate" // (topic, event_id) was stored before with this content; seq is the original's
	Conflict  Status = "conflict"  // (topic, event_id) was stored before with other content; seq is the original's, nothing stored
	Rejected  Status = "rejected"  // invalid; nothing stored
)

// Appended is what the store reports for one event of an append: the seq it
// has in its topic, and whether it was already there. A store that knows
// them at once also gives a new event's all-topics position and commit
// time (else they are zero), so a reader of recent commits need not read
// them back.
type Appended struct {
	Seq       int64
	Duplicate bool // the key was stored (or earlier in the group): Seq is the original's
	Conflict  bool // a Duplicate whose content differs from the original's
	// Clock is the clock the new event was stored with (its own, or the
	// one the store gave it).
	Clock      int64
	Position   int64
	ReceivedAt time.Time
}

// Status is the verdict an appended event gets.
func (a Appended) Status() Status {
	switch {
	case a.Conflict:
		return Conflict
	case a.Duplicate:
		return Duplicate
	}
	return Accepted
}

// Digest identifies an event's content: the first 64 bits of SHA-256 over
// its timestamp (UTC µs, as stored), its source and its payload in RFC
// 8785 canonical form, so that key order and spacing do not matter. A retry
// has the digest of its original; a different event under a taken key has
// another one except with probability 2^-64. Zero means unknown: events
// whose content expired before digests existed.
type Digest int64

// ContentDigest returns e.Digest, computing it if validation did not.
func (e *Event) ContentDigest() Digest {
	if e.Digest != 0 {
		return e.Digest
	}
	return DigestOf(e.Timestamp, e.Source, e.Payload)
}

var digestBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// DigestOf computes the digest of an event's content. A payload that is not
// canonicalisable (invalid UTF-8 in a string, a number beyond a double's
// range: not I-JSON, though Go's decoder lets them in) is digested as sent.
func DigestOf(ts time.Time, source string, payload []byte) Digest {
	bp := digestBufs.Get().(*[]byte)
	defer digestBufs.Put(bp)
	buf := append((*bp)[:0], "eventagg/v1\x00"...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(ts.UnixMicro()))
	buf = binary.AppendUvarint(buf, uint64(len(source)))
	buf = append(buf, source...)
	if c, err := Canonical(buf, payload); err == nil {
		buf = append(c, 'c')
	} else {
		buf = append(append(buf, payload...), 'r')
	}
	if cap(buf) <= 1<<20 { // keep no huge buffer alive
		*bp = buf
	}
	sum := sha256.Sum256(buf)
	if d := Digest(binary.BigEndian.Uint64(sum[:8])); d != 0 {
		return d
	}
	return 1
}
