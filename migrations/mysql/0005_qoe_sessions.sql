-- Viewer sessions as their players report them (CMCD event mode), one row
-- per session id, folded as reports arrive: the last report seen (sequence
-- number, time, player state, bitrate) and the session's running totals.
-- Times are Unix milliseconds; the player's clock for last_ts and
-- started_ts, the folding node's for seen_ms, the database's for created_at
-- and updated_at.
CREATE TABLE qoe_sessions (
    sid          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    video_id     VARCHAR(32) NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    last_sn      BIGINT NOT NULL,
    last_ts      BIGINT NOT NULL,
    seen_ms      BIGINT NOT NULL,
    last_state   VARCHAR(8) NOT NULL,
    bitrate_kbps DOUBLE NOT NULL DEFAULT 0,
    started_ts   BIGINT,
    startup_ms   BIGINT,
    rebuffers    BIGINT NOT NULL DEFAULT 0,
    rebuffer_ms  BIGINT NOT NULL DEFAULT 0,
    played_ms    BIGINT NOT NULL DEFAULT 0,
    played_kbit  DOUBLE NOT NULL DEFAULT 0,
    seek_wait    BIGINT NOT NULL DEFAULT 0,
    failed       BIGINT NOT NULL DEFAULT 0,
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX qoe_sessions_by_video ON qoe_sessions (video_id, created_at DESC);
CREATE INDEX qoe_sessions_by_updated ON qoe_sessions (updated_at);
