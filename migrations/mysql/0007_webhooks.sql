-- Webhook deliveries: a durable outbox shared by every node. One row per
-- event per endpoint; the row's id is derived from both, so enqueueing the
-- same event again adds nothing. No foreign key to videos: a video.deleted
-- event outlives its video. A claimed row is leased by pushing
-- next_attempt_at past the send's timeout, so a sender that dies mid-send
-- leaves it due again. Times are Unix milliseconds on the database's clock.
-- Text is VARCHAR, not TEXT, so sqlx reads it as text on every engine.
CREATE TABLE webhook_deliveries (
    id              VARCHAR(32) NOT NULL PRIMARY KEY,
    event_id        VARCHAR(32) NOT NULL,
    event_type      VARCHAR(32) NOT NULL,
    video_id        VARCHAR(32) NOT NULL,
    url             VARCHAR(2100) NOT NULL,
    payload         VARCHAR(8000) NOT NULL,
    state           VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_token     VARCHAR(32),
    last_status     BIGINT,
    last_error      VARCHAR(1000),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT webhook_deliveries_state CHECK (state IN ('pending', 'delivered', 'failed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries (created_at);
