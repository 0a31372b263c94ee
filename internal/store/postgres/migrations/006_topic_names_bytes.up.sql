-- Many topics. A topic's name had two indexes: the UNIQUE constraint (in
-- the database's collation) for lookups and ON CONFLICT, and
-- topics_name_bytes (COLLATE "C") for GET /topics, which pages in byte
-- order. Creating a topic updated both. Names are compared byte by byte
-- now (COLLATE "C": the same equality, as every deterministic collation
-- breaks ties by bytes, and cheaper comparisons), so the one UNIQUE index
-- serves both and the other goes.
ALTER TABLE topics ALTER COLUMN name TYPE text COLLATE "C";
DROP INDEX topics_name_bytes;
