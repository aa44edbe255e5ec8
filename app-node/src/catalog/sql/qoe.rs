//! Viewer sessions in SQL: plain reads, inserts, and updates conditioned on
//! the sequence number the caller read, so nodes folding reports of one
//! session at once never lose each other's work and never hold a lock.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::FromRow;

use super::SqlCatalog;
use crate::catalog::{CatalogError, Qoe, QoeSession, Result};

/// The columns a fold changes, in the order [`bind_folded`] binds them.
const FOLDED: &str = "last_sn, last_ts, seen_ms, last_state, bitrate_kbps, started_ts, \
     startup_ms, rebuffers, rebuffer_ms, played_ms, played_kbit, seek_wait, failed";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the [`FOLDED`] columns of `s`, in order.
fn bind_folded<'q>(q: AnyQuery<'q>, s: &'q QoeSession) -> AnyQuery<'q> {
    q.bind(s.last_sn)
        .bind(s.last_ts)
        .bind(s.seen_ms)
        .bind(&s.last_state)
        .bind(s.bitrate_kbps)
        .bind(s.started_ts)
        .bind(s.startup_ms)
        .bind(s.rebuffers)
        .bind(s.rebuffer_ms)
        .bind(s.played_ms)
        .bind(s.played_kbit)
        .bind(i64::from(s.seek_wait))
        .bind(i64::from(s.failed))
}

#[derive(FromRow)]
struct Row {
    sid: String,
    video_id: String,
    last_sn: i64,
    last_ts: i64,
    seen_ms: i64,
    last_state: String,
    bitrate_kbps: f64,
    started_ts: Option<i64>,
    startup_ms: Option<i64>,
    rebuffers: i64,
    rebuffer_ms: i64,
    played_ms: i64,
    played_kbit: f64,
    seek_wait: i64,
    failed: i64,
}

impl From<Row> for QoeSession {
    fn from(r: Row) -> Self {
        QoeSession {
            sid: r.sid,
            video_id: r.video_id,
            last_sn: r.last_sn,
            last_ts: r.last_ts,
            seen_ms: r.seen_ms,
            last_state: r.last_state,
            bitrate_kbps: r.bitrate_kbps,
            started_ts: r.started_ts,
            startup_ms: r.startup_ms,
            rebuffers: r.rebuffers,
            rebuffer_ms: r.rebuffer_ms,
            played_ms: r.played_ms,
            played_kbit: r.played_kbit,
            seek_wait: r.seek_wait != 0,
            failed: r.failed != 0,
        }
    }
}

#[async_trait]
impl Qoe for SqlCatalog {
    async fn qoe_session(&self, sid: &str) -> Result<Option<QoeSession>> {
        let q = format!("SELECT sid, video_id, {FOLDED} FROM qoe_sessions WHERE sid = ?");
        let row = sqlx::query_as::<_, Row>(&self.sql(&q))
            .bind(sid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(QoeSession::from))
    }

    async fn insert_qoe_session(&self, s: &QoeSession) -> Result<()> {
        let q = format!(
            "INSERT INTO qoe_sessions (sid, video_id, {FOLDED}, created_at, updated_at) \
             VALUES (?, ?, {}, NOW_MS, NOW_MS)",
            super::dialect::placeholders(FOLDED.split(", ").count())
        );
        let sql = self.sql(&q);
        let r = bind_folded(sqlx::query(&sql).bind(&s.sid).bind(&s.video_id), s)
            .execute(&self.pool)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(CatalogError::Conflict(format!("session {}", s.sid)))
            }
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(CatalogError::NotFound(format!("video {}", s.video_id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn update_qoe_session(&self, s: &QoeSession, expected_sn: i64) -> Result<bool> {
        let set: Vec<String> = FOLDED.split(", ").map(|c| format!("{c} = ?")).collect();
        let q = format!(
            "UPDATE qoe_sessions SET {}, updated_at = NOW_MS WHERE sid = ? AND last_sn = ?",
            set.join(", ")
        );
        let sql = self.sql(&q);
        let r = bind_folded(sqlx::query(&sql), s)
            .bind(&s.sid)
            .bind(expected_sn)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn qoe_sessions_of(&self, video_id: &str, limit: u32) -> Result<Vec<QoeSession>> {
        let q = format!(
            "SELECT sid, video_id, {FOLDED} FROM qoe_sessions WHERE video_id = ? \
             ORDER BY created_at DESC LIMIT {}",
            limit.max(1)
        );
        let rows = sqlx::query_as::<_, Row>(&self.sql(&q))
            .bind(video_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(QoeSession::from).collect())
    }

    async fn prune_qoe_sessions(&self, age: Duration, unplayed_age: Duration) -> Result<u64> {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
        let r = sqlx::query(&self.sql(
            "DELETE FROM qoe_sessions WHERE updated_at < NOW_MS - ? \
             OR (played_ms = 0 AND startup_ms IS NULL AND updated_at < NOW_MS - ?)",
        ))
        .bind(ms(age))
        .bind(ms(unplayed_age))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}
