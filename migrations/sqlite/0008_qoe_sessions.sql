-- Viewer sessions as their players report them (CMCD event mode), one row
-- per session id, folded as reports arrive: the last report seen (sequence
-- number, time, player state, bitrate) and the session's running totals.
-- Times are Unix milliseconds; the player's clock for last_ts and
-- started_ts, the folding node's for seen_ms, the database's for created_at
-- and updated_at.
CREATE TABLE qoe_sessions (
    sid          TEXT PRIMARY KEY NOT NULL,
    video_id     TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_sn      INTEGER NOT NULL,
    last_ts      INTEGER NOT NULL,
    seen_ms      INTEGER NOT NULL,
    last_state   TEXT NOT NULL,
    bitrate_kbps REAL NOT NULL DEFAULT 0,
    started_ts   INTEGER,
    startup_ms   INTEGER,
    rebuffers    INTEGER NOT NULL DEFAULT 0,
    rebuffer_ms  INTEGER NOT NULL DEFAULT 0,
    played_ms    INTEGER NOT NULL DEFAULT 0,
    played_kbit  REAL NOT NULL DEFAULT 0,
    seek_wait    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX qoe_sessions_by_video ON qoe_sessions (video_id, created_at DESC);
CREATE INDEX qoe_sessions_by_updated ON qoe_sessions (updated_at);
