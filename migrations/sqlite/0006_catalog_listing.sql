-- Catalog listings at scale. Pages read their ids from indexes that hold
-- status, upload time and id, so OFFSET skips index entries, not rows.
CREATE INDEX videos_by_status_created ON videos (status, created_at DESC, id DESC);
DROP INDEX videos_by_created;
CREATE INDEX videos_by_created ON videos (created_at DESC, id DESC, status);
