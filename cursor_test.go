package eventagg_test

import (
	"testing"

	"github.com/eventagg/eventagg"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []eventagg.Cursor{
		{Order: eventagg.ByArrival, Pos: 1},
		{Order: eventagg.ByArrival, Global: true, Pos: 1 << 40},
		{Order: eventagg.ByTime, Key: -62135596800000000, Pos: 7},
		{Order: eventagg.ByTime, Key: 1764000000123456, Pos: 0},
		{Order: eventagg.ByCausal, Key: 42, Pos: 9},
		{Order: eventagg.ByCausal, Key: 1<<62 + 5, Pos: 1},
	} {
		got, err := eventagg.ParseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("%+v: round trip gave %+v, %v", c, got, err)
		}
	}
	if s := (eventagg.Cursor{}).String(); s != "" {
		t.Errorf("zero cursor encodes as %q", s)
	}
}

func TestCursorRejectsGarbage(t *testing.T) {
	for _, s := range []string{"x", "!!!", "MTp0OmFycml2YWw6LTE", "MTp0OmFycml2YWw6", "MjpzOnRpbWU6MTox", "' OR 1=1 --"} {
		if _, err := eventagg.ParseCursor(s); eventagg.ErrorCode(err) != eventagg.EINVALID {
			t.Errorf("ParseCursor(%q) = %v, want invalid", s, err)
		}
	}
}
