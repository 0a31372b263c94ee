package faultfs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventagg/eventagg/internal/faultfs"
)

// What was written and synced survives a power cut; what was written
// after, or never synced, is gone, and the cut says how much it dropped.
func TestPowerCutDropsWhatWasNotSynced(t *testing.T) {
	mnt, backing := t.TempDir(), t.TempDir()
	fsys := faultfs.MountForTest(t, mnt, backing)
	f, err := os.Create(filepath.Join(mnt, "data"))
	if err != nil {
		t.Fatal(err)
	}
	synced := bytes.Repeat([]byte("s"), 10000)
	if _, err := f.Write(synced); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("UNSYNCED"), 5000); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("u"), 3000)); err != nil {
		t.Fatal(err)
	}
	// Readers see the unsynced writes while the power is on.
	got, err := os.ReadFile(filepath.Join(mnt, "data"))
	if err != nil || len(got) != 13000 || string(got[5000:5008]) != "UNSYNCED" {
		t.Fatalf("before the cut: %d bytes, %q at 5000, %v", len(got), got[5000:5008], err)
	}
	f.Close()
	if err := fsys.Unmount(); err != nil {
		t.Fatal(err)
	}
	if dropped, byFile := fsys.PowerCut(); dropped == 0 || byFile["data"] != dropped {
		t.Fatalf("the cut dropped %d bytes (%v), want some, all of data", dropped, byFile)
	}
	after, err := os.ReadFile(filepath.Join(backing, "data"))
	if err != nil || !bytes.Equal(after, synced) {
		t.Fatalf("after the cut: %d bytes (%v), want the 10,000 synced", len(after), err)
	}

	// Remounted, the file is what was synced.
	fsys = faultfs.MountForTest(t, mnt, backing)
	again, err := os.ReadFile(filepath.Join(mnt, "data"))
	if err != nil || !bytes.Equal(again, synced) {
		t.Fatalf("remounted: %d bytes (%v)", len(again), err)
	}
}

// A file cut short and written past its end again reads zeros in between,
// not the bytes the cut removed, before and after a sync.
func TestTruncateThenGrowReadsZeros(t *testing.T) {
	mnt, backing := t.TempDir(), t.TempDir()
	fsys := faultfs.MountForTest(t, mnt, backing)
	path := filepath.Join(mnt, "f")
	if err := os.WriteFile(path, bytes.Repeat([]byte("a"), 20000), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("z"), 15000); err != nil {
		t.Fatal(err)
	}
	want := append(append(bytes.Repeat([]byte("a"), 100), make([]byte, 14900)...), 'z')
	for _, when := range []string{"before the sync", "after the sync"} {
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v; want 100 a, zeros, z", when, len(got), err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.Unmount()
	fsys.PowerCut()
	if got, _ := os.ReadFile(filepath.Join(backing, "f")); !bytes.Equal(got, want) {
		t.Fatalf("after a cut: %d bytes; the synced file is lost", len(got))
	}
}

// Unsynced contents follow their file through a rename (and through a
// handle opened before it), and die with it when it is unlinked: a file
// made later under the old name does not read them. Both are what
// PostgreSQL (renamed WAL segments) and SQLite (a WAL deleted at close and
// made again) do.
func TestUnsyncedContentsFollowRenamesAndDieWithUnlinks(t *testing.T) {
	mnt, backing := t.TempDir(), t.TempDir()
	faultfs.MountForTest(t, mnt, backing)
	a, b := filepath.Join(mnt, "a"), filepath.Join(mnt, "b")
	f, err := os.Create(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(" second")); err != nil { // the handle opened as a
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, err := os.ReadFile(b); err != nil || string(got) != "first second" {
		t.Fatalf("renamed: %q %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(backing, "b")); err != nil || string(got) != "first second" {
		t.Fatalf("renamed and synced, the backing file holds %q %v", got, err)
	}

	if err := os.WriteFile(a, []byte("unsynced and then unlinked"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(a); err != nil || len(got) != 0 {
		t.Fatalf("a new file under an unlinked name reads %q %v, want nothing", got, err)
	}
}
