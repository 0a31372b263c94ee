-- Topics: one row per topic. The writer locks a topic's row (FOR UPDATE) for
-- the length of a group's transaction: that is what makes seq gap-free across
-- replicas. received/duplicates move under the same lock.
CREATE TABLE topics (
    id         bigserial PRIMARY KEY,
    name       text   NOT NULL UNIQUE,
    last_seq   bigint NOT NULL DEFAULT 0,
    received   bigint NOT NULL DEFAULT 0,
    duplicates bigint NOT NULL DEFAULT 0
);

-- id orders the all-topics listing (allocation order across replicas).
-- ts and received_at are µs since the epoch, UTC.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    topic_id    bigint NOT NULL,
    seq         bigint NOT NULL,
    event_id    text   NOT NULL,
    ts          bigint NOT NULL,
    received_at bigint NOT NULL,
    source      text   NOT NULL,
    payload     bytea  NOT NULL,
    UNIQUE (topic_id, event_id),   -- the permanent deduplication key
    UNIQUE (topic_id, seq)
);
CREATE INDEX events_time ON events (topic_id, ts, seq);

-- The consumer's state per topic, in its own table so that a consumer
-- holding its lease never blocks writers, who lock topics.
CREATE TABLE consumer_offsets (
    topic_id      bigint PRIMARY KEY,
    processed_seq bigint NOT NULL DEFAULT 0,
    processed     bigint NOT NULL DEFAULT 0,
    first_ts      bigint,
    last_ts       bigint
);

-- Global counters, sharded: each transaction adds to one random shard, so
-- replicas do not queue on a single row; /stats sums the shards.
CREATE TABLE counters (
    shard      int    PRIMARY KEY,
    received   bigint NOT NULL DEFAULT 0,
    stored     bigint NOT NULL DEFAULT 0,
    duplicates bigint NOT NULL DEFAULT 0,
    rejected   bigint NOT NULL DEFAULT 0,
    processed  bigint NOT NULL DEFAULT 0
);
INSERT INTO counters (shard) SELECT generate_series(0, 15);
