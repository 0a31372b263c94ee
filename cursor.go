package eventagg

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Cursor is a position in a listing of events. Clients see it only as an
// opaque string; inside it says which listing it belongs to, so a cursor
// from one order is refused by another instead of silently skipping events.
type Cursor struct {
	Order  Order
	Global bool // a position in the all-topics listing
	// Key is the order's first sort key: event time in µs since the
	// epoch (ByTime) or the clock (ByCausal); 0 for ByArrival.
	Key int64
	Pos int64 // seq within a topic, or the global position when Global
	// Mark, in a time or causal listing, is the seq up to which the
	// store has listed the events that arrived in order, which the
	// SQLite store lists by seq (see its migration 005); Pos unless the
	// cursor stands on a late event.
	Mark int64
}

// IsZero reports whether c is the start of a listing.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// String encodes c as an opaque, URL-safe token; "" for the zero cursor.
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	scope := "t"
	if c.Global {
		scope = "g"
	}
	var raw string
	if c.Order == ByTime || c.Order == ByCausal {
		raw = fmt.Sprintf("1:%s:%s:%d:%d", scope, c.Order, c.Key, c.Pos)
		if c.Mark != c.Pos {
			raw += ":" + strconv.FormatInt(c.Mark, 10)
		}
	} else {
		raw = fmt.Sprintf("1:%s:arrival:%d", scope, c.Pos)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseCursor decodes a token made by Cursor.String. "" is the zero cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := Errorf(EINVALID, "after: not a cursor returned by this service: %s", Quote(s))
	if len(s) > 128 {
		return Cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) < 4 || parts[0] != "1" || (parts[1] != "t" && parts[1] != "g") {
		return Cursor{}, bad
	}
	c := Cursor{Global: parts[1] == "g", Order: Order(parts[2])}
	nums := parts[3:]
	switch {
	case c.Order == ByArrival && len(nums) == 1:
	case (c.Order == ByTime || c.Order == ByCausal) && (len(nums) == 2 || len(nums) == 3):
		if c.Key, err = strconv.ParseInt(nums[0], 10, 64); err != nil {
			return Cursor{}, bad
		}
		nums = nums[1:]
	default:
		return Cursor{}, bad
	}
	if c.Pos, err = strconv.ParseInt(nums[0], 10, 64); err != nil || c.Pos < 0 {
		return Cursor{}, bad
	}
	if c.Order == ByTime || c.Order == ByCausal {
		c.Mark = c.Pos
		if len(nums) == 2 {
			if c.Mark, err = strconv.ParseInt(nums[1], 10, 64); err != nil || c.Mark < 0 || c.Mark == c.Pos {
				return Cursor{}, bad
			}
		}
	}
	return c, nil
}

// Check reports whether c can continue a listing of the given order and
// scope, naming the mismatch if not.
func (c Cursor) Check(order Order, global bool) error {
	if c.IsZero() {
		return nil
	}
	if c.Order != order {
		return Errorf(EINVALID, "after: cursor belongs to order=%s, not order=%s", c.Order, order)
	}
	if c.Global != global {
		if global {
			return Errorf(EINVALID, "after: cursor belongs to a single-topic listing; pass its topic")
		}
		return Errorf(EINVALID, "after: cursor belongs to the all-topics listing; omit topic")
	}
	return nil
}

// StartKey is the sort key a time or causal listing continues after: the
// cursor's, or at the start the smallest there is (a time before 1970 is a
// negative number of µs; a clock is never negative).
func (q EventQuery) StartKey() int64 {
	if q.After.IsZero() {
		return math.MinInt64
	}
	return q.After.Key
}

// CursorAfter returns the cursor that follows e in the listing q.
func (q EventQuery) CursorAfter(e StoredEvent) Cursor {
	c := Cursor{Order: q.Order, Global: q.Topic == "", Pos: e.Seq}
	if c.Global {
		c.Pos = e.Position
	}
	switch q.Order {
	case ByTime:
		c.Key, c.Mark = e.Timestamp.UnixMicro(), c.Pos
	case ByCausal:
		c.Key, c.Mark = e.Clock, c.Pos
	}
	return c
}
