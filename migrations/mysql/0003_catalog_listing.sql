-- Catalog listings at scale: the all-status listing reads ids, times and
-- status from one index, so OFFSET skips index entries, not rows.
CREATE INDEX videos_by_created_status ON videos (created_at, id, status);
