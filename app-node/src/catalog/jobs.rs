//! The job queue inside the SQLite catalog.
//!
//! Every write after the claim is conditioned on the lease token, so a worker
//! that lost its lease (it stalled, or was presumed dead and its job
//! re-claimed) can no longer change anything.

use rand::Rng;
use sqlx::Row;

use super::model::{now_ms, ClaimedJob, JobSource, Published, VideoStatus};
use super::sqlite::SqliteCatalog;
use super::Result;

fn lease_token() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

impl SqliteCatalog {
    pub(super) async fn claim(
        &self,
        video_id: Option<&str>,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Option<ClaimedJob>> {
        loop {
            let now = now_ms();
            let token = lease_token();
            let row = sqlx::query(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = ?,
                        lease_until = ?, heartbeat_at = ?, updated_at = ?
                 WHERE id = (SELECT id FROM jobs
                             WHERE (state = 'queued' OR (state = 'running' AND lease_until < ?))
                               AND (? IS NULL OR video_id = ?)
                             ORDER BY created_at LIMIT 1)
                 RETURNING id, video_id, source, attempts, last_error",
            )
            .bind(&token)
            .bind(now + lease_ms)
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(video_id)
            .bind(video_id)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let job = ClaimedJob {
                id: row.get(0),
                video_id: row.get(1),
                source: JobSource::decode(row.get::<String, _>(2).as_str())
                    .unwrap_or(JobSource::Url(String::new())),
                lease_token: token,
                attempt: row.get(3),
            };
            if job.attempt <= max_attempts {
                return Ok(Some(job));
            }
            // Every earlier attempt died without reporting (killed worker);
            // give up now rather than loop forever on a poisonous input.
            let last: Option<String> = row.get(4);
            let why = match last {
                Some(e) => format!("gave up after {max_attempts} attempts: {e}"),
                None => format!("gave up after {max_attempts} attempts: the worker stopped"),
            };
            self.fail(&job, &why, false, max_attempts).await?;
        }
    }

    pub(super) async fn renew(&self, job: &ClaimedJob, lease_ms: i64) -> Result<bool> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE jobs SET lease_until = ?, heartbeat_at = ?
             WHERE id = ? AND lease_token = ? AND state = 'running'",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(super) async fn progress(
        &self,
        job: &ClaimedJob,
        status: VideoStatus,
        progress: f64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE videos SET status = ?, progress = ?, error = NULL, updated_at = ?
             WHERE id = ? AND EXISTS (SELECT 1 FROM jobs WHERE id = ? AND lease_token = ?)",
        )
        .bind(status.as_str())
        .bind(progress.clamp(0.0, 1.0))
        .bind(now_ms())
        .bind(&job.video_id)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(super) async fn finish(&self, job: &ClaimedJob, p: &Published) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', lease_token = NULL, lease_until = 0, updated_at = ?
             WHERE id = ? AND lease_token = ?",
        )
        .bind(now)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM renditions WHERE video_id = ?")
            .bind(&job.video_id)
            .execute(&mut *tx)
            .await?;
        for r in &p.renditions {
            sqlx::query(
                "INSERT INTO renditions (video_id, name, width, height, bandwidth,
                                         average_bandwidth, codecs, playlist)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&job.video_id)
            .bind(&r.name)
            .bind(r.width)
            .bind(r.height)
            .bind(r.bandwidth)
            .bind(r.average_bandwidth)
            .bind(&r.codecs)
            .bind(&r.playlist)
            .execute(&mut *tx)
            .await?;
        }
        for s in &p.subtitles {
            sqlx::query(
                "INSERT INTO subtitles (video_id, lang, label, path) VALUES (?, ?, ?, ?)
                 ON CONFLICT (video_id, lang) DO NOTHING",
            )
            .bind(&job.video_id)
            .bind(&s.lang)
            .bind(&s.label)
            .bind(&s.path)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE videos SET status = 'ready', progress = 1, error = NULL, duration_s = ?,
                    width = ?, height = ?, has_poster = ?, has_storyboard = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(p.duration_s)
        .bind(p.width)
        .bind(p.height)
        .bind(p.has_poster as i64)
        .bind(p.has_storyboard as i64)
        .bind(now)
        .bind(&job.video_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn fail(
        &self,
        job: &ClaimedJob,
        message: &str,
        retryable: bool,
        max_attempts: i64,
    ) -> Result<()> {
        let now = now_ms();
        let again = retryable && job.attempt < max_attempts;
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET state = ?, lease_token = NULL, lease_until = 0, last_error = ?,
                    updated_at = ?
             WHERE id = ? AND lease_token = ?",
        )
        .bind(if again { "queued" } else { "failed" })
        .bind(message)
        .bind(now)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            let (status, error) = if again {
                ("queued", None)
            } else {
                ("failed", Some(message))
            };
            sqlx::query(
                "UPDATE videos SET status = ?, error = ?, progress = 0, updated_at = ? WHERE id = ?",
            )
            .bind(status)
            .bind(error)
            .bind(now)
            .bind(&job.video_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn release(&self, job: &ClaimedJob) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), lease_token = NULL,
                    lease_until = 0, updated_at = ?
             WHERE id = ? AND lease_token = ?",
        )
        .bind(now)
        .bind(&job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            sqlx::query(
                "UPDATE videos SET status = 'queued', progress = 0, updated_at = ? WHERE id = ?",
            )
            .bind(now)
            .bind(&job.video_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
