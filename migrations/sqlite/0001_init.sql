-- Reel catalog, SQLite dialect. Times are Unix milliseconds.

CREATE TABLE videos (
    id            TEXT PRIMARY KEY NOT NULL,
    title         TEXT NOT NULL,
    status        TEXT NOT NULL,
    progress      REAL NOT NULL DEFAULT 0,
    error         TEXT,
    source        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    duration_s    REAL,
    width         INTEGER,
    height        INTEGER,
    has_poster    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX videos_by_created ON videos (created_at DESC);

CREATE TABLE renditions (
    video_id          TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    width             INTEGER NOT NULL,
    height            INTEGER NOT NULL,
    bandwidth         INTEGER NOT NULL,
    average_bandwidth INTEGER NOT NULL,
    codecs            TEXT NOT NULL,
    playlist          TEXT NOT NULL,
    PRIMARY KEY (video_id, name)
);

CREATE TABLE subtitles (
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    lang     TEXT NOT NULL,
    label    TEXT NOT NULL,
    path     TEXT NOT NULL,
    PRIMARY KEY (video_id, lang)
);

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY NOT NULL,
    video_id     TEXT NOT NULL UNIQUE REFERENCES videos (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    state        TEXT NOT NULL,          -- queued | running | done | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_token  TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    heartbeat_at INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_runnable ON jobs (state, lease_until, created_at);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
