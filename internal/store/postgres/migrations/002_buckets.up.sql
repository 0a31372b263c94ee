-- Many topics. Every group locked and rewrote the row of each topic it
-- touched, and every consumer pass rewrote each topic's offset: with groups
-- spread over hundreds of topics that was most of the work. Now topics hash
-- into 64 buckets (topic_id % 64; the number is part of this schema):
--
--   * a group locks the rows of the buckets its topics fall in (at most 64,
--     in id order, so replicas never deadlock) instead of one row a topic;
--     while it holds a bucket no other group can add to its topics, so the
--     next seq of a topic is max(seq) + 1, read from events_seq;
--   * each event also gets pos, gap-free within its bucket in commit order,
--     and the consumer keeps one offset a bucket (bucket_offsets, its own
--     table so that a consumer's lease never blocks writers);
--   * a topic's row keeps only what nothing else can tell, its duplicates:
--     last seq, received (last seq + duplicates), processed (its events at
--     or below the bucket offset) and first/last time (events_time) are
--     read from the indexes when asked for.
--
-- Existing events get positions with each bucket's processed events first,
-- so that one offset a bucket says exactly what was processed.
ALTER TABLE events ADD COLUMN pos bigint;
WITH r AS (
    SELECT e.id, row_number() OVER (PARTITION BY e.topic_id % 64
                                    ORDER BY e.seq > COALESCE(o.processed_seq, 0), e.topic_id, e.seq) AS pos
    FROM events e LEFT JOIN consumer_offsets o ON o.topic_id = e.topic_id
)
UPDATE events SET pos = r.pos FROM r WHERE events.id = r.id;
ALTER TABLE events ALTER COLUMN pos SET NOT NULL;
CREATE UNIQUE INDEX events_bucket_pos ON events ((topic_id % 64), pos);

CREATE TABLE buckets (
    id       int    PRIMARY KEY,
    last_pos bigint NOT NULL DEFAULT 0
);
INSERT INTO buckets (id, last_pos)
SELECT b, COALESCE((SELECT max(pos) FROM events WHERE topic_id % 64 = b), 0) FROM generate_series(0, 63) AS b;

CREATE TABLE bucket_offsets (
    bucket        int    PRIMARY KEY,
    processed_pos bigint NOT NULL DEFAULT 0
);
INSERT INTO bucket_offsets (bucket, processed_pos)
SELECT b, (SELECT count(*) FROM events e JOIN consumer_offsets o ON o.topic_id = e.topic_id
           WHERE e.topic_id % 64 = b AND e.seq <= o.processed_seq)
FROM generate_series(0, 63) AS b;

-- /stats needs the number of topics without counting them: a group adds
-- the topics it gives their first events.
ALTER TABLE counters ADD COLUMN topics bigint NOT NULL DEFAULT 0;
UPDATE counters SET topics = (SELECT count(*) FROM topics WHERE last_seq > 0) WHERE shard = 0;

ALTER TABLE topics DROP COLUMN last_seq, DROP COLUMN received;
DROP TABLE consumer_offsets;
-- GET /topics pages in byte order (the order Go compares strings in),
-- whatever the database's collation.
CREATE INDEX topics_name_bytes ON topics (name COLLATE "C");
