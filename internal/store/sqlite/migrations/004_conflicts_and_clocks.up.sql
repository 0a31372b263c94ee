-- Conflict verdicts. Each event's content digest (eventagg.Digest: 64 bits
-- of SHA-256 over its timestamp, source and canonical payload) is kept
-- where its dedup key is, so that a repeat of a key can be told apart from
-- a different event under it: in the event's row, and in dedup_keys and
-- dedup_recent, which outlive the row under retention. 0 means unknown.
-- The existing events' digests are computed by the store when it opens
-- (SQL has no SHA-256 or RFC 8785): digests_missing is the highest events.id
-- whose digest may still be missing, 0 once all are in. Keys whose events
-- expired before this migration keep 0, and a repeat of them stays a
-- duplicate: their content is gone.
ALTER TABLE events ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dedup_keys ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dedup_recent ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
ALTER TABLE topics ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counters ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counters ADD COLUMN digests_missing INTEGER NOT NULL DEFAULT 0;
UPDATE counters SET digests_missing = (SELECT COALESCE(max(id), 0) FROM events);

-- Causal order. clock is the publisher's Lamport time as sent, or, for an
-- event sent without one, the largest clock its topic had stored when it
-- committed (events stored before clocks existed had none: 0). events_clock
-- serves order=causal and a topic's largest clock; expired_clock keeps the
-- largest of a topic's expired events, as expired_seq keeps its last seq.
ALTER TABLE events ADD COLUMN clock INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_clock ON events (topic_id, clock, seq);
ALTER TABLE topics ADD COLUMN expired_clock INTEGER NOT NULL DEFAULT 0;
