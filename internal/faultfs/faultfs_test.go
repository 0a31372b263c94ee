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
