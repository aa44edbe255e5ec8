//! Keeping an upload's lock alive while slow work runs under it.
//!
//! Safety never rests on the lease: every write under the lock is a
//! compare-and-set on its token. The heartbeat only keeps other nodes from
//! taking the upload over while work that can take long (an fsync, adopting
//! a large file into the store, joining the chunks) is still going.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, UploadLock};

/// Renews a lock every third of its lease until dropped.
pub struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl Heartbeat {
    /// Starts renewing `lock` for `lease` at a time.
    pub fn start(catalog: &Catalog, lock: &UploadLock, lease: Duration) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let (catalog, lock, flag) = (catalog.clone(), lock.clone(), lost.clone());
        let every = (lease / 3).max(Duration::from_millis(50));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match catalog.uploads.renew_upload_lock(&lock, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    // A catalog hiccup: the lease may still hold; the next
                    // beat tries again, and the final compare-and-set is the
                    // judge anyway.
                    Err(e) => {
                        tracing::warn!(video = %lock.video_id, code = e.code(), "renewing an upload lock failed: {e}")
                    }
                }
            }
        });
        Heartbeat { task, lost }
    }

    /// Whether a renewal found the lock taken by someone else.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
