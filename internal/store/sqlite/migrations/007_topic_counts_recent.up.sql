-- Many topics, the duplicates. Each group added its duplicates and
-- conflicts to their topics' rows: with 100,000 topics and publishers that
-- retry, a group of 800 events updated some 150 rows on as many scattered
-- pages of topics, each a WAL frame at its commit (a sixth of the
-- throughput). Now a group adds them to topic_counts_recent, one row a
-- topic, whose few pages a group touches whatever the topics, and the merge
-- (Store.mergeLevels) adds them into topics in id order, each page once for
-- all its rows. A topic's counts are its row's plus its recent row's.
CREATE TABLE topic_counts_recent (
    topic_id   INTEGER PRIMARY KEY,
    duplicates INTEGER NOT NULL,
    conflicts  INTEGER NOT NULL
);
