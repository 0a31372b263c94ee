package eventagg_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/eventagg/eventagg"
)

// FuzzValidate: whatever the fields, Validate either returns an *Error whose
// message names a field, or an event that is normalised (UTC, µs) and within
// every limit. The normal test run replays the seeds.
func FuzzValidate(f *testing.F) {
	f.Add("orders", "1", "2026-11-24T10:00:00", "shop", `{"a":1}`)
	f.Add("a.b:c/d-e_f", "id ✓", "2026-11-24T12:00:00.123456789+02:00", "s", `{}`)
	f.Add("-bad", "", "yesterday", "", `[]`)
	f.Add("t", "a\x00b", "2026-02-30T10:00:00Z", "s", `null`)
	f.Add("'; DROP TABLE events; --", "1 OR 1=1", "0000-01-01T00:00:00Z", "\xff", ` {"x":"\u0000"}`)
	f.Add(strings.Repeat("t", 256), strings.Repeat("é", 256), "9999-12-31T23:59:59.999999999-23:59", "s", `{"deep":[[[[]]]]}`)
	f.Fuzz(func(t *testing.T, topic, id, ts, source, payload string) {
		in := eventagg.Input{Topic: topic, EventID: id, Timestamp: ts, Source: source, Payload: json.RawMessage(payload)}
		e, err := in.Validate()
		if err != nil {
			var de *eventagg.Error
			msg := err.Error()
			if eventagg.ErrorCode(err) == eventagg.EINTERNAL || !strings.Contains(msg, ":") || len(msg) > 300 {
				t.Fatalf("error %T %q is not a field error", de, msg)
			}
			field := msg[:strings.Index(msg, ":")]
			switch field {
			case "topic", "event_id", "timestamp", "source", "payload":
			default:
				t.Fatalf("error %q names no field", msg)
			}
			return
		}
		if e.Timestamp.Location() != time.UTC || e.Timestamp.Nanosecond()%1000 != 0 {
			t.Fatalf("timestamp %v not normalised", e.Timestamp)
		}
		if len(e.Topic) == 0 || len(e.Topic) > eventagg.MaxTopicLen || !utf8.ValidString(e.EventID) || !utf8.ValidString(e.Source) ||
			utf8.RuneCountInString(e.EventID) > eventagg.MaxEventIDLen || utf8.RuneCountInString(e.Source) > eventagg.MaxSourceLen {
			t.Fatalf("accepted out-of-limit event %+v", e)
		}
		if err := eventagg.ValidateTopic(e.Topic); err != nil {
			t.Fatalf("accepted topic %q fails ValidateTopic: %v", e.Topic, err)
		}
	})
}

// FuzzParseCursor: any string either is refused as invalid or parses to a
// cursor that encodes back to a string parsing to the same cursor.
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(eventagg.Cursor{Order: eventagg.ByArrival, Pos: 7}.String())
	f.Add(eventagg.Cursor{Order: eventagg.ByTime, Key: -1, Pos: 3}.String())
	f.Add(eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: 1 << 62}.String())
	f.Add("MTp0OmFycml2YWw6LTE")
	f.Add("' OR 1=1 --")
	f.Add(strings.Repeat("A", 200))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := eventagg.ParseCursor(s)
		if err != nil {
			if eventagg.ErrorCode(err) != eventagg.EINVALID || !strings.HasPrefix(err.Error(), "after: ") {
				t.Fatalf("error %v", err)
			}
			return
		}
		again, err := eventagg.ParseCursor(c.String())
		if err != nil || again != c {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, c, c.String(), again, err)
		}
		if c.Pos < 0 {
			t.Fatalf("negative position from %q", s)
		}
	})
}
