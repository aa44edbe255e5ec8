//! Turning a complete upload into a queued video, and the sweeper's part:
//! finishing uploads whose finishing step stopped, and removing expired
//! ones.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::chunk_prefix;
use crate::catalog::{
    new_id, staged_key, Catalog, CatalogError, JobSource, LockOutcome, Upload, UploadLock,
};
use crate::storage::{MediaStore, StorageError};

/// Why finishing an upload failed; every step is safe to repeat.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The media store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A local file failed.
    #[error("scratch file: {0}")]
    Io(#[from] std::io::Error),
    /// The recorded chunks do not cover the file.
    #[error("the stored chunks do not cover bytes {0}..{1}")]
    Gap(i64, i64),
    /// The lock was lost while assembling.
    #[error("the upload's lock was lost")]
    LockLost,
}

impl FinishError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FinishError::Catalog(e) => e.code(),
            FinishError::Storage(e) => e.code(),
            FinishError::Io(_) => "io",
            FinishError::Gap(..) => "upload-gap",
            FinishError::LockLost => "upload-lock-lost",
        }
    }
}

/// Removes the scratch file however assembling ends.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Finishes upload `video_id` if it holds every byte and is still open:
/// takes its lock, joins its chunks into the staged source, queues the
/// job, then removes the chunks. `Ok(false)` when there was nothing to do
/// (not complete, already done, or another node is at it).
pub async fn finish(
    catalog: &Catalog,
    store: &dyn MediaStore,
    tmp_dir: &Path,
    video_id: &str,
    length: i64,
    lease: Duration,
) -> Result<bool, FinishError> {
    let lock = match catalog.uploads.lock_upload(video_id, length, lease).await? {
        LockOutcome::Locked(l) => l,
        _ => return Ok(false),
    };
    let r = finish_locked(catalog, store, tmp_dir, &lock, length, lease).await;
    if !matches!(r, Ok(true)) {
        let _ = catalog.uploads.unlock_upload(&lock).await;
    }
    r
}

async fn finish_locked(
    catalog: &Catalog,
    store: &dyn MediaStore,
    tmp_dir: &Path,
    lock: &UploadLock,
    length: i64,
    lease: Duration,
) -> Result<bool, FinishError> {
    let id = &lock.video_id;
    let chunks = catalog.uploads.upload_chunks(id).await?;
    let scratch = Scratch(tmp_dir.join(format!("tus-join-{id}-{}", new_id())));
    let mut out = tokio::fs::File::create(&scratch.0).await?;
    let mut at = 0i64;
    let mut renewed = Instant::now();
    for c in &chunks {
        if c.start != at {
            return Err(FinishError::Gap(at, c.start));
        }
        let mut body = store.read(&c.key, 0, (c.end - c.start) as u64).await?;
        while let Some(piece) = body.next().await {
            out.write_all(&piece?).await?;
            // A large file on a slow store takes a while: keep the lock.
            if renewed.elapsed() > lease / 3 {
                if !catalog.uploads.renew_upload_lock(lock, lease).await? {
                    return Err(FinishError::LockLost);
                }
                renewed = Instant::now();
            }
        }
        at = c.end;
    }
    if at != length {
        return Err(FinishError::Gap(at, length));
    }
    out.sync_all().await?;
    drop(out);
    let key = staged_key(id);
    store.adopt_file(&key, &scratch.0).await?;
    if !catalog
        .uploads
        .complete_upload(lock, &JobSource::Stored(key.clone()))
        .await?
    {
        let _ = store.delete(&key).await;
        return Ok(false);
    }
    // Not fatal: the sweeper removes them again when the record expires.
    if let Err(e) = store.delete_prefix(&chunk_prefix(id)).await {
        tracing::warn!(video = %id, code = e.code(), "removing upload chunks failed: {e}");
    }
    tracing::info!(video = %id, bytes = length, "upload complete, video queued");
    Ok(true)
}

/// What one sweep did to uploads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UploadSweep {
    /// Complete uploads whose finishing step had stopped, now queued.
    pub finished: usize,
    /// Expired unfinished uploads removed with their video.
    pub expired: usize,
    /// Records of finished uploads past their expiry removed.
    pub forgotten: usize,
}

/// Most uploads handled per sweep and kind.
const BATCH: u32 = 100;

/// The sweeper's part: finishes stranded complete uploads, removes expired
/// unfinished ones (their chunks and their video) and forgets finished ones
/// once expired.
pub async fn sweep_uploads(
    catalog: &Catalog,
    store: &dyn MediaStore,
    tmp_dir: &Path,
    lease: Duration,
) -> Result<UploadSweep, FinishError> {
    let mut report = UploadSweep::default();
    for u in catalog.uploads.stranded_uploads(BATCH).await? {
        if u.expired {
            continue;
        }
        if finish(catalog, store, tmp_dir, &u.video_id, u.length, lease).await? {
            report.finished += 1;
        }
    }
    for u in catalog.uploads.expired_uploads(BATCH).await? {
        expire(catalog, store, &u, &mut report).await?;
    }
    Ok(report)
}

async fn expire(
    catalog: &Catalog,
    store: &dyn MediaStore,
    u: &Upload,
    report: &mut UploadSweep,
) -> Result<(), FinishError> {
    store.delete_prefix(&chunk_prefix(&u.video_id)).await?;
    if u.done {
        if catalog.uploads.remove_upload(&u.video_id).await? {
            report.forgotten += 1;
        }
        return Ok(());
    }
    // The video never got past `uploading`: it goes with its upload.
    match crate::housekeeping::delete_video(catalog, store, &u.video_id, None).await {
        Ok(_) => {}
        Err(crate::housekeeping::HousekeepingError::Catalog(e)) => return Err(e.into()),
        Err(crate::housekeeping::HousekeepingError::Storage(e)) => return Err(e.into()),
    }
    catalog.uploads.remove_upload(&u.video_id).await?;
    report.expired += 1;
    tracing::info!(video = %u.video_id, "expired upload removed");
    Ok(())
}
