package sqlite_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventagg/eventagg/internal/store/storetest"
)

// TestOpensOldSchemas opens a file written by the store of each earlier
// schema version (testdata/schemaN.db, made by that version's code; see
// storetest.CheckSchema1), migrates it in place and reads everything back.
// Schema 2's dedup key was a UNIQUE index: migration 003 drops it and the
// store rebuilds the keys from the events.
func TestOpensOldSchemas(t *testing.T) {
	for _, v := range []int{1, 2, 3, 4, 5, 6} {
		t.Run(fmt.Sprint("schema", v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			copyFile(t, fmt.Sprintf("testdata/schema%d.db", v), path)
			s := MustOpen(t, path)
			defer s.Close()
			storetest.CheckSchema1(t, s)
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
