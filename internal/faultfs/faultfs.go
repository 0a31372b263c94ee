// Package faultfs is a test-only FUSE filesystem that loses what a power cut
// loses. It passes everything through to a backing directory except file
// contents written since the file's last fsync: those stay in a volatile
// layer in memory, served to readers as a disk's cache would be, and
// written to the backing file only by fsync or fdatasync. PowerCut drops
// the layer. A SIGKILL keeps the operating system's page cache, so it
// cannot show a missing fsync; this can.
//
// Directory entries are volatile too: a create, rename, unlink, mkdir or
// rmdir made since its directory's last fsync is taken back at a cut, as
// POSIX allows (a journaling filesystem such as ext4 would commit it with
// the next fsync of anything; careful programs do not rely on that). Not
// modelled: a directory renamed while entries inside it wait for a sync
// (they are journalled under its old path).
package faultfs

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

const pageSize = 4096

// FS is a mounted faultfs.
type FS struct {
	backing string
	server  *fuse.Server

	trash string // beside backing: files unlinked or replaced, until that is durable

	mu      sync.Mutex
	files   map[string]*overlay // by path under backing: unsynced contents
	journal []*entryOp          // entry changes not yet durable, oldest first
	trashed int                 // files put in the trash so far, to name the next
	frozen  bool                // the power is off: no sync reaches the backing files

	gone       chan struct{} // closed at Unmount: no frozen sync waits past it
	unmounting sync.Once
}

// overlay is a file's contents since its last fsync: whole pages, and the
// size the file has.
type overlay struct {
	pages map[int64][]byte
	size  int64
	// valid is how much of the backing file is still the file's: a
	// truncate below it cuts it, so a page read back later shows zeros
	// past it, not the old bytes.
	valid int64
}

// Mount serves backing at mountpoint (both existing directories) with a
// direct mount(2), which needs root.
func Mount(mountpoint, backing string) (*FS, error) {
	trash, err := os.MkdirTemp(filepath.Dir(backing), ".faultfs-trash-")
	if err != nil {
		return nil, err
	}
	f := &FS{backing: backing, trash: trash, files: map[string]*overlay{}, gone: make(chan struct{})}
	root := &fs.LoopbackRoot{Path: backing}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, fs: f}
	}
	rootNode := root.NewNode(root, nil, "", nil)
	root.RootNode = rootNode
	zero := time.Duration(0)
	server, err := fs.Mount(mountpoint, rootNode, &fs.Options{
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		// AllowOther: a PostgreSQL cluster on the mount runs as its own user.
		MountOptions: fuse.MountOptions{DirectMount: true, AllowOther: true, FsName: "faultfs", Name: "faultfs"},
	})
	if err != nil {
		return nil, err
	}
	f.server = server
	return f, nil
}

// MountForTest mounts for a test, unmounted when it ends. Without FUSE it
// skips on a developer's machine and fails in CI, which must run the
// power-loss tests.
func MountForTest(tb testing.TB, mountpoint, backing string) *FS {
	tb.Helper()
	f, err := Mount(mountpoint, backing)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("cannot mount FUSE (%v); CI must run the power-loss tests, as root with /dev/fuse", err)
		}
		tb.Skipf("cannot mount FUSE here: %v", err)
	}
	tb.Cleanup(func() { f.Unmount() })
	return f
}

// Unmount unmounts; the volatile layer stays until PowerCut or a sync.
func (f *FS) Unmount() error {
	f.unmounting.Do(func() { close(f.gone) })
	return f.server.Unmount()
}

// Freeze is the moment the power goes: from here no fsync reaches the
// backing files, and none answers success (no disk answers after the
// power is gone: a process that went on after a fake success would
// acknowledge what the cut then loses). A sync waits until the kernel
// interrupts it, as it does when the process that asked is killed, or the
// mount goes. Kill the processes, Unmount, then PowerCut.
func (f *FS) Freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = true
}

// Cut is what a power cut dropped.
type Cut struct {
	Bytes   int64            // of file contents, in whole pages as a disk's cache holds them
	ByFile  map[string]int64 // the same, by file name
	Entries []string         // the entry changes taken back, newest first
}

// PowerCut drops every write not yet synced, contents and entries, and
// says what that was. Unmount first, so that no page cache of the mount
// outlives it.
func (f *FS) PowerCut() Cut {
	f.mu.Lock()
	defer f.mu.Unlock()
	cut := Cut{ByFile: map[string]int64{}}
	for path, o := range f.files {
		n := int64(len(o.pages)) * pageSize
		cut.Bytes += n
		cut.ByFile[filepath.Base(path)] += n
	}
	f.files = map[string]*overlay{}
	cut.Entries = f.undoEntries()
	f.frozen = false
	return cut
}

// overlayOf returns path's overlay, making one from the backing file when
// make is set; nil when the file has no unsynced writes.
func (f *FS) overlayOf(path string, make bool) *overlay {
	o := f.files[path]
	if o == nil && make {
		var st syscall.Stat_t
		size := int64(0)
		if syscall.Stat(path, &st) == nil {
			size = st.Size
		}
		o = &overlay{pages: map[int64][]byte{}, size: size, valid: size}
		f.files[path] = o
	}
	return o
}

// page returns page n of path's overlay, read from the backing file first.
func (f *FS) page(path string, o *overlay, n int64) []byte {
	if p, ok := o.pages[n]; ok {
		return p
	}
	p := make([]byte, pageSize)
	if keep := min(pageSize, o.valid-n*pageSize); keep > 0 {
		if fd, err := syscall.Open(path, syscall.O_RDONLY, 0); err == nil {
			syscall.Pread(fd, p[:keep], n*pageSize)
			syscall.Close(fd)
		}
	}
	o.pages[n] = p
	return p
}

// sync writes path's overlay to the backing file and fsyncs it.
func (f *FS) sync(ctx context.Context, path string) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		return f.noPower(ctx)
	}
	return f.syncContents(path)
}

// noPower answers a sync once the power is gone: never success. It waits
// (with f.mu released) until the request is interrupted, as the kernel
// does when the process that asked is killed, or the mount goes.
func (f *FS) noPower(ctx context.Context) syscall.Errno {
	f.mu.Unlock()
	defer f.mu.Lock()
	select {
	case <-ctx.Done():
	case <-f.gone:
	}
	return syscall.EIO
}

// syncContents writes path's overlay to the backing file and fsyncs it.
// Called with f.mu held.
func (f *FS) syncContents(path string) syscall.Errno {
	o := f.files[path]
	if o == nil {
		return fsyncPath(path)
	}
	fd, err := syscall.Open(path, syscall.O_WRONLY, 0)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer syscall.Close(fd)
	for n, p := range o.pages {
		if n*pageSize >= o.size {
			continue
		}
		if _, err := syscall.Pwrite(fd, p[:min(pageSize, o.size-n*pageSize)], n*pageSize); err != nil {
			return fs.ToErrno(err)
		}
	}
	if err := syscall.Ftruncate(fd, o.size); err != nil {
		return fs.ToErrno(err)
	}
	if err := syscall.Fsync(fd); err != nil {
		return fs.ToErrno(err)
	}
	delete(f.files, path)
	return 0
}

func fsyncPath(path string) syscall.Errno {
	fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer syscall.Close(fd)
	return fs.ToErrno(syscall.Fsync(fd))
}

// node is a loopback node whose files go through the volatile layer.
type node struct {
	fs.LoopbackNode
	fs *FS
}

func (n *node) backingPath() string {
	return filepath.Join(n.fs.backing, n.EmbeddedInode().Path(nil))
}

var (
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.FileReader    = (*file)(nil)
	_ fs.FileWriter    = (*file)(nil)
	_ fs.FileFsyncer   = (*file)(nil)
	_ fs.FileGetattrer = (*file)(nil)
	_ fs.FileSetattrer = (*file)(nil)
	_ fs.FileAllocater = (*file)(nil)
)

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags&^syscall.O_TRUNC)
	if errno != 0 {
		return nil, 0, errno
	}
	f := &file{inner: fh, node: n, fs: n.fs}
	if flags&syscall.O_TRUNC != 0 {
		f.truncate(0)
	}
	return f, fl &^ fuse.FOPEN_PASSTHROUGH, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	existed := exists(filepath.Join(n.backingPath(), name))
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	n.created(name, existed)
	return ch, &file{inner: fh, node: ch.Operations().(*node), fs: n.fs}, fl &^ fuse.FOPEN_PASSTHROUGH, 0
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if f, ok := fh.(*file); ok {
		return f.Getattr(ctx, out)
	}
	if errno := n.LoopbackNode.Getattr(ctx, nil, out); errno != 0 {
		return errno
	}
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if o := n.fs.overlayOf(n.backingPath(), false); o != nil {
		out.Size = uint64(o.size)
	}
	return 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if f, ok := fh.(*file); ok {
		return f.Setattr(ctx, in, out)
	}
	if sz, ok := in.GetSize(); ok {
		(&file{node: n, fs: n.fs}).truncate(int64(sz))
		in.Valid &^= fuse.FATTR_SIZE
	}
	if errno := n.LoopbackNode.Setattr(ctx, nil, in, out); errno != 0 {
		return errno
	}
	return n.Getattr(ctx, nil, out)
}

func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return n.fs.sync(ctx, n.backingPath())
}

// file is an open file: reads see the volatile layer over the backing
// file, writes go to the layer, fsync empties it into the backing file.
type file struct {
	inner fs.FileHandle // the loopback file, for what the layer does not change
	node  *node         // its path is read at each call: the file may have been renamed
	fs    *FS
}

func (f *file) path() string { return f.node.backingPath() }

func (f *file) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	path := f.path() // before the lock: the inode tree has its own
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	o := f.fs.overlayOf(path, false)
	if o == nil {
		return f.readBacking(dest, off)
	}
	if off >= o.size {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), o.size)
	out := make([]byte, 0, end-off)
	for pos := off; pos < end; {
		n := pos / pageSize
		p := f.fs.page(path, o, n)
		k := min(end, (n+1)*pageSize)
		out = append(out, p[pos-n*pageSize:k-n*pageSize]...)
		pos = k
	}
	return fuse.ReadResultData(out), 0
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	path := f.path() // before the lock: the inode tree has its own
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	o := f.fs.overlayOf(path, true)
	end := off + int64(len(data))
	for pos := off; pos < end; {
		n := pos / pageSize
		p := f.fs.page(path, o, n)
		k := min(end, (n+1)*pageSize)
		copy(p[pos-n*pageSize:k-n*pageSize], data[pos-off:k-off])
		pos = k
	}
	o.size = max(o.size, end)
	return uint32(len(data)), 0
}

// truncate sets the file's size in the layer; pages past it are cleared.
func (f *file) truncate(size int64) {
	path := f.path() // before the lock: the inode tree has its own
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	o := f.fs.overlayOf(path, true)
	for n, p := range o.pages {
		switch {
		case n*pageSize >= size:
			delete(o.pages, n)
		case (n+1)*pageSize > size:
			clear(p[size-n*pageSize:])
		}
	}
	o.valid = min(o.valid, size)
	o.size = size
}

func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return f.fs.sync(ctx, f.path())
}

func (f *file) Flush(ctx context.Context) syscall.Errno {
	return f.inner.(fs.FileFlusher).Flush(ctx)
}

func (f *file) Release(ctx context.Context) syscall.Errno {
	return f.inner.(fs.FileReleaser).Release(ctx)
}

func (f *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if errno := f.inner.(fs.FileGetattrer).Getattr(ctx, out); errno != 0 {
		return errno
	}
	path := f.path() // before the lock: the inode tree has its own
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if o := f.fs.overlayOf(path, false); o != nil {
		out.Size = uint64(o.size)
	}
	return 0
}

func (f *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		f.truncate(int64(sz))
		in.Valid &^= fuse.FATTR_SIZE
	}
	if errno := f.inner.(fs.FileSetattrer).Setattr(ctx, in, out); errno != 0 {
		return errno
	}
	return f.Getattr(ctx, out)
}

// Allocate (fallocate) only grows the file: in the layer, like a write of
// zeros.
func (f *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	path := f.path() // before the lock: the inode tree has its own
	f.fs.mu.Lock()
	o := f.fs.overlayOf(path, true)
	grow := int64(off+size) > o.size
	f.fs.mu.Unlock()
	if grow {
		f.truncate(int64(off + size))
	}
	return 0
}

func (f *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return f.inner.(fs.FileLseeker).Lseek(ctx, off, whence)
}

// readBacking reads the backing file, for a file without unsynced writes.
func (f *file) readBacking(dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	fd, err := syscall.Open(f.path(), syscall.O_RDONLY, 0)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	defer syscall.Close(fd)
	n, err := syscall.Pread(fd, dest, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}
