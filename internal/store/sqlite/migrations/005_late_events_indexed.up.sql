-- Time and causal order index only the late events. With many topics every
-- insert into a (topic_id, …) index lands on a page of its own; of the
-- three such indexes (seq, time, clock) two are needed only for the events
-- that arrive out of order. An event is in time order (in_time = 1) when
-- its timestamp is at least every earlier event's of its topic, and in
-- clock order (in_clock = 1) likewise for its clock: along seq those
-- events are already sorted, so the seq index lists them, and only the
-- others go into the partial indexes. A listing by time or clock merges
-- the two (see query.go). The events stored before count as late (0):
-- the new indexes hold all of them, as the old ones did, and no order has
-- to be worked out for them here.
ALTER TABLE events ADD COLUMN in_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN in_clock INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_time_late ON events (topic_id, ts, seq) WHERE in_time = 0;
CREATE INDEX events_clock_late ON events (topic_id, clock, seq) WHERE in_clock = 0;
DROP INDEX events_time;
DROP INDEX events_clock;
-- late_upto is the topic's last seq at this migration: what is at or below
-- it is late by definition, so a search for the last in-order event stops
-- there instead of reading every old event.
ALTER TABLE topics ADD COLUMN late_upto INTEGER NOT NULL DEFAULT 0;
UPDATE topics SET late_upto = (SELECT COALESCE(max(seq), 0) FROM events WHERE topic_id = topics.id);
