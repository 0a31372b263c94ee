-- Many topics. Every group rewrote the row of each topic it touched (last
-- seq, received, duplicates) and every consumer pass did it again (processed,
-- processed_seq, first/last time): with groups spread over hundreds of
-- topics that was most of the work. What the events' own indexes already
-- hold is now read from them when asked for (the last seq from events_seq,
-- the first and last time from events_time, processed from the consumer's
-- global offset), and the row keeps only what nothing else can tell: the
-- duplicates. counters.topics keeps the number of topics, so /stats need not
-- count them.
ALTER TABLE counters ADD COLUMN topics INTEGER NOT NULL DEFAULT 0;
UPDATE counters SET topics = (SELECT count(*) FROM topics);
ALTER TABLE topics DROP COLUMN last_seq;
ALTER TABLE topics DROP COLUMN received;
ALTER TABLE topics DROP COLUMN processed;
ALTER TABLE topics DROP COLUMN processed_seq;
ALTER TABLE topics DROP COLUMN first_ts;
ALTER TABLE topics DROP COLUMN last_ts;
