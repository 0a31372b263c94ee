package faultfs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
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
	syncDir(t, mnt)
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
	if cut := fsys.PowerCut(); cut.Bytes == 0 || cut.ByFile["data"] != cut.Bytes {
		t.Fatalf("the cut dropped %d bytes (%v), want some, all of data", cut.Bytes, cut.ByFile)
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
	syncDir(t, mnt)
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

// Entry changes since their directory's last fsync are taken back at a
// cut, newest first: a file created and fsynced but not its directory is
// gone, a rename and an unlink are undone (the file a rename replaced is
// back), and what a directory's fsync covered stays.
func TestPowerCutTakesBackEntriesNotSynced(t *testing.T) {
	mnt, backing := t.TempDir(), t.TempDir()
	write := func(name, data string) {
		t.Helper()
		f, err := os.Create(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(data); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	fsys := faultfs.MountForTest(t, mnt, backing)
	write("kept", "kept")
	write("renamed", "renamed")
	write("unlinked", "unlinked")
	write("replaced", "replaced")
	write("replacing", "replacing")
	if err := os.Mkdir(filepath.Join(mnt, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	write("sub/synced", "sub/synced")
	syncDir(t, filepath.Join(mnt, "sub"))

	write("new", "new") // synced, but not its directory
	for _, step := range []error{
		os.Rename(filepath.Join(mnt, "renamed"), filepath.Join(mnt, "renamed-to")),
		os.Remove(filepath.Join(mnt, "unlinked")),
		os.Rename(filepath.Join(mnt, "replacing"), filepath.Join(mnt, "replaced")),
		os.Mkdir(filepath.Join(mnt, "newdir"), 0o755),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	write("newdir/inside", "newdir/inside") // in a directory whose entry was never synced
	syncDir(t, filepath.Join(mnt, "newdir"))
	// Before the cut, all of it is there.
	if got := listing(t, mnt); !slices.Equal(got, []string{"kept", "new", "newdir", "renamed-to=renamed", "replaced=replacing", "sub"}) {
		t.Fatalf("before the cut: %v", got)
	}
	fsys.Unmount()
	cut := fsys.PowerCut()
	// newdir/inside is durable (newdir was synced) and goes with newdir.
	if len(cut.Entries) != 5 {
		t.Errorf("took back %d entry changes, want 5: %v", len(cut.Entries), cut.Entries)
	}
	want := []string{"kept", "renamed", "replaced", "replacing", "sub", "unlinked"}
	if got := listing(t, backing); !slices.Equal(got, want) {
		t.Fatalf("after the cut: %v, want %v", got, want)
	}
	if got, err := os.ReadFile(filepath.Join(backing, "sub", "synced")); err != nil || string(got) != "sub/synced" {
		t.Fatalf("sub/synced: %q %v", got, err)
	}
}

// syncDir fsyncs a directory, as SQLite does after creating a journal.
func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// listing names dir's entries, a file as name=contents when it holds
// another's name.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		name := de.Name()
		if !de.IsDir() {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && string(b) != name {
				name += "=" + string(b)
			}
		}
		names = append(names, name)
	}
	return names
}

// Once the power is gone no fsync answers success: a process that went on
// after one would acknowledge what the cut then loses. A sync under way
// at the freeze fails when the mount goes.
func TestNoSyncSucceedsAfterTheFreeze(t *testing.T) {
	mnt, backing := t.TempDir(), t.TempDir()
	fsys := faultfs.MountForTest(t, mnt, backing)
	f, err := os.Create(filepath.Join(mnt, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // before the cleanup's unmount, if the test fails
	if _, err := f.WriteString("unsynced"); err != nil {
		t.Fatal(err)
	}
	fsys.Freeze()
	synced := make(chan error, 1)
	go func() { synced <- f.Sync() }()
	fsys.Unmount() // fails while f is open, but answers the sync first
	if err := <-synced; err == nil {
		t.Fatal("an fsync after the freeze answered success")
	}
	f.Close()
	if err := fsys.Unmount(); err != nil {
		t.Fatal(err)
	}
	if cut := fsys.PowerCut(); cut.ByFile["data"] == 0 {
		t.Fatalf("the cut dropped %v, want data's unsynced page", cut.ByFile)
	}
}
