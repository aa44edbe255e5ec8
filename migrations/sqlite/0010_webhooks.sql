-- Webhook deliveries: a durable outbox shared by every node. One row per
-- event per endpoint; the row's id is derived from both, so enqueueing the
-- same event again adds nothing. No foreign key to videos: a video.deleted
-- event outlives its video. A claimed row is leased by pushing
-- next_attempt_at past the send's timeout, so a sender that dies mid-send
-- leaves it due again. Times are Unix milliseconds on the database's clock.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    video_id        TEXT NOT NULL,
    url             TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_token     TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries (created_at);
