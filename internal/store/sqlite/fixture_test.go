package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eventagg/eventagg/internal/store/storetest"
)

// TestFixtureGenerator runs the fixture generator on the current schema and
// checks it with the same check the migration tests use. With
// EVENTAGG_FIXTURE_OUT set it also leaves the file there: that is how
// testdata/schemaN.db is made (run it on the code of schema N).
func TestFixtureGenerator(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fixture.db")
	s := MustOpen(t, path)
	storetest.WriteFixture(t, s)
	if out := os.Getenv("EVENTAGG_FIXTURE_OUT"); out != "" {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		copyFile(t, path, out)
		s = MustOpen(t, path)
	}
	defer s.Close()
	storetest.CheckSchema1(t, s)
}
