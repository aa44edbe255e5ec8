-- Catalog listings at scale. Pages read their ids from indexes that hold
-- status, upload time and id, so OFFSET skips index entries, not rows.
CREATE INDEX videos_by_status_created ON videos (status, created_at DESC, id DESC);
DROP INDEX videos_by_created;
CREATE INDEX videos_by_created ON videos (created_at DESC, id DESC, status);

-- Title search: a trigram index finds the titles that contain a text of
-- three characters or more (the query still checks LIKE on the title).
-- Kept in step with `videos` by the triggers below; its own copy of the
-- id, since the table's rowids may change on VACUUM.
CREATE VIRTUAL TABLE videos_fts USING fts5 (
    title,
    video_id UNINDEXED,
    tokenize = 'trigram'
);
INSERT INTO videos_fts (title, video_id) SELECT title, id FROM videos;
CREATE TRIGGER videos_fts_insert AFTER INSERT ON videos BEGIN
    INSERT INTO videos_fts (title, video_id) VALUES (new.title, new.id);
END;
CREATE TRIGGER videos_fts_title AFTER UPDATE OF title ON videos BEGIN
    DELETE FROM videos_fts WHERE video_id = old.id;
    INSERT INTO videos_fts (title, video_id) VALUES (new.title, new.id);
END;
CREATE TRIGGER videos_fts_delete AFTER DELETE ON videos BEGIN
    DELETE FROM videos_fts WHERE video_id = old.id;
END;
