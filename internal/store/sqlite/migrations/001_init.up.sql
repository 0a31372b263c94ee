-- Topics get a small integer id so every index on events stays compact.
-- last_seq is the writer's counter; the processed_* and *_ts columns are the
-- consumer's aggregates.
CREATE TABLE topics (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    received      INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    processed     INTEGER NOT NULL DEFAULT 0,
    processed_seq INTEGER NOT NULL DEFAULT 0,
    first_ts      INTEGER,
    last_ts       INTEGER
);

-- id is the global commit order: one writer assigns it, and rows are never
-- deleted, so it only grows. ts and received_at are µs since the epoch, UTC.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    topic_id    INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    event_id    TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    payload     BLOB    NOT NULL
);
-- The permanent deduplication key.
CREATE UNIQUE INDEX events_dedup ON events (topic_id, event_id);
-- Arrival order within a topic; UNIQUE makes a doubled seq impossible.
CREATE UNIQUE INDEX events_seq ON events (topic_id, seq);
-- Event-time order within a topic, ties broken by seq.
CREATE INDEX events_time ON events (topic_id, ts, seq);

-- One row of global counters. consumer_offset is the last events.id the
-- consumer applied; it moves in the same transaction as the aggregates.
CREATE TABLE counters (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    received        INTEGER NOT NULL DEFAULT 0,
    stored          INTEGER NOT NULL DEFAULT 0,
    duplicates      INTEGER NOT NULL DEFAULT 0,
    rejected        INTEGER NOT NULL DEFAULT 0,
    processed       INTEGER NOT NULL DEFAULT 0,
    consumer_offset INTEGER NOT NULL DEFAULT 0
);
INSERT INTO counters (id) VALUES (1);
