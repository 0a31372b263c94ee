-- Many topics: /stats no longer lists every topic, so it needs their number
-- without counting them (counters.topics, moved by the group that gives a
-- topic its first event), and GET /topics pages through them in byte order
-- (COLLATE "C", the order Go compares strings in, whatever the database's
-- collation), which this index serves.
ALTER TABLE counters ADD COLUMN topics bigint NOT NULL DEFAULT 0;
UPDATE counters SET topics = (SELECT count(*) FROM topics WHERE received > 0) WHERE shard = 0;
CREATE INDEX topics_name_bytes ON topics (name COLLATE "C");
