-- Ownership and roles. Every video records the uploader who created it;
-- videos from before this change (and CLI imports without --owner) keep
-- NULL, and only admins may edit those. Removing a user leaves their videos
-- without an owner rather than deleting them.
ALTER TABLE videos
    ADD COLUMN owner_id BIGINT NULL,
    ADD INDEX videos_by_owner (owner_id, created_at, id),
    ADD CONSTRAINT videos_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)
        ON DELETE SET NULL;
-- 'uploader' edits their own videos; 'admin' may edit any.
ALTER TABLE users
    ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'uploader',
    ADD CONSTRAINT users_role_check CHECK (role IN ('uploader', 'admin'));
