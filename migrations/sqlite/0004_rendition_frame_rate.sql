-- One rendition type through every layer: the frame rate the master
-- playlist announces is stored with the other measured facts.
ALTER TABLE renditions ADD COLUMN frame_rate REAL NOT NULL DEFAULT 0;
