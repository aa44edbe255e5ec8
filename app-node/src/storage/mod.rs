//! The media store: published HLS trees, posters and staged uploads.
//!
//! Keys are relative slash-separated paths such as `0123456789abcdef/720p/seg_00001.m4s`.
//! Everything above this module talks to [`MediaStore`].

mod error;
mod key;
mod local;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

pub use error::StorageError;
pub use key::validate_key;
pub use local::LocalStore;

/// Result alias for storage calls.
pub type Result<T> = std::result::Result<T, StorageError>;

/// A streamed object body.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Where media bytes live.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Cheap check for readiness.
    async fn ping(&self) -> Result<()>;
    /// Makes the whole of `dir` visible under `prefix/` in one step, replacing
    /// anything there, so viewers never see a partial tree. `dir` may be
    /// moved rather than copied: the caller must not use it afterwards.
    async fn publish_dir(&self, prefix: &str, dir: &Path) -> Result<()>;
    /// Stores one local file under `key` (used for staged uploads).
    async fn put_file(&self, key: &str, src: &Path) -> Result<()>;
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
}

/// Opens the store named by the configuration.
pub async fn open(kind: &str, path: &Path) -> Result<Arc<dyn MediaStore>> {
    match kind {
        "local" => Ok(Arc::new(LocalStore::open(path).await?)),
        other => Err(StorageError::Unsupported(other.to_string())),
    }
}
