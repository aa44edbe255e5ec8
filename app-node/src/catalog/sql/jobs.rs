//! The job queue.
//!
//! Every write after the claim is conditioned on the lease token, so a worker
//! that lost its lease (it stalled, or was presumed dead and its job
//! re-claimed) can no longer change anything. Lease times are the
//! database's clock (`NOW_MS`), never a node's.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use sqlx::FromRow;

use super::{retry_conflicts, SqlCatalog};
use crate::catalog::model::{
    ClaimedJob, FinishOutcome, JobSource, Playable, Published, Rendition, VideoStatus,
};
use crate::catalog::{Announcement, Jobs, Result};

pub(super) fn lease_token() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

pub(super) fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// Longest stored error text (the MySQL column holds 1,000 characters).
const MAX_ERROR_CHARS: usize = 900;

/// The claimable condition, shared by the pick and the conditional update:
/// queued and past its retry backoff, or running on a lapsed lease.
const RUNNABLE: &str = "((state = 'queued' AND run_after <= NOW_MS)
                        OR (state = 'running' AND lease_until < NOW_MS))";

#[derive(FromRow)]
struct JobRow {
    id: String,
    video_id: String,
    source: String,
    attempts: i64,
    last_error: Option<String>,
}

impl SqlCatalog {
    /// One claim attempt: pick a candidate (skipping rows other workers have
    /// locked, where the engine can), then take it with an UPDATE that only
    /// succeeds if it is still runnable. `Ok(None)` with `retry` means
    /// another worker won the race for that row.
    async fn try_claim(
        &self,
        video_id: Option<&str>,
        lease: Duration,
    ) -> Result<(Option<(JobRow, String)>, bool)> {
        let only = if video_id.is_some() {
            " AND video_id = ?"
        } else {
            ""
        };
        let pick = format!(
            "SELECT id FROM jobs WHERE {RUNNABLE}{only} ORDER BY created_at, id LIMIT 1{}",
            self.dialect.claim_lock()
        );
        let take = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = ?,
                    lease_until = NOW_MS + ?, heartbeat_at = NOW_MS, updated_at = NOW_MS
             WHERE id = ? AND {RUNNABLE}"
        );
        let read = "SELECT id, video_id, source, attempts, last_error FROM jobs
                    WHERE id = ? AND lease_token = ?";
        let (pick, take, read) = (self.sql(&pick), self.sql(&take), self.sql(read));
        let token = lease_token();
        let mut conn = if self.dialect.claim_in_transaction() {
            Conn::Tx(self.pool.begin().await?)
        } else {
            Conn::Plain(self.pool.acquire().await?)
        };
        let mut q = sqlx::query_scalar::<_, String>(&pick);
        if let Some(v) = video_id {
            q = q.bind(v);
        }
        let Some(id) = q.fetch_optional(conn.as_mut()).await? else {
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
        // Every attempt starts from nothing: a version an earlier attempt
        // made playable (its worker died mid-ladder) is withdrawn, so its
        // viewers are told instead of waiting at its last segment.
        let withdraw = self.sql(
            "UPDATE videos SET playable = 0, media_version = NULL, time_to_playable_s = NULL,
                    updated_at = NOW_MS
             WHERE status <> 'ready' AND id = (SELECT video_id FROM jobs WHERE id = ?)",
        );
        sqlx::query(&withdraw)
            .bind(&id)
            .execute(conn.as_mut())
            .await?;
        let row = sqlx::query_as::<_, JobRow>(&read)
            .bind(&id)
            .bind(&token)
            .fetch_one(conn.as_mut())
            .await?;
        if let Conn::Tx(tx) = conn {
            tx.commit().await?;
        }
        Ok((Some((row, token)), false))
    }

    async fn claim_where(
        &self,
        video_id: Option<&str>,
        lease: Duration,
        max_attempts: i64,
    ) -> Result<Option<ClaimedJob>> {
        let mut races = 0;
        loop {
            let (got, retry) = retry_conflicts(|| self.try_claim(video_id, lease)).await?;
            let Some((row, token)) = got else {
                races += 1;
                if retry && races < 20 {
                    continue;
                }
                return Ok(None);
            };
            let job = ClaimedJob {
                id: row.id,
                video_id: row.video_id,
                source: JobSource::decode(&row.source).unwrap_or(JobSource::Url(String::new())),
                lease_token: token,
                attempt: row.attempts,
            };
            if job.attempt <= max_attempts {
                return Ok(Some(job));
            }
            // Every earlier attempt died without reporting (killed worker);
            // give up now rather than loop forever on a poisonous input.
            let why = match row.last_error {
                Some(e) => format!("gave up after {max_attempts} attempts: {e}"),
                None => format!("gave up after {max_attempts} attempts: the worker stopped"),
            };
            self.fail(&job, &why, None).await?;
        }
    }
}

/// A pooled connection, inside a transaction or not.
pub(super) enum Conn {
    Tx(sqlx::Transaction<'static, sqlx::Any>),
    Plain(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Conn {
    pub(super) fn as_mut(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            Conn::Tx(t) => t,
            Conn::Plain(c) => c,
        }
    }
}

#[async_trait]
impl Jobs for SqlCatalog {
    async fn claim(&self, lease: Duration, max_attempts: i64) -> Result<Option<ClaimedJob>> {
        self.claim_where(None, lease, max_attempts).await
    }

    async fn claim_for(
        &self,
        video_id: &str,
        lease: Duration,
        max_attempts: i64,
    ) -> Result<Option<ClaimedJob>> {
        self.claim_where(Some(video_id), lease, max_attempts).await
    }

    async fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<bool> {
        let r = sqlx::query(&self.sql(
            "UPDATE jobs SET lease_until = NOW_MS + ?, heartbeat_at = NOW_MS
             WHERE id = ? AND lease_token = ? AND state = 'running'",
        ))
        .bind(ms(lease))
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn progress(&self, job: &ClaimedJob, status: VideoStatus, progress: f64) -> Result<bool> {
        let r = sqlx::query(&self.sql(
            "UPDATE videos SET status = ?, progress = ?, error = NULL, updated_at = NOW_MS
             WHERE id = ? AND EXISTS (SELECT 1 FROM jobs WHERE id = ? AND lease_token = ?)",
        ))
        .bind(status.as_str())
        .bind(progress.clamp(0.0, 1.0))
        .bind(&job.video_id)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn make_playable(&self, job: &ClaimedJob, p: &Playable) -> Result<FinishOutcome> {
        retry_conflicts(|| self.make_playable_once(job, p)).await
    }

    async fn withdraw(&self, video_id: &str, version: &str) -> Result<()> {
        sqlx::query(&self.sql(
            "UPDATE videos SET playable = 0, media_version = NULL, time_to_playable_s = NULL,
                    updated_at = NOW_MS
             WHERE id = ? AND media_version = ? AND status <> 'ready'",
        ))
        .bind(video_id)
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish(&self, job: &ClaimedJob, p: &Published) -> Result<FinishOutcome> {
        retry_conflicts(|| self.finish_once(job, p)).await
    }

    async fn fail(
        &self,
        job: &ClaimedJob,
        message: &str,
        retry_in: Option<Duration>,
    ) -> Result<()> {
        retry_conflicts(|| self.fail_once(job, message, retry_in, None)).await
    }

    async fn give_up(
        &self,
        job: &ClaimedJob,
        message: &str,
        announce: Option<&Announcement>,
    ) -> Result<()> {
        retry_conflicts(|| self.fail_once(job, message, None, announce)).await
    }

    async fn release(&self, job: &ClaimedJob) -> Result<()> {
        retry_conflicts(|| self.release_once(job)).await
    }

    async fn counts(&self) -> Result<Vec<(String, i64)>> {
        #[derive(FromRow)]
        struct Count {
            state: String,
            n: i64,
        }
        let rows =
            sqlx::query_as::<_, Count>("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|c| (c.state, c.n)).collect())
    }
}

impl SqlCatalog {
    /// Replaces the video's renditions with `renditions`.
    async fn replace_renditions(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        video_id: &str,
        renditions: &[Rendition],
    ) -> Result<()> {
        sqlx::query(&self.sql("DELETE FROM renditions WHERE video_id = ?"))
            .bind(video_id)
            .execute(&mut **tx)
            .await?;
        for r in renditions {
            sqlx::query(&self.sql(
                "INSERT INTO renditions (video_id, name, width, height, bandwidth,
                                         average_bandwidth, codecs, frame_rate, playlist)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(video_id)
            .bind(&r.name)
            .bind(i64::from(r.width))
            .bind(i64::from(r.height))
            .bind(r.bandwidth.min(i64::MAX as u64) as i64)
            .bind(r.average_bandwidth.min(i64::MAX as u64) as i64)
            .bind(&r.codecs)
            .bind(r.frame_rate)
            .bind(&r.playlist)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn make_playable_once(&self, job: &ClaimedJob, p: &Playable) -> Result<FinishOutcome> {
        let mut tx = self.pool.begin().await?;
        // Under a live lease only, like `finish`: a worker that lost its job
        // must not point viewers at a version nobody will complete.
        let flipped = sqlx::query(&self.sql(
            "UPDATE videos SET playable = 1, media_version = ?, duration_s = ?, width = ?,
                    height = ?, time_to_playable_s = ?, updated_at = NOW_MS
             WHERE id = ? AND status <> 'deleting' AND EXISTS (
                 SELECT 1 FROM jobs WHERE id = ? AND lease_token = ? AND state = 'running'
                     AND lease_until >= NOW_MS)",
        ))
        .bind(&p.version)
        .bind(p.duration_s)
        .bind(p.width)
        .bind(p.height)
        .bind(p.time_to_playable_s)
        .bind(&job.video_id)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if flipped.rows_affected() != 1 {
            return Ok(FinishOutcome::LeaseLost);
        }
        self.replace_renditions(&mut tx, &job.video_id, &p.renditions)
            .await?;
        tx.commit().await?;
        Ok(FinishOutcome::Published)
    }

    async fn finish_once(&self, job: &ClaimedJob, p: &Published) -> Result<FinishOutcome> {
        let mut tx = self.pool.begin().await?;
        // A lapsed lease never publishes, even if no other worker has
        // claimed the job yet: from that instant one may, and two workers
        // must never both believe they own the video.
        let done = sqlx::query(&self.sql(
            "UPDATE jobs SET state = 'done', lease_token = NULL, lease_until = 0,
                    updated_at = NOW_MS
             WHERE id = ? AND lease_token = ? AND state = 'running' AND lease_until >= NOW_MS",
        ))
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(FinishOutcome::LeaseLost);
        }
        self.replace_renditions(&mut tx, &job.video_id, &p.renditions)
            .await?;
        // Tracks found in the source; an uploaded track of the same
        // language wins.
        for s in &p.subtitles {
            let exists: Option<String> = sqlx::query_scalar(
                &self.sql("SELECT lang FROM subtitles WHERE video_id = ? AND lang = ?"),
            )
            .bind(&job.video_id)
            .bind(&s.lang)
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                sqlx::query(&self.sql(
                    "INSERT INTO subtitles (video_id, lang, label, path) VALUES (?, ?, ?, ?)",
                ))
                .bind(&job.video_id)
                .bind(&s.lang)
                .bind(&s.label)
                .bind(&s.path)
                .execute(&mut *tx)
                .await?;
            }
        }
        let flipped = sqlx::query(&self.sql(
            "UPDATE videos SET status = 'ready', progress = 1, error = NULL, duration_s = ?,
                    width = ?, height = ?, has_poster = ?, has_storyboard = ?,
                    media_version = ?, playable = 1,
                    time_to_playable_s = COALESCE(time_to_playable_s, ?), updated_at = NOW_MS
             WHERE id = ?",
        ))
        .bind(p.duration_s)
        .bind(p.width)
        .bind(p.height)
        .bind(p.has_poster as i64)
        .bind(p.has_storyboard as i64)
        .bind(&p.version)
        .bind(p.time_to_playable_s)
        .bind(&job.video_id)
        .execute(&mut *tx)
        .await?;
        if flipped.rows_affected() != 1 {
            return Ok(FinishOutcome::LeaseLost);
        }
        // The event goes with the flip: both or neither.
        if let Some(a) = &p.announce {
            self.insert_deliveries(&mut tx, &a.event, &a.urls).await?;
        }
        tx.commit().await?;
        Ok(FinishOutcome::Published)
    }

    async fn fail_once(
        &self,
        job: &ClaimedJob,
        message: &str,
        retry_in: Option<Duration>,
        announce: Option<&Announcement>,
    ) -> Result<()> {
        let message: String = message.chars().take(MAX_ERROR_CHARS).collect();
        let again = retry_in.is_some();
        let mut tx = self.pool.begin().await?;
        // The backoff is added to the database's clock, like leases, so a
        // node with a skewed clock cannot make a job runnable early or late.
        let r = sqlx::query(&self.sql(
            "UPDATE jobs SET state = ?, lease_token = NULL, lease_until = 0, last_error = ?,
                    run_after = NOW_MS + ?, updated_at = NOW_MS
             WHERE id = ? AND lease_token = ?",
        ))
        .bind(if again { "queued" } else { "failed" })
        .bind(&message)
        .bind(ms(retry_in.unwrap_or_default()))
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            let (status, error) = if again {
                ("queued", None)
            } else {
                ("failed", Some(message.as_str()))
            };
            // The attempt's partial version is removed: viewers of it are
            // told, and the video leaves the catalog until an attempt
            // makes it playable again.
            sqlx::query(&self.sql(
                "UPDATE videos SET status = ?, error = ?, progress = 0, playable = 0,
                        media_version = NULL, updated_at = NOW_MS
                 WHERE id = ?",
            ))
            .bind(status)
            .bind(error)
            .bind(&job.video_id)
            .execute(&mut *tx)
            .await?;
            // Only a failure that applied is announced.
            if let (false, Some(a)) = (again, announce) {
                self.insert_deliveries(&mut tx, &a.event, &a.urls).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_once(&self, job: &ClaimedJob) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(&self.sql(
            "UPDATE jobs SET state = 'queued',
                    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                    lease_token = NULL, lease_until = 0, run_after = 0, updated_at = NOW_MS
             WHERE id = ? AND lease_token = ?",
        ))
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            sqlx::query(&self.sql(
                "UPDATE videos SET status = 'queued', progress = 0, playable = 0,
                        media_version = NULL, updated_at = NOW_MS
                 WHERE id = ?",
            ))
            .bind(&job.video_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
