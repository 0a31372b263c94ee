-- Many topics. Each replica remembers its topics' last seqs from its own
-- commits, so that a group need not find each with a probe of events_seq
-- (one random index page per topic it touches). What it remembers of a
-- bucket's topics holds while the bucket is as its own last commit there
-- left it; token tells: every group that adds to a bucket writes a random
-- token of its own into its row, so a replica whose token is still there
-- knows that no one has added to the bucket since, even after a failover
-- or a restore that lost commits (a position could be reached again by
-- other events; a token is not). 0 is written by no group.
ALTER TABLE buckets ADD COLUMN token bigint NOT NULL DEFAULT 0;
