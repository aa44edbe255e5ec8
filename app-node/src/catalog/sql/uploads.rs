//! Resumable uploads. Every change is a conditional UPDATE on the upload's
//! row (open, unexpired, offset as expected, lock free or ours), judged on
//! the database's clock, so it is one atomic step on every engine whichever
//! node makes it.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::FromRow;

use super::SqlCatalog;
use crate::catalog::model::JobSource;
use crate::catalog::{new_id, Chunk, LockOutcome, NewUpload, Result, Upload, UploadLock, Uploads};

/// Columns an [`Upload`] is read from, with the clock-dependent flags
/// computed by the database.
const U_COLS: &str = "video_id, owner_id, upload_length, upload_offset, metadata, state, \
                      CASE WHEN lock_until > NOW_MS THEN 1 ELSE 0 END AS locked, \
                      CASE WHEN expires_at <= NOW_MS THEN 1 ELSE 0 END AS expired, expires_at";

#[derive(FromRow)]
struct UploadRow {
    video_id: String,
    owner_id: i64,
    upload_length: i64,
    upload_offset: i64,
    metadata: String,
    state: String,
    locked: i64,
    expired: i64,
    expires_at: i64,
}

impl From<UploadRow> for Upload {
    fn from(r: UploadRow) -> Self {
        Upload {
            video_id: r.video_id,
            owner_id: r.owner_id,
            length: r.upload_length,
            offset: r.upload_offset,
            metadata: r.metadata,
            done: r.state == "done",
            locked: r.locked != 0,
            expired: r.expired != 0,
            expires_at_ms: r.expires_at,
        }
    }
}

#[derive(FromRow)]
struct ChunkRow {
    start_offset: i64,
    end_offset: i64,
    object_key: String,
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl SqlCatalog {
    async fn uploads_where(&self, clause: &str, limit: u32) -> Result<Vec<Upload>> {
        let q = format!("SELECT {U_COLS} FROM uploads WHERE {clause} ORDER BY expires_at LIMIT ?");
        let rows = sqlx::query_as::<_, UploadRow>(&self.sql(&q))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Upload::from).collect())
    }
}

#[async_trait]
impl Uploads for SqlCatalog {
    async fn create_upload(&self, u: &NewUpload) -> Result<Upload> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&self.sql(
            "INSERT INTO videos
                 (id, title, status, progress, source, owner_id, visibility, created_at,
                  updated_at)
             VALUES (?, ?, 'uploading', 0, ?, ?, ?, NOW_MS, NOW_MS)",
        ))
        .bind(&u.video.id)
        .bind(&u.video.title)
        .bind(&u.video.source)
        .bind(u.owner_id)
        .bind(u.video.visibility.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(&self.sql(
            "INSERT INTO uploads (video_id, owner_id, upload_length, upload_offset, metadata,
                                  state, lock_until, expires_at, created_at, updated_at)
             VALUES (?, ?, ?, 0, ?, 'open', 0, NOW_MS + ?, NOW_MS, NOW_MS)",
        ))
        .bind(&u.video.id)
        .bind(u.owner_id)
        .bind(u.length)
        .bind(&u.metadata)
        .bind(ms(u.ttl))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.upload(&u.video.id)
            .await?
            .ok_or_else(|| crate::catalog::CatalogError::NotFound(format!("upload {}", u.video.id)))
    }

    async fn upload(&self, video_id: &str) -> Result<Option<Upload>> {
        let q = format!("SELECT {U_COLS} FROM uploads WHERE video_id = ?");
        Ok(sqlx::query_as::<_, UploadRow>(&self.sql(&q))
            .bind(video_id)
            .fetch_optional(&self.pool)
            .await?
            .map(Upload::from))
    }

    async fn lock_upload(
        &self,
        video_id: &str,
        offset: i64,
        lease: Duration,
    ) -> Result<LockOutcome> {
        let token = new_id();
        let r = sqlx::query(&self.sql(
            "UPDATE uploads SET lock_token = ?, lock_until = NOW_MS + ?, updated_at = NOW_MS
             WHERE video_id = ? AND state = 'open' AND upload_offset = ?
               AND lock_until <= NOW_MS AND expires_at > NOW_MS",
        ))
        .bind(&token)
        .bind(ms(lease))
        .bind(video_id)
        .bind(offset)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 1 {
            return Ok(LockOutcome::Locked(UploadLock {
                video_id: video_id.to_string(),
                token,
                offset,
            }));
        }
        // Not taken: read why. The order matches what a client can do
        // about it (a wrong offset is worth a HEAD even while locked).
        Ok(match self.upload(video_id).await? {
            None => LockOutcome::Gone,
            Some(u) if u.expired => LockOutcome::Expired,
            Some(u) if u.offset != offset || u.done => LockOutcome::OffsetMismatch(u.offset),
            Some(_) => LockOutcome::Busy,
        })
    }

    async fn renew_upload_lock(&self, lock: &UploadLock, lease: Duration) -> Result<bool> {
        let r = sqlx::query(&self.sql(
            "UPDATE uploads SET lock_until = NOW_MS + ?
             WHERE video_id = ? AND lock_token = ? AND upload_offset = ? AND state = 'open'",
        ))
        .bind(ms(lease))
        .bind(&lock.video_id)
        .bind(&lock.token)
        .bind(lock.offset)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn advance_upload(
        &self,
        lock: &UploadLock,
        chunk: &Chunk,
        ttl: Duration,
        max_life: Duration,
    ) -> Result<bool> {
        if chunk.start != lock.offset || chunk.end <= chunk.start {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await?;
        // The compare-and-set: the offset moves only from the value this
        // lock was taken at, and only while the lock is still this one's.
        // The lease is not checked here: a holder whose lease ran out but
        // which nobody replaced still has sound bytes to record.
        let r = sqlx::query(&self.sql(
            "UPDATE uploads SET upload_offset = ?, lock_token = NULL, lock_until = 0,
                                expires_at = CASE WHEN NOW_MS + ? < created_at + ?
                                                  THEN NOW_MS + ? ELSE created_at + ? END,
                                updated_at = NOW_MS
             WHERE video_id = ? AND lock_token = ? AND upload_offset = ? AND state = 'open'
               AND upload_length >= ?",
        ))
        .bind(chunk.end)
        .bind(ms(ttl))
        .bind(ms(max_life))
        .bind(ms(ttl))
        .bind(ms(max_life))
        .bind(&lock.video_id)
        .bind(&lock.token)
        .bind(lock.offset)
        .bind(chunk.end)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(&self.sql(
            "INSERT INTO upload_chunks (upload_id, start_offset, end_offset, object_key)
             VALUES (?, ?, ?, ?)",
        ))
        .bind(&lock.video_id)
        .bind(chunk.start)
        .bind(chunk.end)
        .bind(&chunk.key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn open_uploads_of(&self, owner_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>(&self.sql(
            "SELECT COUNT(*) FROM uploads
             WHERE owner_id = ? AND state = 'open' AND expires_at > NOW_MS",
        ))
        .bind(owner_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn chunk_count(&self, video_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>(
            &self.sql("SELECT COUNT(*) FROM upload_chunks WHERE upload_id = ?"),
        )
        .bind(video_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn unlock_upload(&self, lock: &UploadLock) -> Result<()> {
        sqlx::query(&self.sql(
            "UPDATE uploads SET lock_token = NULL, lock_until = 0
             WHERE video_id = ? AND lock_token = ?",
        ))
        .bind(&lock.video_id)
        .bind(&lock.token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn upload_chunks(&self, video_id: &str) -> Result<Vec<Chunk>> {
        let rows = sqlx::query_as::<_, ChunkRow>(&self.sql(
            "SELECT start_offset, end_offset, object_key FROM upload_chunks
             WHERE upload_id = ? ORDER BY start_offset",
        ))
        .bind(video_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Chunk {
                start: r.start_offset,
                end: r.end_offset,
                key: r.object_key,
            })
            .collect())
    }

    async fn complete_upload(&self, lock: &UploadLock, source: &JobSource) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(&self.sql(
            "UPDATE uploads SET state = 'done', lock_token = NULL, lock_until = 0,
                                updated_at = NOW_MS
             WHERE video_id = ? AND lock_token = ? AND state = 'open'
               AND upload_offset = upload_length",
        ))
        .bind(&lock.video_id)
        .bind(&lock.token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let v = sqlx::query(&self.sql(
            "UPDATE videos SET status = 'queued', updated_at = NOW_MS
             WHERE id = ? AND status = 'uploading'",
        ))
        .bind(&lock.video_id)
        .execute(&mut *tx)
        .await?;
        if v.rows_affected() != 1 {
            // The video is being deleted: no job for it.
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(&self.sql(
            "INSERT INTO jobs (id, video_id, source, state, created_at, updated_at)
             VALUES (?, ?, ?, 'queued', NOW_MS, NOW_MS)",
        ))
        .bind(new_id())
        .bind(&lock.video_id)
        .bind(source.encode())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn fail_upload(&self, lock: &UploadLock, reason: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(&self.sql(
            "UPDATE uploads SET state = 'done', lock_token = NULL, lock_until = 0,
                                updated_at = NOW_MS
             WHERE video_id = ? AND lock_token = ? AND state = 'open'",
        ))
        .bind(&lock.video_id)
        .bind(&lock.token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(&self.sql(
            "UPDATE videos SET status = 'failed', error = ?, updated_at = NOW_MS
             WHERE id = ? AND status = 'uploading'",
        ))
        .bind(reason)
        .bind(&lock.video_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn expired_uploads(&self, limit: u32) -> Result<Vec<Upload>> {
        self.uploads_where("expires_at <= NOW_MS AND lock_until <= NOW_MS", limit)
            .await
    }

    async fn stranded_uploads(&self, limit: u32) -> Result<Vec<Upload>> {
        self.uploads_where(
            "state = 'open' AND upload_offset = upload_length AND lock_until <= NOW_MS",
            limit,
        )
        .await
    }

    async fn remove_upload(&self, video_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&self.sql("DELETE FROM upload_chunks WHERE upload_id = ?"))
            .bind(video_id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query(&self.sql("DELETE FROM uploads WHERE video_id = ?"))
            .bind(video_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }
}
