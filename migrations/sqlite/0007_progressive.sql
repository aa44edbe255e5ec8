-- Progressive publishing: a video is playable (listed, watchable from the
-- start) once every rung has its first segments, while the ladder goes on.
-- time_to_playable_s counts from the start of the attempt that made it so.
ALTER TABLE videos ADD COLUMN playable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN time_to_playable_s REAL;
UPDATE videos SET playable = 1 WHERE status = 'ready';
