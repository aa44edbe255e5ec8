-- Seek-bar previews: whether storyboard.jpg + storyboard.vtt were published.
ALTER TABLE videos ADD COLUMN has_storyboard INTEGER NOT NULL DEFAULT 0;
