-- Conflict verdicts. Each event keeps its content digest (eventagg.Digest:
-- 64 bits of SHA-256 over its timestamp, source and canonical payload) in
-- its row, beside its dedup key (the UNIQUE index), so a repeat of a key can
-- be told apart from a different event under it; retention keeps the row,
-- so the digest outlives the payload. 0 means unknown. The existing events'
-- digests are computed by the store when it opens (SQL has no RFC 8785):
-- digests_missing.upto is the highest events.id whose digest may still be
-- missing, 0 once all are in. Events whose payload had expired before this
-- keep 0, and a repeat of them stays a duplicate: their content is gone.
ALTER TABLE events ADD COLUMN digest bigint NOT NULL DEFAULT 0;
ALTER TABLE topics ADD COLUMN conflicts bigint NOT NULL DEFAULT 0;
ALTER TABLE counters ADD COLUMN conflicts bigint NOT NULL DEFAULT 0;
CREATE TABLE digests_missing (
    id   int    PRIMARY KEY CHECK (id = 1),
    upto bigint NOT NULL
);
INSERT INTO digests_missing SELECT 1, COALESCE(max(id), 0) FROM events;

-- Causal order. clock is the publisher's Lamport time as sent, or, for an
-- event sent without one, the largest clock its topic had stored when it
-- committed (events stored before clocks existed had none: 0). events_clock
-- serves order=causal and a topic's largest clock (retention keeps rows).
ALTER TABLE events ADD COLUMN clock bigint NOT NULL DEFAULT 0;
CREATE INDEX events_clock ON events (topic_id, clock, seq);
