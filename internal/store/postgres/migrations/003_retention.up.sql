-- Retention (--retention). An expired event keeps its row, so its dedup key
-- (the unique constraint) and its seq (a topic's last seq is its max) stay;
-- only its source and payload are cleared. Expiry goes in pos order within
-- each bucket, which is commit order there, so the expired events are a
-- prefix of each bucket's positions and of each topic's seqs:
--
--   * bucket_expiry holds, per bucket, the last expired pos, the id of that
--     event (ids rise with pos within a bucket: its groups commit one after
--     the other) and how many expired; /stats sums them;
--   * topic_expiry holds, per topic that has any, its last expired seq:
--     listings start after it.
--
-- They are tables of their own, which no writer or consumer locks, so an
-- expiry never waits for publishing and publishing never waits for it.
CREATE TABLE bucket_expiry (
    bucket      int    PRIMARY KEY,
    expired_pos bigint NOT NULL DEFAULT 0,
    expired_id  bigint NOT NULL DEFAULT 0,
    expired     bigint NOT NULL DEFAULT 0
);
INSERT INTO bucket_expiry (bucket) SELECT generate_series(0, 63);

CREATE TABLE topic_expiry (
    topic_id    bigint PRIMARY KEY,
    expired_seq bigint NOT NULL
);
