-- Who may find and play a video: 'public' (listed and searchable),
-- 'unlisted' (left out of every listing and search, playable by anyone
-- with its link) or 'private' (left out too, and played only through a
-- signed URL). Existing videos stay public.
ALTER TABLE videos ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'
    CHECK (visibility IN ('public', 'unlisted', 'private'));
-- Listings only show public videos: the listing index carries the column,
-- so pages are still index-only scans.
DROP INDEX videos_by_created_status;
CREATE INDEX videos_by_created_status ON videos (created_at DESC, id DESC) INCLUDE (status, visibility);
DROP INDEX videos_by_status_created;
CREATE INDEX videos_by_status_created ON videos (status, created_at DESC, id DESC) INCLUDE (visibility);
