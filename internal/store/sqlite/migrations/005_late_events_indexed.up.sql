-- Only the late events pay for time and causal order. With many topics
-- every insert into a (topic_id, …) index lands on a page of its own; of
-- the three such indexes every event went into (seq, time, clock), two are
-- needed only for the events that arrive out of order. An event is in
-- order (in_order = 1) when its timestamp and its clock are each at least
-- every earlier event's of its topic: along seq those events are sorted by
-- time and by clock already, so one index by seq lists them in all three
-- orders. The others (in_order = 0) go into an index by seq and into the
-- time and clock indexes, all partial. Every listing by topic merges the
-- two sets (see query.go); each is one index range, so no listing reads
-- past events it does not return. The events stored before count as late:
-- the new indexes hold all of them, as the old ones did.
ALTER TABLE events ADD COLUMN in_order INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX events_seq_late ON events (topic_id, seq) WHERE in_order = 0;
CREATE UNIQUE INDEX events_seq_in ON events (topic_id, seq) WHERE in_order = 1;
CREATE INDEX events_time_late ON events (topic_id, ts, seq) WHERE in_order = 0;
CREATE INDEX events_clock_late ON events (topic_id, clock, seq) WHERE in_order = 0;
DROP INDEX events_seq;
DROP INDEX events_time;
DROP INDEX events_clock;
