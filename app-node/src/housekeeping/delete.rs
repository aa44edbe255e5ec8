//! Deleting a video: a tombstone first, then the media, then the row.
//!
//! Each step can be repeated, so a delete that stops half-way (a crash, a
//! store outage) is finished by retrying it or by the sweeper.

use crate::catalog::{staged_key, Announcement, Catalog};
use crate::storage::MediaStore;

use super::HousekeepingError;

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// No such video (or already purged).
    NotFound,
    /// Media and row are gone.
    Purged,
    /// Media is gone; the row stays marked until a worker that was encoding
    /// it has surely stopped, then the sweeper clears and purges it.
    Tombstoned,
}

/// Deletes video `id`: marks it (viewers stop seeing it and its job ends)
/// and queues `announce` with the mark, removes every stored file of it,
/// then removes the row.
pub async fn delete_video(
    catalog: &Catalog,
    store: &dyn MediaStore,
    id: &str,
    announce: Option<&Announcement>,
) -> Result<Deleted, HousekeepingError> {
    let Some(t) = catalog.videos.begin_delete(id, announce).await? else {
        return Ok(Deleted::NotFound);
    };
    clear_media(store, id).await?;
    if t.worker_was_running {
        return Ok(Deleted::Tombstoned);
    }
    catalog.videos.purge(id).await?;
    Ok(Deleted::Purged)
}

/// Removes every stored file of a video: all versions, a staged source and
/// the chunks of a resumable upload.
pub async fn clear_media(store: &dyn MediaStore, id: &str) -> Result<(), HousekeepingError> {
    store.delete_prefix(id).await?;
    store
        .delete_prefix(&crate::uploads::chunk_prefix(id))
        .await?;
    store.delete(&staged_key(id)).await?;
    Ok(())
}
