-- Catalog listings at scale: the all-status listing reads ids, times and
-- status from one index (index-only scans, so OFFSET skips index entries).
CREATE INDEX videos_by_created_status ON videos (created_at DESC, id DESC) INCLUDE (status);

-- Title search by substring: a trigram GIN index on LOWER(title) serves
-- `LOWER(title) LIKE '%text%'`. pg_trgm ships with PostgreSQL (contrib) and
-- is a trusted extension, but a server without it, or a role not allowed
-- to create it, still works: searches then check each row.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%); title search will scan', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX videos_title_trgm ON videos USING gin (LOWER(title) gin_trgm_ops)';
    END IF;
END
$$;
