-- Reel catalog, MySQL 8 / MariaDB 10.11 dialect. Times are Unix milliseconds
-- taken from the database's clock. Text is VARCHAR (not TEXT) so every engine
-- reports it as text, and utf8mb4 so titles keep any character.

CREATE TABLE videos (
    id             VARCHAR(32) NOT NULL PRIMARY KEY,
    title          VARCHAR(200) NOT NULL,
    status         VARCHAR(16) NOT NULL,
    progress       DOUBLE NOT NULL DEFAULT 0,
    error          VARCHAR(1000),
    source         VARCHAR(2100) NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    duration_s     DOUBLE,
    width          BIGINT,
    height         BIGINT,
    has_poster     BIGINT NOT NULL DEFAULT 0,
    has_storyboard BIGINT NOT NULL DEFAULT 0,
    media_version  VARCHAR(32),
    INDEX videos_by_created (created_at, id),
    INDEX videos_by_status_created (status, created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE renditions (
    video_id          VARCHAR(32) NOT NULL,
    name              VARCHAR(32) NOT NULL,
    width             BIGINT NOT NULL,
    height            BIGINT NOT NULL,
    bandwidth         BIGINT NOT NULL,
    average_bandwidth BIGINT NOT NULL,
    codecs            VARCHAR(128) NOT NULL,
    frame_rate        DOUBLE NOT NULL DEFAULT 0,
    playlist          VARCHAR(255) NOT NULL,
    PRIMARY KEY (video_id, name),
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE subtitles (
    video_id VARCHAR(32) NOT NULL,
    lang     VARCHAR(64) NOT NULL,
    label    VARCHAR(128) NOT NULL,
    path     VARCHAR(255) NOT NULL,
    PRIMARY KEY (video_id, lang),
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE jobs (
    id           VARCHAR(32) NOT NULL PRIMARY KEY,
    video_id     VARCHAR(32) NOT NULL UNIQUE,
    source       VARCHAR(2100) NOT NULL,
    state        VARCHAR(16) NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_token  VARCHAR(64) COLLATE utf8mb4_bin,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    heartbeat_at BIGINT,
    last_error   VARCHAR(1000),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    INDEX jobs_runnable (state, lease_until, created_at),
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE users (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- Binary collation: names and secrets compare byte for byte, never
    -- case-, accent- or trailing-space-insensitively.
    name          VARCHAR(64) COLLATE utf8mb4_bin NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE api_tokens (
    token_hash VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE sessions (
    id_hash    VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    csrf       VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
