//! Uploading segments while the ladder is still being encoded, for stores
//! where every byte crosses the network (S3): a finished segment goes up at
//! once, so publishing after the last one only sends what is left.
//!
//! ffmpeg writes each rendition's `seg_NNNNN.m4s` files one after another,
//! so in a rendition folder every segment but the newest is complete.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::storage::{MediaStore, StorageError};

/// How often the output folder is looked at.
const EVERY: Duration = Duration::from_millis(500);

/// A running early upload; [`EarlyUpload::finish`] stops it.
pub struct EarlyUpload {
    stop: CancellationToken,
    task: Option<JoinHandle<Result<HashSet<String>, StorageError>>>,
}

impl Drop for EarlyUpload {
    /// An attempt that is dropped mid-way (cancelled, lease lost) must not
    /// leave a watcher uploading behind it.
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl EarlyUpload {
    /// Starts watching `out` (the transcode's output folder) and storing
    /// finished segments under `prefix/`.
    pub fn start(store: Arc<dyn MediaStore>, prefix: String, out: PathBuf) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut sent = HashSet::new();
            loop {
                let stopping = tokio::select! {
                    _ = token.cancelled() => true,
                    _ = tokio::time::sleep(EVERY) => false,
                };
                for (key, path) in finished_segments(&out, &prefix).await {
                    if !sent.contains(&key) {
                        store.put_file(&key, &path).await?;
                        sent.insert(key);
                    }
                }
                if stopping {
                    return Ok(sent);
                }
            }
        });
        EarlyUpload {
            stop,
            task: Some(task),
        }
    }

    /// Stops watching (finishing an upload under way, then storing every
    /// segment finished by then) and returns the keys stored. If this
    /// future is dropped part-way, the watcher is still owned here and
    /// [`EarlyUpload::stop`] can end it.
    pub async fn finish(&mut self) -> Result<HashSet<String>, StorageError> {
        self.stop.cancel();
        let Some(task) = self.task.as_mut() else {
            return Ok(HashSet::new());
        };
        let result = task.await;
        self.task = None;
        match result {
            Ok(r) => r,
            Err(e) => Err(StorageError::Io {
                key: "early upload".into(),
                source: std::io::Error::other(e),
            }),
        }
    }

    /// Ends the watcher and waits until it is gone, so nothing it was
    /// sending lands after the caller removes the version (the attempt
    /// failed or was stopped).
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// `(key, path)` of every complete segment below `out`.
async fn finished_segments(out: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let Ok(mut dirs) = tokio::fs::read_dir(out).await else {
        return found;
    };
    while let Ok(Some(d)) = dirs.next_entry().await {
        if !d.file_type().await.map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let rung = d.file_name().to_string_lossy().into_owned();
        let Ok(mut files) = tokio::fs::read_dir(d.path()).await else {
            continue;
        };
        let mut segs = Vec::new();
        while let Ok(Some(f)) = files.next_entry().await {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(n) = segment_number(&name) {
                segs.push((n, name, f.path()));
            }
        }
        segs.sort();
        // The newest may still be written.
        segs.pop();
        found.extend(
            segs.into_iter()
                .map(|(_, name, path)| (format!("{prefix}/{rung}/{name}"), path)),
        );
    }
    found
}

/// `seg_00042.m4s` → 42.
fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg_")?
        .strip_suffix(".m4s")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_segments_with_a_successor_count_as_finished() {
        let out = tempfile::tempdir().unwrap();
        for (dir, names) in [
            (
                "720p",
                &[
                    "seg_00000.m4s",
                    "seg_00001.m4s",
                    "seg_00002.m4s",
                    "init_0.mp4",
                ][..],
            ),
            ("audio", &["seg_00000.m4s"][..]),
            (
                "360p",
                &["seg_00010.m4s", "seg_00009.m4s", "index.m3u8"][..],
            ),
        ] {
            std::fs::create_dir(out.path().join(dir)).unwrap();
            for n in names {
                std::fs::write(out.path().join(dir).join(n), b"x").unwrap();
            }
        }
        let mut keys: Vec<String> = finished_segments(out.path(), "id/v1")
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "id/v1/360p/seg_00009.m4s",
                "id/v1/720p/seg_00000.m4s",
                "id/v1/720p/seg_00001.m4s"
            ]
        );
        assert_eq!(segment_number("seg_00042.m4s"), Some(42));
        assert_eq!(segment_number("seg_x.m4s"), None);
    }
}
