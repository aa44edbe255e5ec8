-- Who may find and play a video: 'public' (listed and searchable),
-- 'unlisted' (left out of every listing and search, playable by anyone
-- with its link) or 'private' (left out too, and played only through a
-- signed URL). Existing videos stay public.
ALTER TABLE videos
    ADD COLUMN visibility VARCHAR(16) NOT NULL DEFAULT 'public',
    ADD CONSTRAINT videos_visibility_check
        CHECK (visibility IN ('public', 'unlisted', 'private'));
-- Listings only show public videos: the listing index carries the column,
-- so OFFSET still skips index entries, not rows.
ALTER TABLE videos
    DROP INDEX videos_by_created_status,
    ADD INDEX videos_by_created_status (created_at, id, status, visibility),
    DROP INDEX videos_by_status_created,
    ADD INDEX videos_by_status_created (status, created_at, id, visibility);
