package eventagg_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// The examples of RFC 8785 (§3.2.2, §3.2.3 and Appendix B) and a few edges.
func TestCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
		   "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
		   "literals": [null, true, false]}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		// Sorted by UTF-16 code units: "\u20ac" (0x20ac) before "\ud83d\ude00" (0xd83d) before "\ufb33".
		{`{"\ufb33":3,"😀":2,"€":1,"\r":0,"1":5,"10":6,"a":{"b":1,"a":2}}`,
			"{\"\\r\":0,\"1\":5,\"10\":6,\"a\":{\"a\":2,\"b\":1},\"€\":1,\"😀\":2,\"\ufb33\":3}"},
		{` { } `, `{}`},
		{`[ ]`, `[]`},
		{`{"a":1,"a":2}`, `{"a":2}`}, // as JSON.parse: the last wins
		{`[-0, 0.0, 1.0, -1.5e0, 1e21, 1e20, 123456789012345678901234, 1e-6, 1e-7, 9007199254740993]`,
			`[0,0,1,-1.5,1e+21,100000000000000000000,1.2345678901234569e+23,0.000001,1e-7,9007199254740992]`},
		{`"\ud83d\ude00 <&> \u2028"`, "\"😀 <&> \u2028\""},
	} {
		got, err := eventagg.Canonical(nil, []byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("Canonical(%s)\n got %s, %v\nwant %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `-`, `"\x"`, `tru`, `{} x`, `1e400`, "\"\xff\""} {
		if got, err := eventagg.Canonical(nil, []byte(bad)); err == nil {
			t.Errorf("Canonical(%q) = %s, want an error", bad, got)
		}
	}
}

// The numbers of RFC 8785 Appendix B, given as IEEE 754 bit patterns.
func TestES6Numbers(t *testing.T) {
	for _, c := range []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"}, {0x8000000000000000, "0"}, {0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"}, {0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"}, {0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"}, {0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"}, {0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"}, {0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"}, {0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"}, {0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"}, {0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"}, {0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"}, {0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	} {
		if got := string(eventagg.AppendES6Number(nil, math.Float64frombits(c.bits))); got != c.want {
			t.Errorf("%#x: got %s, want %s", c.bits, got, c.want)
		}
	}
}

// Content that a JSON reader cannot tell apart has one digest; a change of
// any content field changes it; the clock is not content.
func TestDigest(t *testing.T) {
	in := eventagg.Input{Topic: "t", EventID: "e1", Timestamp: "2026-12-02T10:00:00Z", Source: "s",
		Payload: []byte(`{"a": 1, "b": [true, "x"]}`)}
	valid := func(in eventagg.Input) eventagg.Event {
		t.Helper()
		e, err := in.Validate()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	base := valid(in)
	if base.Digest == 0 || base.Digest != base.ContentDigest() {
		t.Fatalf("digest %d, recomputed %d", base.Digest, base.ContentDigest())
	}
	same := in
	same.Payload, same.Timestamp, same.Clock = []byte(`{"b":["x"]   ,"a":1.0}`[0:0]), "2026-12-02T11:00:00+01:00", []byte("7")
	same.Payload = []byte(`{ "b" : [ true , "\u0078" ] , "a" : 1.0 }`)
	if d := valid(same).Digest; d != base.Digest {
		t.Errorf("same content, other spelling and clock: digest %d, want %d", d, base.Digest)
	}
	for name, change := range map[string]func(*eventagg.Input){
		"payload":   func(in *eventagg.Input) { in.Payload = []byte(`{"a":2,"b":[true,"x"]}`) },
		"order":     func(in *eventagg.Input) { in.Payload = []byte(`{"a":1,"b":["x",true]}`) },
		"source":    func(in *eventagg.Input) { in.Source = "s2" },
		"timestamp": func(in *eventagg.Input) { in.Timestamp = "2026-12-02T10:00:00.000001Z" },
	} {
		other := in
		change(&other)
		if d := valid(other).Digest; d == base.Digest {
			t.Errorf("%s changed, digest unchanged", name)
		}
	}
	// A payload Go's decoder lets in but RFC 8785 cannot canonicalise
	// still has a digest, of its bytes.
	odd := eventagg.DigestOf(time.Unix(0, 0), "s", []byte("{\"a\":\"\xff\"}"))
	if odd == 0 || odd == eventagg.DigestOf(time.Unix(0, 0), "s", []byte("{\"a\":\"\xfe\"}")) {
		t.Errorf("raw digests: %d", odd)
	}
}

func TestClockValidation(t *testing.T) {
	in := eventagg.Input{Topic: "t", EventID: "e1", Timestamp: "2026-12-02T10:00:00Z", Source: "s", Payload: []byte(`{}`)}
	for raw, want := range map[string]int64{"": -1, "null": -1, "0": 0, "42": 42, "9223372036854775807": math.MaxInt64} {
		in.Clock = []byte(raw)
		e, err := in.Validate()
		if err != nil || e.HasClock != (want >= 0) || (want >= 0 && e.Clock != want) {
			t.Errorf("clock %q: %+v %v", raw, e, err)
		}
	}
	for _, raw := range []string{"-1", "1.5", "1e3", `"3"`, "true", "9223372036854775808", "{}"} {
		in.Clock = []byte(raw)
		if _, err := in.Validate(); eventagg.ErrorCode(err) != eventagg.EINVALID || eventagg.ErrorMessage(err)[:6] != "clock:" {
			t.Errorf("clock %s: %v, want an invalid clock", raw, err)
		}
	}
}

// BenchmarkDigest is the digest of a typical small payload, the work
// validation adds to each event.
func BenchmarkDigest(b *testing.B) {
	ts := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	payload := []byte(`{"order_id":"o-12345","total":129.95,"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"customer":{"id":42,"tier":"gold"},"note":"leave at the door"}`)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		eventagg.DigestOf(ts, "shop", payload)
	}
}

// FuzzCanonical: the canonical form is valid JSON, means what the input
// means, and is its own canonical form.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1.5,"x\u0000",null]}`, `{"😀":1,"\ufb33":2}`, `[1e21,-0,0.1]`, `"\ud800"`, `{"a":{"a":{}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := eventagg.Canonical(nil, in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Canonical(%q) = %q: not JSON", in, out)
		}
		var a, b any
		if json.Unmarshal(in, &a) == nil && json.Unmarshal(out, &b) == nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("Canonical(%q) = %q means something else", in, out)
		}
		again, err := eventagg.Canonical(nil, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Canonical(%q) = %q, again %q (%v)", in, out, again, err)
		}
	})
}
