-- Resumable uploads (tus 1.0). One row per upload, keyed by the video it
-- makes (the upload's id is the video's), shared by every node so
-- any node can take any PATCH: the offset only ever moves by a conditional
-- update from the value a PATCH started at, under a lock that is a lease on
-- the database's clock (lock_until), so a node that dies mid-PATCH frees it
-- by itself. state is 'open' until the last byte is stored, then 'done'
-- (kept until it expires so a client that lost the last answer can ask).
-- Each PATCH body is one object in the media store, recorded in
-- upload_chunks in the same transaction that moves the offset: the rows say
-- which objects make up the file, whatever a losing node left behind.
CREATE TABLE uploads (
    video_id      VARCHAR(32) NOT NULL PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    owner_id      BIGINT NOT NULL,
    upload_length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL DEFAULT 0,
    metadata      VARCHAR(4000) NOT NULL DEFAULT '',
    state         VARCHAR(16) NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
    lock_token    VARCHAR(32),
    lock_until    BIGINT NOT NULL DEFAULT 0,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX uploads_by_expiry ON uploads (expires_at);

CREATE TABLE upload_chunks (
    upload_id    VARCHAR(32) NOT NULL REFERENCES uploads (video_id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL,
    end_offset   BIGINT NOT NULL,
    object_key   VARCHAR(200) NOT NULL,
    PRIMARY KEY (upload_id, start_offset)
);
