//! Removing the entries of a work folder (scratch, a store's staging and
//! trash): one routine for the node's start, the sweeper and the local store.

use std::path::Path;
use std::time::Duration;

/// Removes the entries (files and whole trees) directly inside `dir`; with
/// `older_than`, only those not modified for that long. Entries that cannot
/// be removed are logged and skipped. Returns how many went; a missing
/// folder has none.
pub async fn remove_entries(dir: &Path, older_than: Option<Duration>) -> usize {
    let Ok(mut rd) = tokio::fs::read_dir(dir).await else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(e)) = rd.next_entry().await {
        if let Some(age) = older_than {
            let old = e
                .metadata()
                .await
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a >= age);
            if !old {
                continue;
            }
        }
        let p = e.path();
        let r = match e.file_type().await {
            Ok(t) if t.is_dir() => tokio::fs::remove_dir_all(&p).await,
            _ => tokio::fs::remove_file(&p).await,
        };
        match r {
            Ok(()) => n += 1,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!("could not remove {}: {err}", p.display()),
        }
    }
    n
}
