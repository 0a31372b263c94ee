package client

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// IDs are 26 characters of Crockford base32 over 128 bits: 48 bits of Unix
// milliseconds, 16 bits of a counter, 64 random bits fixed per generator.
// Like a ULID with a monotonic counter: unique across processes and machines
// (the random part), and sortable by creation time, so that an id made later
// sorts later.
//
// Sortable ids matter to the store: the dedup index is a B-tree keyed by
// (topic, event_id). Ids that grow with time are inserted at the right edge
// of the index, into the same few hot pages, so each commit writes few pages
// and they stay in cache. Random ids (UUIDv4) land all over the index: every
// insert dirties a different leaf page, and once the index outgrows the cache
// each one costs a read too. `eventagg bench --id random|sortable` measures it.
type IDGenerator struct {
	mu      sync.Mutex
	node    [8]byte
	lastMS  uint64
	counter uint16
	now     func() time.Time
}

// NewIDGenerator returns a generator with a fresh random node part.
func NewIDGenerator() *IDGenerator {
	g := &IDGenerator{now: time.Now}
	if _, err := rand.Read(g.node[:]); err != nil {
		panic("client: no randomness for id generator: " + err.Error())
	}
	return g
}

var defaultIDs = NewIDGenerator()

// NewID returns a new sortable id from the process-wide generator.
func NewID() string { return defaultIDs.New() }

// New returns the next id: strictly greater than every id this generator
// returned before, even if the clock steps back.
func (g *IDGenerator) New() string {
	g.mu.Lock()
	ms := uint64(g.now().UnixMilli())
	switch {
	case ms > g.lastMS:
		g.lastMS, g.counter = ms, 0
	case g.counter == 0xffff:
		g.lastMS++ // borrow the next millisecond rather than wrap
		g.counter = 0
	default:
		g.counter++
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], g.lastMS<<16|uint64(g.counter))
	copy(b[8:], g.node[:])
	g.mu.Unlock()
	return encode(b)
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// encode writes 128 bits as 26 base32 digits, most significant first, so
// byte order and string order agree.
func encode(b [16]byte) string {
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
