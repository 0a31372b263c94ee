-- Only the late events pay for time and causal order, as in the SQLite
-- store's migration 005: with many topics every insert into a (topic_id,
-- …) index writes a page of its own, and of the three such indexes every
-- event went into (seq, time, clock) two are needed only for the events
-- that arrive out of order. An event is in order when its timestamp and
-- its clock are each at least every earlier event's of its topic: along
-- seq those are sorted by time and by clock already, so one index by seq
-- lists them in all three orders. The others go into an index by seq and
-- into the time and clock indexes, all partial. Listings by topic merge
-- the two sets (query.go). The events stored before count as late.
ALTER TABLE events ADD COLUMN in_order boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX events_seq_late ON events (topic_id, seq) WHERE NOT in_order;
CREATE UNIQUE INDEX events_seq_in ON events (topic_id, seq) WHERE in_order;
CREATE INDEX events_time_late ON events (topic_id, ts, seq) WHERE NOT in_order;
CREATE INDEX events_clock_late ON events (topic_id, clock, seq) WHERE NOT in_order;
ALTER TABLE events DROP CONSTRAINT events_topic_id_seq_key;
DROP INDEX events_time;
DROP INDEX events_clock;
