package faultfs

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// entryOp is a change of directory entries not yet durable: the backing
// directories whose fsync it still waits for, and how to take it back.
type entryOp struct {
	what    string
	pending map[string]bool
	undo    func() error
	trashed string // the replaced or unlinked file, kept to be put back
}

// changed journals an entry change in dirs (backing paths); undo puts the
// backing tree back as it was before it. Called with f.mu held.
func (f *FS) changed(what string, undo func() error, trashed string, dirs ...string) {
	op := &entryOp{what: what, pending: map[string]bool{}, undo: undo, trashed: trashed}
	for _, d := range dirs {
		op.pending[d] = true
	}
	f.journal = append(f.journal, op)
}

// dirSynced makes durable what waited only for dir's fsync. Called with
// f.mu held.
func (f *FS) dirSynced(dir string) {
	kept := f.journal[:0]
	for _, op := range f.journal {
		delete(op.pending, dir)
		if len(op.pending) > 0 {
			kept = append(kept, op)
			continue
		}
		if op.trashed != "" {
			os.RemoveAll(op.trashed)
		}
	}
	clear(f.journal[len(kept):])
	f.journal = kept
}

// undoEntries takes back every change not yet durable, newest first, and
// says what it took back. Called with f.mu held, after the mount is gone.
func (f *FS) undoEntries() []string {
	var undone []string
	for i := len(f.journal) - 1; i >= 0; i-- {
		op := f.journal[i]
		what := strings.ReplaceAll(op.what, f.backing+"/", "")
		if err := op.undo(); err != nil {
			what += " (cannot undo: " + err.Error() + ")"
		}
		undone = append(undone, what)
	}
	f.journal = nil
	os.RemoveAll(f.trash)
	return undone
}

// toTrash keeps path's file under a new name in the trash, moved there or,
// with link, hard-linked (so that path stays until a rename replaces it
// atomically), and returns that name; "" if there is no file (or it is a
// directory, which is not kept).
func (f *FS) toTrash(path string, link bool) string {
	var st syscall.Stat_t
	if syscall.Lstat(path, &st) != nil || st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return ""
	}
	f.trashed++
	kept := filepath.Join(f.trash, strconv.Itoa(f.trashed))
	move := os.Rename
	if link {
		move = os.Link
	}
	if move(path, kept) != nil {
		return ""
	}
	return kept
}

// cutPathPrefix is path below (or at) dir, as "" or "/rest".
func cutPathPrefix(path, dir string) (string, bool) {
	rest, ok := strings.CutPrefix(path, dir)
	return rest, ok && (rest == "" || rest[0] == '/')
}

func exists(path string) bool {
	var st syscall.Stat_t
	return syscall.Lstat(path, &st) == nil
}

var (
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.FileReaddirenter   = (*dir)(nil)
	_ fs.FileSeekdirer      = (*dir)(nil)
	_ fs.FileReleasedirer   = (*dir)(nil)
	_ fs.FileFsyncdirer     = (*dir)(nil)
)

// created journals that name now exists in n, where it did not before.
func (n *node) created(name string, existed bool) {
	if existed {
		return
	}
	dir := n.backingPath()
	p := filepath.Join(dir, name)
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	n.fs.changed("create "+p, func() error { return os.RemoveAll(p) }, "", dir)
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	existed := exists(filepath.Join(n.backingPath(), name))
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno == 0 {
		n.created(name, existed)
	}
	return ch, errno
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	existed := exists(filepath.Join(n.backingPath(), name))
	ch, errno := n.LoopbackNode.Symlink(ctx, target, name, out)
	if errno == 0 {
		n.created(name, existed)
	}
	return ch, errno
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	existed := exists(filepath.Join(n.backingPath(), name))
	ch, errno := n.LoopbackNode.Link(ctx, target, name, out)
	if errno == 0 {
		n.created(name, existed)
	}
	return ch, errno
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	dir := n.backingPath()
	p := filepath.Join(dir, name)
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return fs.ToErrno(err)
	}
	if errno := n.LoopbackNode.Rmdir(ctx, name); errno != 0 {
		return errno
	}
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	n.fs.changed("rmdir "+p, func() error { return os.Mkdir(p, os.FileMode(st.Mode&0o7777)) }, "", dir)
	return 0
}

// Unlink moves the file to the trash, to be put back at a cut, and drops
// its unsynced contents: a file made later under the name must not read
// them.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	dir := n.backingPath()
	p := filepath.Join(dir, name)
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	kept := n.fs.toTrash(p, false)
	if kept == "" {
		if errno := n.LoopbackNode.Unlink(ctx, name); errno != 0 {
			return errno
		}
	} else {
		n.fs.changed("unlink "+p, func() error { return os.Rename(kept, p) }, kept, dir)
	}
	delete(n.fs.files, p)
	return 0
}

// Rename moves the unsynced contents with the file (or, for a directory,
// with every file under it), and journals the rename (keeping a file it
// replaces in the trash) to be taken back at a cut.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	fromDir, toDir := n.backingPath(), newParent.(*node).backingPath()
	from, to := filepath.Join(fromDir, name), filepath.Join(toDir, newName)
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	kept := ""
	if flags == 0 {
		kept = n.fs.toTrash(to, true)
	}
	if errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); errno != 0 {
		if kept != "" {
			os.Remove(kept)
		}
		return errno
	}
	undo := func() error {
		if flags&unix.RENAME_EXCHANGE != 0 {
			return unix.Renameat2(unix.AT_FDCWD, to, unix.AT_FDCWD, from, unix.RENAME_EXCHANGE)
		}
		if err := os.Rename(to, from); err != nil || kept == "" {
			return err
		}
		return os.Rename(kept, to)
	}
	n.fs.changed("rename "+from+" to "+to, undo, kept, fromDir, toDir)
	delete(n.fs.files, to) // the file it replaced
	for path, o := range n.fs.files {
		if rest, ok := cutPathPrefix(path, from); ok {
			delete(n.fs.files, path)
			n.fs.files[to+rest] = o
		}
	}
	return 0
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dir{inner: fh, node: n}, fl, 0
}

// dir is an open directory: the loopback's, except that its fsync makes
// the directory's entries durable here.
type dir struct {
	inner fs.FileHandle
	node  *node
}

func (d *dir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.inner.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.inner.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dir) Releasedir(ctx context.Context, flags uint32) {
	d.inner.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

func (d *dir) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	path := d.node.backingPath() // before the lock: the inode tree has its own
	f := d.node.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		return f.noPower(ctx)
	}
	if errno := fsyncPath(path); errno != 0 {
		return errno
	}
	f.dirSynced(path)
	return 0
}
