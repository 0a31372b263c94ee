package eventagg_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

func TestParseTimestamp(t *testing.T) {
	ok := map[string]time.Time{
		"2026-11-24T10:00:00Z":           time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T10:00:00":            time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T10:00:00.000001":     time.Date(2026, 11, 24, 10, 0, 0, 1000, time.UTC),
		"2026-11-24T11:00:00+01:00":      time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24T11:00:00+0100":       time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		"2026-11-24 10:00:00.5Z":         time.Date(2026, 11, 24, 10, 0, 0, 5e8, time.UTC),
		"2026-11-24T10:00:00.999999999Z": time.Date(2026, 11, 24, 10, 0, 0, 999999000, time.UTC),
	}
	for in, want := range ok {
		got, err := eventagg.ParseTimestamp(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-11-24", "2026-13-01T00:00:00Z", "2026-11-24T25:00:00Z", "1764000000", strings.Repeat("9", 500)} {
		_, err := eventagg.ParseTimestamp(in)
		if eventagg.ErrorCode(err) != eventagg.EINVALID || !strings.HasPrefix(err.Error(), "timestamp: ") {
			t.Errorf("%q: %v, want a timestamp error", in, err)
		}
		if len(err.Error()) > 200 {
			t.Errorf("%q: error is %d bytes long", in[:10], len(err.Error()))
		}
	}
}

func TestValidateReturnsNormalisedEvent(t *testing.T) {
	in := eventagg.Input{Topic: "a.b:c/d-e_f", EventID: "id ✓", Timestamp: "2026-11-24T12:00:00+02:00", Source: "s", Payload: json.RawMessage(` {"k":1}`)}
	e, err := in.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if !e.Timestamp.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)) || e.Topic != in.Topic || e.EventID != in.EventID {
		t.Fatalf("%+v", e)
	}
}

func TestErrorHidesInternals(t *testing.T) {
	if msg := eventagg.ErrorMessage(errString("disk /secret")); msg != "internal error" {
		t.Fatalf("message %q", msg)
	}
	if code := eventagg.ErrorCode(errString("x")); code != eventagg.EINTERNAL {
		t.Fatalf("code %q", code)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestPayloadDepthLimit(t *testing.T) {
	in := eventagg.Input{Topic: "t", EventID: "1", Timestamp: "2026-11-24T10:00:00Z", Source: "s"}
	nest := func(n int) json.RawMessage {
		return json.RawMessage(`{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `,"s":"[[[[{{{{\"]]"}`)
	}
	in.Payload = nest(eventagg.DefaultPayloadLimits.MaxDepth)
	if _, err := in.Validate(); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	in.Payload = nest(eventagg.DefaultPayloadLimits.MaxDepth + 1)
	if _, err := in.Validate(); err == nil || !strings.Contains(err.Error(), "payload: nested deeper than the limit of 64") {
		t.Fatalf("over the limit: %v", err)
	}
}
