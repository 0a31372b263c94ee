package eventagg_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// AppendJSON says what json.Marshal says, and never breaks a line.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	for _, e := range []eventagg.StoredEvent{
		{Event: eventagg.Event{Topic: "orders", EventID: "e-1", Timestamp: at, Source: "svc", Payload: json.RawMessage(`{"a":1}`)}, Seq: 7, ReceivedAt: at.Add(time.Second)},
		{Event: eventagg.Event{Topic: "t.x/y:z_w-v", EventID: `quote " back \ <tag>&`, Timestamp: at, Source: "é ünï €", Payload: json.RawMessage("{\n  \"k\": \"v\\n\",\r\n \"n\": [1, 2]\n}")}, Seq: 1 << 40, ReceivedAt: at},
		{Event: eventagg.Event{Topic: "t", EventID: "tab\tand\x01", Timestamp: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Source: "", Payload: json.RawMessage(`{ "spaced" : true }`)}, Seq: 0, ReceivedAt: at},
	} {
		got := e.AppendJSON(nil)
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("AppendJSON gave invalid JSON %s: %v", got, err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("AppendJSON\n %s\nmeans something else than json.Marshal\n %s", got, want)
		}
		for _, c := range got {
			if c == '\n' || c == '\r' {
				t.Fatalf("AppendJSON broke a line: %q", got)
			}
		}
	}
}
