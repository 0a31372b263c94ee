package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventagg/eventagg"
)

// Feed defaults. A live subscriber reads from the feed's ring of recent
// events; one that falls more than the ring behind reads the store at its
// own pace until it has caught up.
const (
	DefaultRingEvents = 1 << 16
	DefaultRingBytes  = 32 << 20
	// DefaultCatchUpReads: one store read at a time for all the streams
	// that are behind, whatever their number (on two cores, more would
	// take the writer's).
	DefaultCatchUpReads = 1
	// feedReadTimeout bounds one store read of the feed, so that a
	// database that stops answering cannot hold it past the link's return.
	feedReadTimeout = 30 * time.Second
	// feedPushed is how many committed groups may wait for the follower;
	// beyond it they are dropped and read back from the store, so at most
	// this many groups (of up to pipeline.DefaultConfig.MaxGroup events)
	// sit in memory.
	feedPushed = 8
	// feedPage is how many events one store read of the feed takes.
	feedPage = 1000
	// feedWoken bounds the one-topic wake-ups the feed holds: a stream that
	// leaves does not take its topic's back, so streams of topics that never
	// see an event would pile them up. Past it all are closed and forgotten:
	// their streams wake for nothing, find nothing and ask again.
	feedWoken = 1 << 16
)

// feed follows the store's all-topics stream once for every subscriber:
// after each commit (this replica's, or another's NOTIFY) it reads the new
// events, encodes each once, and keeps them in a bounded ring that the live
// streams copy from. It runs while any stream is open: the first starts it
// at the store's end, in one probe, and the last stops it.
type feed struct {
	store    eventagg.Store
	notifier Notifier
	poll     time.Duration
	logger   *slog.Logger
	maxN     int
	maxBytes int

	mu      sync.RWMutex
	ring    []entry                     // ring[head:] are the events, oldest first, in the store's all-topics order
	head    int                         // entries before it were dropped
	base    int64                       // ring[i] is entry number base+i of this run (see entry.prev)
	newest  map[string]int64            // the number of each topic's newest entry in the ring
	bytes   int                         // size of ring[head:]
	start   int64                       // the ring holds every event after this position, up to end
	end     int64                       // position of the newest event read
	wake    chan struct{}               // closed and replaced when events arrive
	woken   map[string]chan struct{}    // one-topic streams' wake-ups: closed and removed when an event of the topic arrives
	users   int                         // open streams
	running atomic.Bool                 // a follower runs (push reads it without the lock)
	pushed  chan []eventagg.StoredEvent // groups this replica's writer committed
	stop    context.CancelFunc
	gen     int64 // counts the follower's runs: a position from another run means nothing

	fromRing, fromStore atomic.Int64 // events delivered, for metrics
}

// entry is one committed event, encoded once: frame is its SSE frame for
// an all-topics stream, at offset off of a slab chunk; data is its JSON
// within the frame, and tid a one-topic stream's SSE id.
//
// prev and next number the entries of the same topic before and after it
// (-1: none in the ring yet), so that a one-topic stream visits only its
// own topic's events: scanning the ring made each of 1,000 one-topic
// streams look at every event, a sixth of the server's CPU.
type entry struct {
	pos        int64
	topic      string
	seq        int64
	tid        string
	frame      []byte
	data       []byte
	chunk      int64
	off        int
	prev, next int64
}

func (e *entry) size() int { return len(e.frame) + len(e.tid) + len(e.topic) + 64 }

// slab lays the feed's frames side by side in large chunks, so that a
// stream of all topics writes a run of consecutive events as one slice,
// without copying it (a hundred such streams copying every frame took an
// eighth of the server's CPU). Only one follower appends to a slab, and a
// frame never changes once made, so streams read frames without a lock.
type slab struct {
	chunk []byte
	id    int64
}

// slabChunk is the size of a slab's chunks; a chunk lives while the ring
// or a stream's pending write holds a frame of it.
const slabChunk = 256 << 10

// slabChunks numbers the chunks of every slab, so that two frames are side
// by side exactly when they have one chunk number and adjoining offsets.
var slabChunks atomic.Int64

// frame appends the SSE frame of an event with the given id and JSON. The
// frame's capacity runs to the chunk's end, so that a run of frames that
// adjoin can be grown over the next.
func (sl *slab) frame(id string, data []byte) (frame []byte, chunk int64, off int) {
	if n := frameSize(id, data); cap(sl.chunk)-len(sl.chunk) < n {
		sl.chunk, sl.id = make([]byte, 0, max(slabChunk, n)), slabChunks.Add(1)
	}
	off = len(sl.chunk)
	sl.chunk = appendFrame(sl.chunk, id, data)
	return sl.chunk[off:], sl.id, off
}

// batch is what a stream writes next: frames copied into buf, then runs of
// the feed's frames as they lie in its slab.
type batch struct {
	buf   bytes.Buffer
	runs  [][]byte
	size  int   // bytes in runs
	chunk int64 // the last run's chunk
	end   int   // and where in it the last run ends
}

func (b *batch) Len() int { return b.buf.Len() + b.size }

// run adds e's frame to the runs, growing the last when e's frame follows it.
func (b *batch) run(e *entry) {
	if n := len(b.runs); n > 0 && e.chunk == b.chunk && e.off == b.end {
		b.runs[n-1] = b.runs[n-1][:len(b.runs[n-1])+len(e.frame)]
	} else {
		b.runs = append(b.runs, e.frame)
	}
	b.chunk, b.end = e.chunk, e.off+len(e.frame)
	b.size += len(e.frame)
}

// writeTo writes buf and the runs, and empties b.
func (b *batch) writeTo(w io.Writer) error {
	defer b.reset()
	if b.buf.Len() > 0 {
		if _, err := w.Write(b.buf.Bytes()); err != nil {
			return err
		}
	}
	for _, r := range b.runs {
		if _, err := w.Write(r); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) reset() {
	b.buf.Reset()
	clear(b.runs) // so that a chunk the ring has dropped can go
	b.runs, b.size = b.runs[:0], 0
}

func newFeed(store eventagg.Store, notifier Notifier, poll time.Duration, maxN, maxBytes int, logger *slog.Logger) *feed {
	return &feed{store: store, notifier: notifier, poll: poll, maxN: maxN, maxBytes: maxBytes, logger: logger,
		wake: make(chan struct{}), pushed: make(chan []eventagg.StoredEvent, feedPushed), newest: map[string]int64{},
		woken: map[string]chan struct{}{}}
}

// join registers a stream; the first starts the follower at the store's
// end. It returns the run the stream belongs to.
func (f *feed) join(ctx context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users++
	if f.stop != nil {
		return f.gen, nil
	}
	end, err := f.store.End(ctx, "")
	if err != nil {
		f.users--
		return 0, err
	}
	f.gen++
	f.ring, f.head, f.bytes, f.base = f.ring[:0], 0, 0, 0
	clear(f.newest)
	f.wakeEveryTopic() // their streams are of the run before: to the store
	f.start, f.end = end.Pos, end.Pos
	fctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	f.running.Store(true)
	go f.follow(fctx, f.gen, &slab{})
	return f.gen, nil
}

// leave unregisters a stream; the last stops the follower.
func (f *feed) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users--
	if f.users == 0 && f.stop != nil {
		f.stop()
		f.stop = nil
		f.running.Store(false)
	}
}

// follow reads the store after each commit until ctx ends, from the
// newest position the feed has (push may have moved it: then the read
// finds nothing).
func (f *feed) follow(ctx context.Context, gen int64, sl *slab) {
	poll := time.NewTimer(f.poll)
	defer poll.Stop()
	read := true
	for {
		var changed <-chan struct{}
		if f.notifier != nil {
			changed = f.notifier.Committed()
		}
		after := eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: f.mark()}
		if read {
			rctx, cancel := context.WithTimeout(ctx, feedReadTimeout)
			page, err := f.store.Events(rctx, eventagg.EventQuery{Order: eventagg.ByArrival, After: after, Limit: feedPage})
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				f.logger.Warn("subscribe: the feed could not read; trying again", "err", err)
			} else if len(page.Events) > 0 {
				f.add(sl, gen, page.Events, false)
				if !page.Next.IsZero() {
					continue
				}
			}
		}
		poll.Reset(f.poll)
		select {
		case <-changed:
			read = !f.takePushed(sl, gen, nil)
		case group := <-f.pushed:
			read = !f.takePushed(sl, gen, group)
		case <-poll.C:
			read = true
		case <-ctx.Done():
			return
		}
	}
}

// add encodes events and appends those after the newest to the ring (a
// push or an earlier read may have given the first ones), dropping the
// oldest beyond its bounds, and wakes the streams. With follow it adds
// nothing unless they start right after the newest and have no gap, and
// reports whether it added them. Events of another run of the follower are
// dropped.
func (f *feed) add(sl *slab, gen int64, events []eventagg.StoredEvent, follow bool) bool {
	fresh := make([]entry, 0, len(events))
	var data []byte
	for i := range events {
		data = events[i].AppendJSON(data[:0])
		fresh = append(fresh, sl.entry(&events[i], data))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen != f.gen {
		return false // stopped, and perhaps restarted elsewhere in the stream
	}
	for len(fresh) > 0 && fresh[0].pos <= f.end {
		fresh = fresh[1:]
	}
	for i := range fresh {
		if follow && fresh[i].pos != f.end+1+int64(i) {
			return false
		}
	}
	f.appendLocked(fresh)
	return true
}

// push hands the feed a group this replica's writer has just committed,
// before the commit is announced: the follower then takes the events from
// memory instead of reading them back. It never blocks the writer: when the
// follower is behind, or stopped, the group is dropped and the follower
// reads it from the store.
func (f *feed) push(events []eventagg.Event, out []eventagg.Appended) {
	if !f.running.Load() {
		return
	}
	var group []eventagg.StoredEvent
	for i := range events {
		if a := out[i]; !a.Duplicate && a.Position != 0 {
			group = append(group, eventagg.StoredEvent{Event: withClock(events[i], a.Clock), Seq: a.Seq, ReceivedAt: a.ReceivedAt, Position: a.Position})
		}
	}
	if len(group) == 0 {
		return
	}
	select {
	case f.pushed <- group:
	default:
	}
}

// withClock is e as stored: with the clock the store gave it.
func withClock(e eventagg.Event, clock int64) eventagg.Event {
	e.Clock, e.HasClock = clock, true
	return e
}

// takePushed adds the groups pushed so far and reports whether they cover
// what was committed: each follows the feed's newest position without a gap
// (on SQLite a new event's id is the largest plus one). When none was
// pushed (another replica's commit, or a store that gives no positions) or
// one does not follow, the follower must read the store.
func (f *feed) takePushed(sl *slab, gen int64, group []eventagg.StoredEvent) bool {
	for took := false; ; took = true {
		if group == nil {
			select {
			case group = <-f.pushed:
			default:
				return took
			}
		}
		if !f.add(sl, gen, group, true) {
			return false
		}
		group = nil
	}
}

// entry makes e's ring entry from its JSON, its frame in the slab.
func (sl *slab) entry(e *eventagg.StoredEvent, data []byte) entry {
	gid := eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: e.Position}.String()
	frame, chunk, off := sl.frame(gid, data)
	end := len(frame) - len(frameEnd)
	return entry{pos: e.Position, topic: e.Topic, seq: e.Seq, frame: frame, chunk: chunk, off: off,
		data: frame[end-len(data) : end : end],
		tid:  eventagg.Cursor{Order: eventagg.ByArrival, Pos: e.Seq}.String()}
}

// appendLocked appends entries that follow the newest, drops the oldest
// beyond the ring's bounds, and wakes the streams. f.mu is held.
func (f *feed) appendLocked(fresh []entry) {
	if len(fresh) == 0 {
		return
	}
	for i := range fresh {
		e := fresh[i]
		n := f.base + int64(len(f.ring))
		e.prev, e.next = -1, -1
		if j, ok := f.newest[e.topic]; ok {
			e.prev = j
			f.entry(j).next = n
		}
		f.newest[e.topic] = n
		f.ring = append(f.ring, e)
		f.bytes += e.size()
	}
	f.end = fresh[len(fresh)-1].pos
	// Drop from the front; compact when the dead prefix is as long as
	// what stays, so appends stay amortised O(1).
	for len(f.ring)-f.head > f.maxN || (f.bytes > f.maxBytes && len(f.ring)-f.head > 1) {
		e := &f.ring[f.head]
		f.bytes -= e.size()
		f.start = e.pos
		if e.next < 0 {
			delete(f.newest, e.topic)
		} else {
			f.entry(e.next).prev = -1
		}
		*e = entry{}
		f.head++
	}
	if f.head > len(f.ring)/2 {
		f.ring = append(f.ring[:0], f.ring[f.head:]...)
		f.base += int64(f.head)
		f.head = 0
	}
	close(f.wake)
	f.wake = make(chan struct{})
	if len(f.woken) > 0 {
		for i := range fresh {
			if ch, ok := f.woken[fresh[i].topic]; ok {
				close(ch)
				delete(f.woken, fresh[i].topic)
			}
		}
	}
}

// wakeEveryTopic closes and forgets every one-topic wake-up. f.mu is held.
func (f *feed) wakeEveryTopic() {
	for _, ch := range f.woken {
		close(ch)
	}
	clear(f.woken)
}

// entry is the ring's entry number n. f.mu is held.
func (f *feed) entry(n int64) *entry { return &f.ring[n-f.base] }

// waiter returns a channel closed when events arrive after now: of topic
// only, unless it is "". Waking one-topic streams only for their topic
// matters with many topics: woken by every commit, 1,000 of them spent half
// their CPU in select.
func (f *feed) waiter(topic string) <-chan struct{} {
	if topic == "" {
		f.mu.RLock()
		defer f.mu.RUnlock()
		return f.wake
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.woken[topic]
	if !ok {
		if len(f.woken) >= feedWoken {
			f.wakeEveryTopic()
		}
		ch = make(chan struct{})
		f.woken[topic] = ch
	}
	return ch
}

// mark is where a stream that has just caught up with the store may join
// the ring: the newest position the feed has read. Taken before that last
// store read, every event the read did not see is after it.
func (f *feed) mark() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.end
}

// live is a stream that reads from the ring: pos is the ring position it
// has passed; a one-topic stream also keeps the seq it has delivered.
type live struct {
	gen   int64
	topic string // "" for all topics
	scope Scope  // of an all-topics stream: the topics its key may read
	pos   int64
	seq   int64
}

// collect adds to b the SSE frames of the events after l.pos that l
// wants, up to about max bytes, and moves l on: a stream of all topics
// without a scope takes them as runs of the slab, the others copy. It reports false when the
// ring cannot serve l: the events after l.pos were dropped, the feed
// restarted, or a one-topic stream would skip a seq (another replica's
// commit that the all-topics order put before the feed's position); the
// stream then reads the store.
func (f *feed) collect(l *live, b *batch, max int) (n int, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if l.gen != f.gen {
		return 0, false
	}
	if l.topic != "" {
		return f.collectTopic(l, b, max)
	}
	if l.pos < f.start {
		return 0, false
	}
	ring, i := f.after(l.pos)
	for ; i < len(ring) && b.Len() < max; i++ {
		e := &ring[i]
		l.pos = e.pos
		switch {
		case l.scope == nil:
			b.run(e)
			n++
		case l.scope.Allows(e.topic):
			b.buf.Write(e.frame)
			n++
		}
	}
	return n, true
}

// collectTopic is collect for a one-topic stream: from its topic's newest
// entry back to the first after the seq it has sent, then forward along
// the topic's entries. It goes by seq, not by l.pos: a stream is woken
// only by its own topic, so while that is quiet the ring may move past its
// position without dropping anything it needs; the first entry of its
// topic must follow its seq, or the stream reads the store. f.mu is held.
func (f *feed) collectTopic(l *live, b *batch, max int) (n int, ok bool) {
	j, found := f.newest[l.topic]
	if !found || f.entry(j).seq <= l.seq {
		l.pos = f.end // nothing of its topic after what it has
		return 0, true
	}
	for e := f.entry(j); e.prev >= 0 && f.entry(e.prev).seq > l.seq; e = f.entry(j) {
		j = e.prev
	}
	for ; j >= 0 && b.Len() < max; j = f.entry(j).next {
		e := f.entry(j)
		if e.seq != l.seq+1 {
			return n, false
		}
		l.pos = e.pos
		writeFrame(&b.buf, e.tid, e.data)
		l.seq = e.seq
		n++
	}
	if j < 0 {
		l.pos = f.end // every event of its topic in the ring is sent
	}
	return n, true
}

// lag is how many events of the ring are after pos, or for a stream of
// one topic (whose pos moves only when its topic's events arrive) how many
// of its topic's are after seq: seqs have no gaps.
func (f *feed) lag(topic string, pos, seq int64) int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if topic == "" {
		ring, i := f.after(pos)
		return int64(len(ring) - i)
	}
	if j, ok := f.newest[topic]; ok {
		return max(0, f.entry(j).seq-seq)
	}
	return 0
}

// after returns the ring's events and the index of the first after pos.
// f.mu is held.
func (f *feed) after(pos int64) ([]entry, int) {
	ring := f.ring[f.head:]
	return ring, sort.Search(len(ring), func(i int) bool { return ring[i].pos > pos })
}

// An event's SSE frame is "id: ID\ndata: JSON\n\n".
const frameEnd = "\n\n"

func appendFrame(dst []byte, id string, data []byte) []byte {
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, frameEnd...)
}

func frameSize(id string, data []byte) int {
	return len("id: \ndata: ") + len(id) + len(data) + len(frameEnd)
}

func writeFrame(buf *bytes.Buffer, id string, data []byte) {
	buf.Write(appendFrame(buf.AvailableBuffer(), id, data))
}
