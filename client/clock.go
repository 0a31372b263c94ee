package client

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync/atomic"
)

// Clock is a Lamport clock: the logical time of one publisher (or of a
// process's clients sharing it). Tick stamps an event; Observe merges a
// time seen elsewhere (an event read back, or a clock an application
// carried on its own message between services), so that anything stamped
// afterwards is later than what was seen: if event a happened before
// event b (b's publisher saw a, directly or through others, before
// stamping b), then a's clock is smaller than b's, and GET
// /events?order=causal lists a first. Safe for concurrent use; the zero
// value starts at 0.
type Clock struct{ t atomic.Int64 }

// Tick advances the clock and returns the new time, the stamp for one
// event.
func (c *Clock) Tick() int64 { return c.t.Add(1) }

// Observe merges t: the clock becomes at least t, so the next Tick is
// after it.
func (c *Clock) Observe(t int64) {
	for {
		cur := c.t.Load()
		if t <= cur || c.t.CompareAndSwap(cur, t) {
			return
		}
	}
}

// Now is the time of the last stamp or observation: what to carry to
// another service so that what it publishes next sorts after what this one
// has published.
func (c *Clock) Now() int64 { return c.t.Load() }

// Clock is the client's Lamport clock: it stamps every event the client
// publishes and observes every clock the client reads.
func (c *Client) Clock() *Clock { return c.lamport }

// stamp returns the encoded event with a "clock" member added when it has
// none (an object that mentions "clock" only inside its payload is
// decoded to find out).
func (c *Clock) stamp(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return raw // not an object: the server says what is wrong
	}
	if bytes.HasPrefix(raw, []byte(`{"clock":`)) {
		return raw // stamped already (or null on purpose), in the first place a writer puts it
	}
	if bytes.Contains(raw, []byte(`"clock"`)) {
		var has struct {
			Clock json.RawMessage `json:"clock"`
		}
		if json.Unmarshal(raw, &has) != nil || has.Clock != nil {
			return raw
		}
	}
	out := make([]byte, 0, len(raw)+32)
	out = append(out, `{"clock":`...)
	out = strconv.AppendInt(out, c.Tick(), 10)
	if rest := bytes.TrimSpace(raw[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, raw[1:]...)
}
