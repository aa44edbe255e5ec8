//! The webhook outbox in SQL.
//!
//! A claim is a conditional UPDATE that moves the row's due time past the
//! attempt's deadline and stamps a lease token; the pick before it skips
//! rows other nodes hold locked where the engine can (PostgreSQL, MySQL),
//! and SQLite relies on the conditional UPDATE alone, like the job queue.
//! Every write after a claim names the token.

use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use super::jobs::{lease_token, ms, Conn};
use super::{retry_conflicts, SqlCatalog};
use crate::catalog::{ClaimedDelivery, Delivery, DeliveryState, Result, WebhookEvent, Webhooks};

/// Longest stored error text (the MySQL column holds 1,000 characters).
const MAX_ERROR_CHARS: usize = 900;

/// Due: pending and past its backoff or lapsed lease.
const DUE: &str = "state = 'pending' AND next_attempt_at <= NOW_MS";

/// The delivery id of `event_id` to `url`: derived, so enqueueing an event
/// twice finds the rows it already has.
fn delivery_id(event_id: &str, url: &str) -> String {
    let mut h = Sha256::new();
    h.update(event_id.as_bytes());
    h.update(b"\n");
    h.update(url.as_bytes());
    hex::encode(&h.finalize()[..16])
}

#[derive(FromRow)]
struct Row {
    id: String,
    event_id: String,
    event_type: String,
    video_id: String,
    url: String,
    payload: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, event_id, event_type, video_id, url, payload, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at";

impl From<Row> for Delivery {
    fn from(r: Row) -> Self {
        Delivery {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            video_id: r.video_id,
            url: r.url,
            payload: r.payload,
            state: DeliveryState::parse(&r.state),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl SqlCatalog {
    /// One claim: pick a due row, then take it only if it is still due.
    /// `Ok((None, true))` means another sender won the race for that row.
    async fn try_claim_delivery(&self, lease: Duration) -> Result<(Option<ClaimedDelivery>, bool)> {
        let pick = format!(
            "SELECT id FROM webhook_deliveries WHERE {DUE}
             ORDER BY next_attempt_at, id LIMIT 1{}",
            self.dialect.claim_lock()
        );
        let take = format!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_token = ?,
                    next_attempt_at = NOW_MS + ?, updated_at = NOW_MS
             WHERE id = ? AND {DUE}"
        );
        let read =
            format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE id = ? AND lease_token = ?");
        let (pick, take, read) = (self.sql(&pick), self.sql(&take), self.sql(&read));
        let token = lease_token();
        let mut conn = if self.dialect.claim_in_transaction() {
            Conn::Tx(self.pool.begin().await?)
        } else {
            Conn::Plain(self.pool.acquire().await?)
        };
        let Some(id) = sqlx::query_scalar::<_, String>(&pick)
            .fetch_optional(conn.as_mut())
            .await?
        else {
            return Ok((None, false));
        };
        let taken = sqlx::query(&take)
            .bind(&token)
            .bind(ms(lease))
            .bind(&id)
            .execute(conn.as_mut())
            .await?;
        if taken.rows_affected() != 1 {
            return Ok((None, true));
        }
        let row = sqlx::query_as::<_, Row>(&read)
            .bind(&id)
            .bind(&token)
            .fetch_one(conn.as_mut())
            .await?;
        if let Conn::Tx(tx) = conn {
            tx.commit().await?;
        }
        Ok((
            Some(ClaimedDelivery {
                id: row.id,
                event_id: row.event_id,
                event_type: row.event_type,
                url: row.url,
                payload: row.payload,
                attempt: row.attempts,
                lease_token: token,
            }),
            false,
        ))
    }

    async fn enqueue_once(&self, event: &WebhookEvent, urls: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.insert_deliveries(&mut tx, event, urls).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds the deliveries of `event` that are not there yet, inside the
    /// caller's transaction (the state change the event announces).
    pub(super) async fn insert_deliveries(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        event: &WebhookEvent,
        urls: &[String],
    ) -> Result<()> {
        for url in urls {
            let id = delivery_id(&event.event_id, url);
            let have: Option<String> =
                sqlx::query_scalar(&self.sql("SELECT id FROM webhook_deliveries WHERE id = ?"))
                    .bind(&id)
                    .fetch_optional(&mut **tx)
                    .await?;
            if have.is_some() {
                continue;
            }
            sqlx::query(&self.sql(
                "INSERT INTO webhook_deliveries (id, event_id, event_type, video_id, url,
                        payload, state, attempts, next_attempt_at, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, NOW_MS, NOW_MS, NOW_MS)",
            ))
            .bind(&id)
            .bind(&event.event_id)
            .bind(&event.event_type)
            .bind(&event.video_id)
            .bind(url)
            .bind(&event.payload)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Webhooks for SqlCatalog {
    async fn enqueue_webhook(&self, event: &WebhookEvent, urls: &[String]) -> Result<()> {
        if urls.is_empty() {
            return Ok(());
        }
        retry_conflicts(|| self.enqueue_once(event, urls)).await
    }

    async fn claim_deliveries(&self, lease: Duration, limit: u32) -> Result<Vec<ClaimedDelivery>> {
        let mut out = Vec::new();
        let mut races = 0;
        while out.len() < limit as usize {
            match retry_conflicts(|| self.try_claim_delivery(lease)).await? {
                (Some(d), _) => out.push(d),
                (None, true) if races < 20 => races += 1,
                (None, _) => break,
            }
        }
        Ok(out)
    }

    async fn delivery_succeeded(&self, d: &ClaimedDelivery, status: u16) -> Result<bool> {
        let r = sqlx::query(&self.sql(
            "UPDATE webhook_deliveries SET state = 'delivered', lease_token = NULL,
                    last_status = ?, last_error = NULL, updated_at = NOW_MS
             WHERE id = ? AND lease_token = ? AND state = 'pending'",
        ))
        .bind(i64::from(status))
        .bind(&d.id)
        .bind(&d.lease_token)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delivery_failed(
        &self,
        d: &ClaimedDelivery,
        status: Option<u16>,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        // The backoff is added to the database's clock, like leases, so
        // nodes with skewed clocks agree on when the row is due again.
        let r = sqlx::query(&self.sql(
            "UPDATE webhook_deliveries SET state = ?, lease_token = NULL,
                    next_attempt_at = NOW_MS + ?, last_status = ?, last_error = ?,
                    updated_at = NOW_MS
             WHERE id = ? AND lease_token = ? AND state = 'pending'",
        ))
        .bind(if retry_in.is_some() {
            DeliveryState::Pending.as_str()
        } else {
            DeliveryState::Failed.as_str()
        })
        .bind(ms(retry_in.unwrap_or_default()))
        .bind(status.map(i64::from))
        .bind(&error)
        .bind(&d.id)
        .bind(&d.lease_token)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn deliveries(&self, limit: u32) -> Result<Vec<Delivery>> {
        let q = format!(
            "SELECT {COLUMNS} FROM webhook_deliveries ORDER BY created_at DESC, id DESC LIMIT ?"
        );
        let rows = sqlx::query_as::<_, Row>(&self.sql(&q))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Delivery::from).collect())
    }

    async fn prune_deliveries(&self, age: Duration) -> Result<u64> {
        let r =
            sqlx::query(&self.sql("DELETE FROM webhook_deliveries WHERE updated_at < NOW_MS - ?"))
                .bind(ms(age))
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected())
    }
}
