package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadRefusesHolesAndDuplicates(t *testing.T) {
	ok := fstest.MapFS{"m/001_a.up.sql": {Data: []byte("A")}, "m/002_b.up.sql": {Data: []byte("B")}}
	ms, err := Load(ok, "m")
	if err != nil || len(ms) != 2 || ms[1].Version != 2 || ms[1].SQL != "B" {
		t.Fatalf("%+v %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/001_a.up.sql": {}, "m/003_c.up.sql": {}},
		"duplicate": {"m/001_a.up.sql": {}, "m/001_b.up.sql": {}},
		"bad name":  {"m/first.up.sql": {}},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Pending(ms, 3); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer database: %v", err)
	}
}
