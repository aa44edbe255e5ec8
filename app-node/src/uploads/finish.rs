//! Turning a complete upload into a queued video: its chunks are joined,
//! byte-counted, into the staged source and its job is queued.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::chunk_prefix;
use super::lease::Heartbeat;
use crate::catalog::{
    new_id, staged_key, Catalog, CatalogError, Chunk, JobSource, LockOutcome, UploadLock,
};
use crate::storage::{MediaStore, StorageError};

/// Why finishing an upload failed. The storage, catalog and I/O kinds are
/// worth retrying; [`FinishError::is_permanent`] ones are not.
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
    /// The recorded chunks, or the bytes their objects hold, do not cover
    /// the file.
    #[error("the stored chunks do not cover bytes {0}..{1}")]
    Gap(i64, i64),
    /// A recorded chunk's object is not in the store.
    #[error("the stored chunk at byte {0} is missing")]
    MissingChunk(i64),
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
            FinishError::MissingChunk(_) => "upload-chunk-missing",
            FinishError::LockLost => "upload-lock-lost",
        }
    }

    /// Whether the stored bytes themselves cannot make the file, so that
    /// joining again would fail the same way forever.
    pub fn is_permanent(&self) -> bool {
        matches!(self, FinishError::Gap(..) | FinishError::MissingChunk(_))
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
/// (not complete, already done, or another node is at it). When the stored
/// bytes cannot make the file, the video is marked failed with the reason
/// (and the error is returned), so nobody retries a join that cannot work.
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
    // The join can outlast many leases on a slow store or a large file.
    let beat = Heartbeat::start(catalog, &lock, lease);
    let r = finish_locked(catalog, store, tmp_dir, &lock, length, &beat).await;
    drop(beat);
    match &r {
        Ok(true) => {}
        Err(e) if e.is_permanent() => {
            let reason = format!("the upload cannot be assembled: {e}");
            if catalog.uploads.fail_upload(&lock, &reason).await? {
                tracing::warn!(video = %video_id, code = e.code(), "upload failed: {e}");
            }
        }
        _ => {
            let _ = catalog.uploads.unlock_upload(&lock).await;
        }
    }
    r
}

async fn finish_locked(
    catalog: &Catalog,
    store: &dyn MediaStore,
    tmp_dir: &Path,
    lock: &UploadLock,
    length: i64,
    beat: &Heartbeat,
) -> Result<bool, FinishError> {
    let id = &lock.video_id;
    let chunks = catalog.uploads.upload_chunks(id).await?;
    let scratch = Scratch(tmp_dir.join(format!("tus-join-{id}-{}", new_id())));
    let mut out = tokio::fs::File::create(&scratch.0).await?;
    let mut at = 0i64;
    for c in &chunks {
        if c.start != at {
            return Err(FinishError::Gap(at, c.start));
        }
        at = copy_chunk(store, c, &mut out).await?;
        if beat.lost() {
            return Err(FinishError::LockLost);
        }
    }
    if at != length {
        return Err(FinishError::Gap(at, length));
    }
    out.sync_all().await?;
    drop(out);
    let key = staged_key(id);
    if beat.lost() {
        return Err(FinishError::LockLost);
    }
    // Every finisher of this upload writes the same bytes here, joined
    // from the same recorded chunks, so a late writer only replaces the
    // object with an identical one.
    store.adopt_file(&key, &scratch.0).await?;
    if !catalog
        .uploads
        .complete_upload(lock, &JobSource::Stored(key.clone()))
        .await?
    {
        // Not deleted: another finisher may have queued the job that reads
        // this very key. If nobody did, the sweeper's staged-source pass or
        // the upload's expiry removes it.
        return Ok(false);
    }
    // Not fatal: the sweeper removes them again when the record expires.
    if let Err(e) = store.delete_prefix(&chunk_prefix(id)).await {
        tracing::warn!(video = %id, code = e.code(), "removing upload chunks failed: {e}");
    }
    tracing::info!(video = %id, bytes = length, "upload complete, video queued");
    Ok(true)
}

/// Appends chunk `c` to `out`, counting its bytes: the object must hold
/// exactly `c.end - c.start` of them. Returns the offset after it.
async fn copy_chunk(
    store: &dyn MediaStore,
    c: &Chunk,
    out: &mut tokio::fs::File,
) -> Result<i64, FinishError> {
    let want = (c.end - c.start) as u64;
    // One byte more than recorded is asked for, so an object longer than
    // its record shows up too.
    let mut body = match store.read(&c.key, 0, want + 1).await {
        Ok(b) => b,
        Err(StorageError::NotFound(_)) => return Err(FinishError::MissingChunk(c.start)),
        Err(e) => return Err(e.into()),
    };
    let mut got: u64 = 0;
    while let Some(piece) = body.next().await {
        let piece = piece?;
        got += piece.len() as u64;
        if got > want {
            return Err(FinishError::Gap(c.start, c.end));
        }
        out.write_all(&piece).await?;
    }
    if got != want {
        return Err(FinishError::Gap(c.start + got as i64, c.end));
    }
    Ok(c.end)
}
