package sqlite_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventagg/eventagg/internal/store/storetest"
)

// TestOpensSchema1Database opens a file written by the store of schema
// version 1 (testdata/schema1.db, made by that version's code; see
// storetest.CheckSchema1), migrates it in place and reads everything back.
func TestOpensSchema1Database(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, "testdata/schema1.db", path)
	s := MustOpen(t, path)
	defer s.Close()
	storetest.CheckSchema1(t, s)
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
