-- A long history. The dedup key was a UNIQUE index on events (topic_id,
-- event_id): with random ids every new event wrote one random page of it,
-- and once the index outgrew the page cache each group of a few hundred
-- events rewrote a few hundred scattered pages, so ingest slowed as history
-- grew (0.52x of the empty store at 3.6M events). The keys of the newest
-- events now live in the writer's memory, rebuilt at start from the events
-- themselves (their rows are the durable record), and are merged into
-- dedup_keys in key order many at a time, which touches each page once for
-- many keys. keys_merged is the last events.id whose key dedup_keys holds.
--
-- key is the first 16 bytes of SHA-256 over the topic id (8 bytes, big
-- endian) and the event id: two different events collide with probability
-- about n^2 / 2^129, below 10^-18 for ten billion events.
CREATE TABLE dedup_keys (
    key BLOB    PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE counters ADD COLUMN keys_merged INTEGER NOT NULL DEFAULT 0;
-- Two levels, as in a log-structured merge tree: merges write the recent
-- keys into dedup_recent, which stays small enough that a merge rewrites
-- few of its pages; once it holds an eighth as many keys as dedup_keys it
-- is moved there in key order, touching each page of dedup_keys about once
-- for many keys. A key is in one or both; lookups read both. keys_recent
-- and keys_stored count their rows.
CREATE TABLE dedup_recent (
    key BLOB    PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE counters ADD COLUMN keys_recent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counters ADD COLUMN keys_stored INTEGER NOT NULL DEFAULT 0;
-- The existing events' keys are merged by the store when it opens (it
-- reads every event above keys_merged): SQL has no SHA-256 to do it here.
DROP INDEX events_dedup;

-- Retention. With the keys in dedup_keys, an expired event's row can go
-- whole (its pages return to the free list and new events reuse them, so
-- the file stops growing at a steady retained volume), while its key and
-- seq stay and a retry is still a duplicate. Expiry goes in id order, so
-- each topic loses a prefix of its seqs: expired_seq is that prefix's end
-- (the topic's last seq and processed count cannot be read from events it
-- no longer has), expired_upto the last events.id expired.
ALTER TABLE topics ADD COLUMN expired_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counters ADD COLUMN expired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counters ADD COLUMN expired_upto INTEGER NOT NULL DEFAULT 0;
