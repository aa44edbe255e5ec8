-- Ownership and roles. Every video records the uploader who created it;
-- videos from before this change (and CLI imports without --owner) keep
-- NULL, and only admins may edit those. Removing a user leaves their videos
-- without an owner rather than deleting them.
ALTER TABLE videos ADD COLUMN owner_id BIGINT REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX videos_by_owner ON videos (owner_id, created_at DESC, id DESC);
-- 'uploader' edits their own videos; 'admin' may edit any.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'uploader'
    CHECK (role IN ('uploader', 'admin'));
