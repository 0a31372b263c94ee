-- Many topics, the rest of it. Every group still wrote two B-trees at one
-- random place per topic it touched: the name index (for each new topic)
-- and events_seq_in (for each event). With 100,000 topics a group of 800
-- events dirtied some 800 scattered pages where 8 topics dirty a handful,
-- and each dirty page is a WAL frame and, later, a write of the file. Both
-- now have a small level in front, as the dedup keys do (migration 003):
-- the writer inserts into the *_recent table, whose few pages a group
-- touches whatever the topics, and a merge (Store.mergeLevels) moves it
-- into the large one in key order, touching each of its pages once for
-- many rows. A topic with many events in a group has them written into
-- seq_in directly (one page takes them all; the recent level would only
-- add two more writes of each row). So a topic's in-order events may be
-- in either level, in any order: reads merge both by seq.
CREATE TABLE topic_names (
    name TEXT    PRIMARY KEY,
    id   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE topic_names_recent (
    name TEXT    PRIMARY KEY,
    id   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO topic_names (name, id) SELECT name, id FROM topics;

-- The topics table loses its UNIQUE name index (SQLite drops a constraint
-- only by copying the table): the name levels replace it.
CREATE TABLE topics_by_id (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    conflicts     INTEGER NOT NULL DEFAULT 0,
    expired_seq   INTEGER NOT NULL DEFAULT 0,
    expired_clock INTEGER NOT NULL DEFAULT 0
);
INSERT INTO topics_by_id (id, name, duplicates, conflicts, expired_seq, expired_clock)
    SELECT id, name, duplicates, conflicts, expired_seq, expired_clock FROM topics;
DROP TABLE topics;
ALTER TABLE topics_by_id RENAME TO topics;
-- A name stays unique across both levels: the recent level's key checks
-- its own rows, this probe the large level's.
CREATE TRIGGER topic_named AFTER INSERT ON topics BEGIN
    SELECT RAISE(ABORT, 'topic name exists') WHERE EXISTS (SELECT 1 FROM topic_names WHERE name = new.name);
    INSERT INTO topic_names_recent (name, id) VALUES (new.name, new.id);
END;

-- The in-order events by seq (migration 005's events_seq_in), as tables.
CREATE TABLE seq_in (
    topic_id INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    id       INTEGER NOT NULL,
    PRIMARY KEY (topic_id, seq)
) WITHOUT ROWID;
CREATE TABLE seq_in_recent (
    topic_id INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    id       INTEGER NOT NULL,
    PRIMARY KEY (topic_id, seq)
) WITHOUT ROWID;
INSERT INTO seq_in (topic_id, seq, id) SELECT topic_id, seq, id FROM events WHERE in_order = 1 ORDER BY topic_id, seq;
DROP INDEX events_seq_in;
-- Retention deletes a prefix of ids, the oldest events: mostly merged.
CREATE TRIGGER event_expired AFTER DELETE ON events WHEN old.in_order = 1 BEGIN
    DELETE FROM seq_in WHERE topic_id = old.topic_id AND seq = old.seq;
    DELETE FROM seq_in_recent WHERE topic_id = old.topic_id AND seq = old.seq;
END;
