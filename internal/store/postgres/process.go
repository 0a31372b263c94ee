package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// leaseTopics is the most topics one consumer transaction takes.
const leaseTopics = 64

// Process implements eventagg.Store. One call is one transaction: it leases
// the offset rows of the topics with pending events (FOR UPDATE SKIP LOCKED,
// so replicas share the topics and never wait on each other), applies the
// next events of each in seq order and moves the offsets in the same
// transaction. A replica killed mid-way loses its leases with its
// connection, and the next one resumes at the committed offsets.
//
// Leasing every pending topic at once keeps the consumer at one transaction
// (one fsync) per pass, however many topics there are and however many
// replicas run a consumer.
func (s *Store) Process(ctx context.Context, limit int) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var leased struct{ topics, after, pending []int64 }
		rows, err := tx.Query(ctx, `SELECT o.topic_id, o.processed_seq, t.last_seq - o.processed_seq
			FROM consumer_offsets o JOIN topics t ON t.id = o.topic_id
			WHERE t.last_seq > o.processed_seq
			ORDER BY o.topic_id LIMIT $1 FOR UPDATE OF o SKIP LOCKED`, leaseTopics)
		if err != nil {
			return fmt.Errorf("lease topics: %w", err)
		}
		var topic, after, pending int64
		if _, err := pgx.ForEachRow(rows, []any{&topic, &after, &pending}, func() error {
			leased.topics, leased.after, leased.pending = append(leased.topics, topic), append(leased.after, after), append(leased.pending, pending)
			return nil
		}); err != nil {
			return fmt.Errorf("lease topics: %w", err)
		}
		if len(leased.topics) == 0 {
			return nil // caught up, or every pending topic is leased elsewhere
		}

		// Each topic's range is exact: a writer moves last_seq in the
		// transaction that stores the events, so all of (after, upto] is
		// visible, without holes.
		share := shareOut(leased.pending, int64(limit))
		upto := make([]int64, len(share))
		for i := range share {
			upto[i] = leased.after[i] + share[i]
		}
		// Per topic, ORDER BY seq LIMIT: the one plan is a range of the
		// (topic_id, seq) index, whatever the statistics say.
		rows, err = tx.Query(ctx, `SELECT k.topic_id, e.seq, e.ts
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS k(topic_id, after, n)
			CROSS JOIN LATERAL (SELECT seq, ts FROM events
				WHERE topic_id = k.topic_id AND seq > k.after ORDER BY seq LIMIT k.n) AS e`,
			leased.topics, leased.after, share)
		if err != nil {
			return fmt.Errorf("read pending: %w", err)
		}
		effects := map[int64]*effect{}
		var seq, ts int64
		if _, err := pgx.ForEachRow(rows, []any{&topic, &seq, &ts}, func() error {
			e := effects[topic]
			if e == nil {
				e = &effect{first: ts, last: ts}
				effects[topic] = e
			}
			e.add(seq, ts)
			return nil
		}); err != nil {
			return fmt.Errorf("read pending: %w", err)
		}

		var u struct{ topics, seqs, counts, firsts, lasts []int64 }
		for i, topic := range leased.topics {
			e := effects[topic]
			if share[i] == 0 {
				continue
			}
			if e == nil || e.count != share[i] || e.seq != upto[i] {
				return fmt.Errorf("consumer: topic %d: seqs %d..%d are not all there: sequence broken", topic, leased.after[i]+1, upto[i])
			}
			u.topics, u.seqs, u.counts = append(u.topics, topic), append(u.seqs, e.seq), append(u.counts, e.count)
			u.firsts, u.lasts = append(u.firsts, e.first), append(u.lasts, e.last)
			n += int(e.count)
		}
		// Offsets, aggregates and the processed counter commit together.
		_, err = tx.Exec(ctx, `WITH moved AS (
				UPDATE consumer_offsets o SET processed_seq = u.seq, processed = o.processed + u.n,
				       first_ts = LEAST(COALESCE(o.first_ts, u.first), u.first),
				       last_ts = GREATEST(COALESCE(o.last_ts, u.last), u.last)
				FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(topic_id, seq, n, first, last)
				WHERE o.topic_id = u.topic_id
			)
			UPDATE counters SET processed = processed + $6 WHERE shard = $7`,
			u.topics, u.seqs, u.counts, u.firsts, u.lasts, n, shard())
		if err != nil {
			return fmt.Errorf("save offsets: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, interpretError(err)
	}
	return n, nil
}

// effect is what one pass applies to one topic.
type effect struct {
	seq, count  int64 // last seq applied, and how many
	first, last int64 // earliest and latest event time, µs
}

func (e *effect) add(seq, ts int64) {
	e.seq = max(e.seq, seq)
	e.count++
	e.first, e.last = min(e.first, ts), max(e.last, ts)
}

// shareOut splits limit over the topics' pending counts: each gets an equal
// share, and what one does not need goes to the others, so one topic's
// backlog does not starve the rest.
func shareOut(pending []int64, limit int64) []int64 {
	share := make([]int64, len(pending))
	for left := max(limit, 1); left > 0; {
		open := int64(0)
		for i := range pending {
			if share[i] < pending[i] {
				open++
			}
		}
		if open == 0 {
			break
		}
		each := max(left/open, 1)
		for i := range pending {
			give := min(each, pending[i]-share[i], left)
			share[i] += give
			left -= give
		}
	}
	return share
}
