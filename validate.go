package eventagg

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on event fields, fixed by the data model. They bound what one
// event can cost the store.
const (
	MaxTopicLen   = 255
	MaxEventIDLen = 255
	MaxSourceLen  = 255
)

// PayloadLimits bound a payload; operators may change them (serve's
// --max-payload-bytes and --max-payload-depth).
type PayloadLimits struct {
	// MaxBytes is the largest encoded payload accepted.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted:
	// readers of the events should not need deep recursion.
	MaxDepth int
}

// DefaultPayloadLimits: 256 KiB, 64 levels.
var DefaultPayloadLimits = PayloadLimits{MaxBytes: 256 << 10, MaxDepth: 64}

// Validate checks every field under the default payload limits.
func (in *Input) Validate() (Event, error) { return in.ValidateWithin(DefaultPayloadLimits) }

// ValidateWithin checks every field and returns the normalised Event. The
// error is an *Error with code EINVALID (ETOOLARGE for a payload over the
// limit) whose message starts with the field's name, so a publisher knows
// what to fix.
func (in *Input) ValidateWithin(l PayloadLimits) (Event, error) {
	if err := ValidateTopic(in.Topic); err != nil {
		return Event{}, err
	}
	if err := validateEventID(in.EventID); err != nil {
		return Event{}, err
	}
	ts, err := ParseTimestamp(in.Timestamp)
	if err != nil {
		return Event{}, err
	}
	if err := validateSource(in.Source); err != nil {
		return Event{}, err
	}
	if err := validatePayload(in.Payload, l); err != nil {
		return Event{}, err
	}
	e := Event{Topic: in.Topic, EventID: in.EventID, Timestamp: ts, Source: in.Source, Payload: in.Payload}
	if e.Clock, e.HasClock, err = parseClock(in.Clock); err != nil {
		return Event{}, err
	}
	e.Digest = DigestOf(e.Timestamp, e.Source, e.Payload)
	return e, nil
}

// parseClock reads the optional clock: absent or null is none; otherwise a
// non-negative integer that fits in 63 bits.
func parseClock(raw []byte) (int64, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	c, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || c < 0 {
		return 0, false, Errorf(EINVALID, "clock: must be a non-negative integer below 2^63 (the publisher's Lamport time), got %s", Quote(string(raw)))
	}
	return c, true, nil
}

// ValidateTopic checks a topic name: 1–255 characters of [A-Za-z0-9._:/-],
// starting with a letter or digit. Topics are also query parameters, so the
// same rule serves both.
func ValidateTopic(topic string) error {
	switch {
	case topic == "":
		return Errorf(EINVALID, "topic: required")
	case len(topic) > MaxTopicLen:
		return Errorf(EINVALID, "topic: longer than %d characters", MaxTopicLen)
	case !isAlnum(topic[0]):
		return Errorf(EINVALID, "topic: must start with a letter or digit: %s", Quote(topic))
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '/' && c != '-' {
			return Errorf(EINVALID, "topic: character %q not allowed (use A-Z a-z 0-9 . _ : / -)", rune(c))
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func validateEventID(id string) error {
	if err := checkText("event_id", id, MaxEventIDLen); err != nil {
		return err
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return Errorf(EINVALID, "event_id: control character %U not allowed", r)
		}
	}
	return nil
}

func validateSource(source string) error {
	return checkText("source", source, MaxSourceLen)
}

// checkText checks that a free-text field is present, valid UTF-8 and at
// most max characters (runes, not bytes).
func checkText(field, s string, max int) error {
	switch {
	case s == "":
		return Errorf(EINVALID, "%s: required", field)
	case !utf8.ValidString(s):
		return Errorf(EINVALID, "%s: not valid UTF-8", field)
	case len(s) > max && utf8.RuneCountInString(s) > max:
		return Errorf(EINVALID, "%s: longer than %d characters", field, max)
	}
	return nil
}

func validatePayload(p []byte, l PayloadLimits) error {
	p = bytes.TrimSpace(p)
	switch {
	case len(p) == 0:
		return Errorf(EINVALID, "payload: required (a JSON object)")
	case len(p) > l.MaxBytes:
		return Errorf(ETOOLARGE, "payload: %d bytes exceeds the limit of %d bytes (--max-payload-bytes)", len(p), l.MaxBytes)
	case p[0] != '{':
		return Errorf(EINVALID, "payload: must be a JSON object, got %s", jsonKind(p[0]))
	case depth(p) > l.MaxDepth:
		return Errorf(EINVALID, "payload: nested deeper than the limit of %d levels (--max-payload-depth)", l.MaxDepth)
	}
	return nil
}

// depth is the deepest nesting of objects and arrays in valid JSON text.
func depth(p []byte) int {
	d, deepest, inString := 0, 0, false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case inString && c == '\\':
			i++ // skip the escaped character
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// Timestamp layouts we accept, tried in order. RFC 3339 first; then the
// zone-less form most publishers send, read as UTC; then ISO 8601 offsets
// without a colon.
var timestampLayouts = []struct {
	layout string
	zoned  bool
}{
	{time.RFC3339Nano, true},
	{"2006-01-02T15:04:05.999999999", false},
	{"2006-01-02T15:04:05.999999999Z0700", true},
}

// ParseTimestamp reads an RFC 3339 / ISO 8601 timestamp. A timestamp without
// a zone is UTC. The result is UTC, truncated to microseconds: the precision
// every store keeps, so what is returned later equals what was validated.
func ParseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, Errorf(EINVALID, "timestamp: required (RFC 3339, e.g. \"2026-11-24T10:00:00Z\")")
	}
	norm := s
	// RFC 3339 allows a lower-case 't'/'z' and, by agreement, a space.
	if len(norm) > 10 && (norm[10] == ' ' || norm[10] == 't') {
		norm = norm[:10] + "T" + norm[11:]
	}
	if strings.HasSuffix(norm, "z") {
		norm = norm[:len(norm)-1] + "Z"
	}
	// Try only the layouts of the right kind: a zone-less timestamp, the
	// common case, would otherwise first fail (and allocate an error) in
	// every zoned layout on the hot path of each publish.
	zoned := strings.HasSuffix(norm, "Z") || (len(norm) > 19 && strings.ContainsAny(norm[19:], "+-"))
	for _, l := range timestampLayouts {
		if l.zoned != zoned {
			continue
		}
		var t time.Time
		var err error
		if l.zoned {
			t, err = time.Parse(l.layout, norm)
		} else {
			t, err = time.ParseInLocation(l.layout, norm, time.UTC)
		}
		if err == nil {
			return t.UTC().Truncate(time.Microsecond), nil
		}
	}
	return time.Time{}, Errorf(EINVALID, "timestamp: not RFC 3339: %s", Quote(s))
}

// Quote quotes s for an error message, cutting it so that a huge or
// escape-heavy bad value cannot blow up the response: the result is at most
// about 80 bytes.
func Quote(s string) string {
	const max = 80
	q := strconv.Quote(s)
	if len(q) <= max {
		return q
	}
	n := min(len(s), max)
	for ; n > 0; n-- {
		if q = strconv.Quote(s[:n]); len(q) <= max-3 {
			break
		}
	}
	return q + "…"
}
