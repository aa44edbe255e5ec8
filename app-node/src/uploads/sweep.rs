//! The sweeper's part in uploads: finishing uploads whose finishing step
//! stopped, and removing expired ones. Each upload is handled on its own:
//! one that fails is logged and the others still get their turn.

use std::path::Path;
use std::time::Duration;

use super::chunk_prefix;
use super::finish::{finish, FinishError};
use crate::catalog::{Catalog, Upload};
use crate::storage::MediaStore;

/// What one sweep did to uploads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UploadSweep {
    /// Complete uploads whose finishing step had stopped, now queued.
    pub finished: usize,
    /// Complete uploads whose stored bytes cannot make the file, now failed
    /// or still failing (logged).
    pub failed: usize,
    /// Expired unfinished uploads removed with their video.
    pub expired: usize,
    /// Records of finished uploads past their expiry removed.
    pub forgotten: usize,
}

/// Most uploads handled per sweep and kind.
const BATCH: u32 = 100;

/// The sweeper's part: finishes stranded complete uploads, removes expired
/// unfinished ones (their chunks and their video) and forgets finished ones
/// once expired. Fails only when the catalog cannot list them.
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
        match finish(catalog, store, tmp_dir, &u.video_id, u.length, lease).await {
            Ok(true) => report.finished += 1,
            Ok(false) => {}
            Err(e) => {
                report.failed += 1;
                tracing::warn!(video = %u.video_id, code = e.code(), "finishing an upload failed: {e}");
            }
        }
    }
    for u in catalog.uploads.expired_uploads(BATCH).await? {
        if let Err(e) = expire(catalog, store, &u, &mut report).await {
            tracing::warn!(video = %u.video_id, code = e.code(), "removing an expired upload failed: {e}");
        }
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
