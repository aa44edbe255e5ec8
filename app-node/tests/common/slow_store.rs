//! A media store that delays chosen calls, to widen race windows that a
//! fast local disk would hide.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reel_node::storage::{ByteStream, MediaStore, ObjectInfo, Result};

/// Delays the first `get_bytes`, and the first `put_file` (which adopting a
/// file goes through), of a key ending in `slow_suffix`.
pub struct SlowStore {
    pub inner: Arc<dyn MediaStore>,
    pub slow_suffix: &'static str,
    pub delay: Duration,
    pub calls: AtomicUsize,
    pub puts: AtomicUsize,
}

impl SlowStore {
    pub fn wrap(
        inner: Arc<dyn MediaStore>,
        slow_suffix: &'static str,
        delay: Duration,
    ) -> Arc<Self> {
        Arc::new(SlowStore {
            inner,
            slow_suffix,
            delay,
            calls: AtomicUsize::new(0),
            puts: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl MediaStore for SlowStore {
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn put_dir(&self, prefix: &str, dir: &Path) -> Result<()> {
        self.inner.put_dir(prefix, dir).await
    }
    async fn finish_dir(&self, prefix: &str, dir: &Path, early: &HashSet<String>) -> Result<()> {
        self.inner.finish_dir(prefix, dir, early).await
    }
    async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        if key.ends_with(self.slow_suffix) && self.puts.fetch_add(1, Ordering::SeqCst) == 0 {
            tokio::time::sleep(self.delay).await;
        }
        self.inner.put_file(key, src).await
    }
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.inner.put_bytes(key, bytes).await
    }
    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>> {
        if key.ends_with(self.slow_suffix) && self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            tokio::time::sleep(self.delay).await;
        }
        self.inner.get_bytes(key).await
    }
    async fn fetch_to_file(&self, key: &str, dest: &Path) -> Result<()> {
        self.inner.fetch_to_file(key, dest).await
    }
    async fn size(&self, key: &str) -> Result<Option<u64>> {
        self.inner.size(key).await
    }
    async fn read(&self, key: &str, start: u64, len: u64) -> Result<ByteStream> {
        self.inner.read(key, start, len).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        self.inner.delete_prefix(prefix).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.inner.list(prefix).await
    }
    async fn presign_get(&self, key: &str, expires: Duration) -> Result<Option<String>> {
        self.inner.presign_get(key, expires).await
    }
}
