//! The media store: published HLS trees, posters and staged uploads.
//!
//! Keys are relative slash-separated paths such as `0123456789abcdef/720p/seg_00001.m4s`.
//! Everything above this module talks to [`MediaStore`].

mod error;
mod file_stream;
mod key;
mod local;
mod media_type;
mod s3;

use std::collections::HashSet;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::config::Config;
pub use error::StorageError;
pub use key::validate_key;
pub use local::LocalStore;
pub use media_type::{media_type, MediaType, IMMUTABLE};
pub use s3::S3Store;

/// Result alias for storage calls.
pub type Result<T> = std::result::Result<T, StorageError>;

/// A streamed object body.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An object found by [`MediaStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// Where media bytes live.
///
/// Published trees are written under prefixes that are never reused
/// (`{video}/{version}/…`), so no operation here needs to replace a tree in
/// place; the catalog flips a pointer to make a new version visible.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Cheap check for readiness.
    async fn ping(&self) -> Result<()>;
    /// Stores every file below `dir` under `prefix/` (a prefix never used
    /// before), durably: when it returns the files survive a crash. `dir`
    /// may be moved rather than copied: the caller must not use it afterwards.
    async fn put_dir(&self, prefix: &str, dir: &Path) -> Result<()>;
    /// Stores the rest of a tree under `prefix/` whose files with keys in
    /// `early` were already stored (with [`MediaStore::put_file`] or
    /// [`MediaStore::put_bytes`]) while it was being written, file by file,
    /// each replacing any object under its key in one step.
    async fn finish_dir(&self, prefix: &str, dir: &Path, early: &HashSet<String>) -> Result<()> {
        let (p, d) = (prefix.to_string(), dir.to_path_buf());
        let files = tokio::task::spawn_blocking(move || key::tree_keys(&p, &d))
            .await
            .map_err(|e| StorageError::io(prefix, std::io::Error::other(e)))??;
        for (key, path) in files.into_iter().filter(|(k, _)| !early.contains(k)) {
            self.put_file(&key, &path).await?;
        }
        Ok(())
    }
    /// Stores a copy of one local file under `key`, durably, replacing any
    /// object there in one step; `src` is left alone (it may be a user's own
    /// file). Large files go up in parts.
    async fn put_file(&self, key: &str, src: &Path) -> Result<()>;
    /// Stores the local file `src` under `key` like [`MediaStore::put_file`]
    /// but takes it over: it is moved where the store can (one rename on a
    /// local disk, no second copy of a large upload) and gone afterwards in
    /// every case.
    async fn adopt_file(&self, key: &str, src: &Path) -> Result<()> {
        let r = self.put_file(key, src).await;
        let _ = tokio::fs::remove_file(src).await;
        r
    }
    /// Removes the store's own work files (half-written trees, trees being
    /// thrown away) that were abandoned at least `age` ago by a process that
    /// died; returns how many entries went. Stores without such files have
    /// nothing to do.
    async fn sweep_work_files(&self, age: Duration) -> Result<usize> {
        let _ = age;
        Ok(0)
    }
    /// Stores `bytes` under `key`, replacing any object there in one step so
    /// readers see the old or the new content, never a mix.
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Reads a whole (small) object, such as a playlist.
    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>>;
    /// Copies an object to a local file.
    async fn fetch_to_file(&self, key: &str, dest: &Path) -> Result<()>;
    /// Size of an object, `None` if absent.
    async fn size(&self, key: &str) -> Result<Option<u64>>;
    /// Streams `len` bytes of an object from `start`.
    async fn read(&self, key: &str, start: u64, len: u64) -> Result<ByteStream>;
    /// Removes one object; absent is fine.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Removes everything under `prefix/`; absent is fine.
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;
    /// Every object under `prefix/` (or everything for `""`), with sizes.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    /// A URL that lets anyone GET `key` until `expires` has passed, where the
    /// store can sign one; `None` where it cannot (a local directory).
    async fn presign_get(&self, key: &str, expires: Duration) -> Result<Option<String>>;
}

/// Opens the store named by the configuration.
pub async fn open(cfg: &Config) -> Result<Arc<dyn MediaStore>> {
    match cfg.storage.kind.as_str() {
        "local" => Ok(Arc::new(LocalStore::open(&cfg.storage_path()).await?)),
        "s3" => Ok(Arc::new(S3Store::open(&cfg.storage.s3)?)),
        other => Err(StorageError::Unsupported(other.to_string())),
    }
}
