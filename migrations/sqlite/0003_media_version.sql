-- Versioned publishing: each published tree lives under {id}/{media_version}/
-- and the catalog points at the current one. NULL: nothing published yet
-- (videos published before versioning live directly under {id}/, which the
-- node still serves).
ALTER TABLE videos ADD COLUMN media_version TEXT;
