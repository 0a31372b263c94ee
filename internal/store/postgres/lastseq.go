package postgres

import (
	"math/rand/v2"
	"sync"

	"github.com/eventagg/eventagg/internal/store/namecache"
)

// lastSeqs is what this replica knows of its topics' last seqs and largest
// clocks, so that the group statement need not find each with a probe of
// events_seq (and of events_clock, for events sent without a clock): with
// 100,000 topics a group of 800 events touches some 800 topics, each a
// random index page.
//
// What it knows is only ever a hint, which the group statement checks under
// the bucket locks. Every group that adds to a bucket writes a random token
// of its own into the bucket's row (migration 005). If the token there is
// still the one of this replica's last commit in the bucket, no one has
// added to its topics since, and what this replica learned of them from its
// own commits still holds; otherwise the statement probes, as it would
// without hints. A position would not do: after a failover or a restore
// that lost commits, other events could bring a bucket back to the same
// position.
//
// Knowledge is per bucket "epoch": when a commit finds that someone else
// wrote the bucket since this replica last did, everything known of its
// topics is dropped at once (a new epoch), and a topic's seq counts only if
// learned in its bucket's current epoch. Only durable groups teach it (see
// append).
type lastSeqs struct {
	mu     sync.Mutex
	token  [buckets]int64  // each bucket's token as this replica's last commit in it left it
	epoch  [buckets]uint64 // 0: nothing known of the bucket
	next   uint64
	topics *namecache.Cache[seqAt] // by topic name, bounded
}

type seqAt struct {
	seq, clock int64 // clock: the topic's largest, -1 if not known
	epoch      uint64
}

func newLastSeqs(max int) *lastSeqs {
	return &lastSeqs{topics: namecache.New[seqAt](max)}
}

// newToken returns a group's token: random, and never 0, which stands for
// "unknown" (and is what a bucket holds before any group wrote one).
func newToken() int64 {
	for {
		if t := rand.Int64(); t != 0 {
			return t
		}
	}
}

// hints returns, for the group's topics (names and ids), each one's last
// seq and largest clock if known (-1 if not), and for its buckets the token
// under which they hold (0 if none); committed tells the hints learned from
// this replica's own commits (see appendGroup) from those of created topics.
//
// A topic whose row the group created (created) is known too, if its
// bucket's token here is still the one taken before the row was made
// (tokensBefore): the row had no events then, and that token still in the
// bucket's row means no one has added to the bucket since a commit that
// came before the row, so the topic's last seq and largest clock are 0.
// (A token learned after the row could be of a commit of this replica
// that added to the topic.) With a topic per customer most groups bring
// hundreds of new topics: this spares each a probe of events_seq that
// could find nothing.
func (c *lastSeqs) hints(topics []string, topicIDs []int64, created []bool, tokensBefore *[buckets]int64, bucketIDs []int32) (seqs, clocks, tokens []int64, committed []bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seqs, clocks, tokens = make([]int64, len(topics)), make([]int64, len(topics)), make([]int64, len(bucketIDs))
	committed = make([]bool, len(topics))
	for k, name := range topics {
		seqs[k], clocks[k] = -1, -1
		if t, ok := c.known(name, topicIDs[k]); ok {
			seqs[k], clocks[k], committed[k] = t.seq, t.clock, true
		} else if b := topicIDs[k] % buckets; created[k] && c.epoch[b] != 0 && c.token[b] == tokensBefore[b] {
			seqs[k], clocks[k] = 0, 0
		}
	}
	for n, b := range bucketIDs {
		if c.epoch[b] != 0 {
			tokens[n] = c.token[b]
		}
	}
	return seqs, clocks, tokens, committed
}

// tokens returns each bucket's token as this replica's last commit in it
// left it (see hints).
func (c *lastSeqs) tokens() (out [buckets]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// known is what is known of a topic in its bucket's current epoch.
func (c *lastSeqs) known(name string, id int64) (seqAt, bool) {
	e := c.epoch[id%buckets]
	if e == 0 {
		return seqAt{}, false
	}
	t, ok := c.topics.Get(name)
	return t, ok && t.epoch == e
}

// topicSeq is what a group did to a topic: its last seq and the largest
// clock among the group's events after it, the largest clock before it (-1
// if the group did not learn it), and its bucket.
type topicSeq struct {
	bucket                  int32
	seq, clock, clockBefore int64
}

// learn records a durable group that wrote token into the buckets of
// prior (each with the token it found there), and left each topic of seqs
// at that last seq.
func (c *lastSeqs) learn(token int64, prior map[int32]int64, seqs map[string]topicSeq) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for b, found := range prior {
		if c.epoch[b] == 0 || c.token[b] != found {
			c.next++ // someone else wrote it: forget what was known
			c.epoch[b] = c.next
		}
		c.token[b] = token
	}
	for name, t := range seqs {
		before := t.clockBefore
		if before < 0 {
			// Still known if the bucket's epoch held across the group.
			if k, ok := c.topics.Get(name); ok && k.epoch == c.epoch[t.bucket] {
				before = k.clock
			}
		}
		clock := int64(-1)
		if before >= 0 {
			clock = max(before, t.clock)
		}
		c.topics.Put(name, seqAt{seq: t.seq, clock: clock, epoch: c.epoch[t.bucket]})
	}
}
