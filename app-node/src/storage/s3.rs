//! Media store on an S3-compatible bucket, through the `object_store` crate.
//!
//! Same contract as [`super::LocalStore`], with the differences S3 forces:
//! a published tree appears object by object rather than in one rename (the
//! catalog flips its pointer only after [`MediaStore::put_dir`] returns, so
//! nobody reads a half tree), and sources are copied up, never moved, so the
//! caller removes them.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod chunks;

use self::chunks::{get_range, Chunks};
use super::{validate_key, ByteStream, MediaStore, ObjectInfo, Result, StorageError};
use crate::config::S3Config;

/// A TCP (and TLS) handshake with a reachable endpoint takes well under a
/// second even across regions; 5 s still rides out one lost SYN (Linux
/// resends after 1 s and 3 s) while an unreachable store fails fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request bound, body included. Every request here moves at most one
/// [`CHUNK`] (8 MiB; reads are split, see [`Chunks`]), so 60 s only fails links slower than ~140 KB/s, and a
/// hung server cannot stall a job or an HTTP response for long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries for a transient blip (a restarting server, 503 SlowDown, a reset
/// pooled connection): up to 4 more tries with jittered backoff from 200 ms
/// to 5 s, ~10 s in all, and none once a minute has passed since the first
/// try, so a store that is really down surfaces as an error, not a hang.
const RETRIES: usize = 4;
const RETRY_WINDOW: Duration = Duration::from_secs(60);
/// `ping` is a readiness probe: the prober asks again, so no retries, and
/// an unreachable endpoint must answer within seconds.
const PING_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const PING_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A prefix that holds nothing; listing it is the cheapest signed call that
/// proves endpoint, credentials and bucket all work.
const PING_PREFIX: &str = "reel-ping-probe";

/// Files above this go up as multipart uploads; smaller ones in one PUT.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Multipart part size and ranged-GET size. S3 wants parts of at least
/// 5 MiB (but the last) and at most 10 000 of them.
const CHUNK: u64 = 8 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Parts of one file in flight at once: memory per upload stays near
/// `(PARTS_IN_FLIGHT + 1) * CHUNK`.
const PARTS_IN_FLIGHT: usize = 2;
/// Files of one `put_dir` uploaded at once.
const PUT_DIR_CONCURRENCY: usize = 4;
/// Read size when streaming a file from disk into a multipart upload.
const READ_BUF: usize = 1024 * 1024;

/// An S3 bucket (AWS or any S3-compatible server).
///
/// Credentials come only from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
/// and (if set) `AWS_SESSION_TOKEN`; without the first two the store does not
/// open, so object_store never falls back to probing instance metadata.
/// With `path_style = false` and a custom endpoint, the endpoint must be the
/// bucket's own host: object_store uses it as given.
#[derive(Debug)]
pub struct S3Store {
    /// For every data call: timeouts plus retries.
    store: Arc<AmazonS3>,
    /// For `ping` only: short timeouts, no retries.
    probe: AmazonS3,
    bucket: String,
}

impl S3Store {
    /// Builds the clients; makes no network call (see [`MediaStore::ping`]).
    pub fn open(cfg: &S3Config) -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(key_id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(StorageError::Misconfigured(
                "storage.kind = \"s3\" needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 in the environment"
                    .into(),
            ));
        };
        let token = var("AWS_SESSION_TOKEN");
        let build = |options: ClientOptions, retry: RetryConfig| {
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(&cfg.bucket)
                .with_region(&cfg.region)
                .with_virtual_hosted_style_request(!cfg.path_style())
                .with_access_key_id(&key_id)
                .with_secret_access_key(&secret)
                .with_client_options(options)
                .with_allow_http(cfg.allow_http)
                .with_retry(retry);
            if let Some(t) = &token {
                b = b.with_token(t);
            }
            if !cfg.endpoint.is_empty() {
                b = b.with_endpoint(&cfg.endpoint);
            }
            b.build()
                .map_err(|e| StorageError::Misconfigured(format!("storage.s3: {e}")))
        };
        let store = build(
            ClientOptions::new()
                .with_connect_timeout(CONNECT_TIMEOUT)
                .with_timeout(REQUEST_TIMEOUT),
            RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(200),
                    max_backoff: Duration::from_secs(5),
                    base: 2.0,
                },
                max_retries: RETRIES,
                retry_timeout: RETRY_WINDOW,
            },
        )?;
        let probe = build(
            ClientOptions::new()
                .with_connect_timeout(PING_CONNECT_TIMEOUT)
                .with_timeout(PING_REQUEST_TIMEOUT),
            RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            },
        )?;
        Ok(S3Store {
            store: Arc::new(store),
            probe,
            bucket: cfg.bucket.clone(),
        })
    }

    async fn put_small(&self, key: &str, path: &ObjPath, data: Bytes) -> Result<()> {
        let opts = PutOptions::from(attributes(key));
        self.store
            .put_opts(path, PutPayload::from(data), opts)
            .await
            .map(|_| ())
            .map_err(|e| StorageError::remote(key, e))
    }

    /// One local file to one object: a single PUT when small, else a
    /// multipart upload streamed from disk with at most [`PARTS_IN_FLIGHT`]
    /// parts in memory. A failed multipart upload is aborted so its parts do
    /// not linger (and cost) in the bucket.
    async fn upload_file(&self, key: &str, src: &Path) -> Result<()> {
        let path = obj_path(key)?;
        let io = |e| StorageError::io(key, e);
        let len = tokio::fs::metadata(src).await.map_err(io)?.len();
        if len <= MULTIPART_THRESHOLD {
            let data = tokio::fs::read(src).await.map_err(io)?;
            return self.put_small(key, &path, data.into()).await;
        }
        let opts = PutMultipartOptions {
            attributes: attributes(key),
            ..Default::default()
        };
        let upload = self
            .store
            .put_multipart_opts(&path, opts)
            .await
            .map_err(|e| StorageError::remote(key, e))?;
        let part = CHUNK.max(len.div_ceil(MAX_PARTS)) as usize;
        let mut pending = Unfinished(Some(WriteMultipart::new_with_chunk_size(upload, part)));
        let remote = |e| StorageError::remote(key, e);
        let sent = async {
            let Some(w) = pending.0.as_mut() else {
                return Ok(());
            };
            let mut f = tokio::fs::File::open(src).await.map_err(io)?;
            let mut buf = vec![0u8; READ_BUF];
            loop {
                w.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(remote)?;
                let n = f.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                w.write(&buf[..n]);
            }
            // Wait for every part here: `finish` would drop the upload
            // without aborting it if a part failed.
            w.wait_for_capacity(0).await.map_err(remote)
        }
        .await;
        let Some(w) = pending.0.take() else {
            return sent;
        };
        match sent {
            // `finish` aborts by itself when the completing call fails.
            Ok(()) => w.finish().await.map(|_| ()).map_err(remote),
            Err(e) => {
                if let Err(abort) = w.abort().await {
                    tracing::warn!("s3: aborting the multipart upload of {key}: {abort}");
                }
                Err(e)
            }
        }
    }

    /// The objects under `prefix/`, or the whole bucket for `""`.
    async fn list_meta(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let (root, want) = if prefix.is_empty() {
            (None, String::new())
        } else {
            (Some(obj_path(prefix)?), format!("{prefix}/"))
        };
        let found: Vec<_> = self
            .store
            .list(root.as_ref())
            .try_collect()
            .await
            .map_err(|e| StorageError::remote(prefix, e))?;
        let mut out: Vec<ObjectInfo> = found
            .into_iter()
            .map(|m| ObjectInfo {
                key: m.location.to_string(),
                size: m.size,
            })
            // object_store already lists `prefix/` (not `prefix*`); checked
            // again because a sibling such as `abcd` beside `abc` must never
            // be listed, and so never deleted, by mistake.
            .filter(|o| o.key.starts_with(&want))
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// A multipart upload in progress. If the future driving it is dropped
/// (its caller was cancelled, e.g. at shutdown), the upload is aborted in
/// the background so its parts do not linger, unseen and billed, in the
/// bucket.
struct Unfinished(Option<WriteMultipart>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        let Some(w) = self.0.take() else { return };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = w.abort().await {
                    tracing::warn!("s3: aborting a cancelled multipart upload: {e}");
                }
            });
        }
    }
}

/// A validated key as an object_store path. Valid keys are plain `a/b/c`
/// segments, which object_store takes verbatim.
fn obj_path(key: &str) -> Result<ObjPath> {
    validate_key(key)?;
    ObjPath::parse(key).map_err(|_| StorageError::BadKey(key.chars().take(100).collect()))
}

/// Content type and caching for the bucket to send when `storage.serve =
/// "redirect"` hands its URLs to players: the same table `/media` uses.
fn attributes(key: &str) -> Attributes {
    match super::media_type(key) {
        Some(t) => Attributes::from_iter([
            (Attribute::ContentType, t.mime),
            (Attribute::CacheControl, t.cache),
        ]),
        None => Attributes::new(),
    }
}

impl S3Store {
    /// Uploads the files below `dir` whose keys are not in `skip`; on a
    /// failure removes the whole prefix again (it held only this tree).
    async fn upload_tree(&self, prefix: &str, dir: &Path, skip: &HashSet<String>) -> Result<()> {
        let (p, d) = (prefix.to_string(), dir.to_path_buf());
        let files = tokio::task::spawn_blocking(move || super::key::tree_keys(&p, &d))
            .await
            .map_err(|e| StorageError::io(prefix, std::io::Error::other(e)))??;
        let files: Vec<_> = files
            .into_iter()
            .filter(|(k, _)| !skip.contains(k))
            .collect();
        // After a failure no new file starts, but those under way finish
        // (or abort their multipart upload) rather than being dropped.
        let failed = AtomicBool::new(false);
        let results: Vec<Result<()>> = stream::iter(files)
            .map(|(key, path)| {
                let failed = &failed;
                async move {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let r = self.upload_file(&key, &path).await;
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    r
                }
            })
            .buffer_unordered(PUT_DIR_CONCURRENCY)
            .collect()
            .await;
        let sent = results.into_iter().find(|r| r.is_err()).unwrap_or(Ok(()));
        if sent.is_err() {
            // Leave no half tree behind: the prefix was empty before.
            if let Err(e) = self.delete_prefix(prefix).await {
                tracing::warn!("s3: cleaning up the partial upload of {prefix}: {e}");
            }
        }
        sent
    }
}

#[async_trait]
impl MediaStore for S3Store {
    async fn ping(&self) -> Result<()> {
        // Unlike data calls, NotFound here means the bucket itself is
        // missing: that store is not ready, so it is an error.
        self.probe
            .list_with_delimiter(Some(&ObjPath::from(PING_PREFIX)))
            .await
            .map(|_| ())
            .map_err(|source| StorageError::Remote {
                key: self.bucket.clone(),
                source,
            })
    }

    async fn put_dir(&self, prefix: &str, dir: &Path) -> Result<()> {
        let root = obj_path(prefix)?;
        // Prefixes are never reused; refuse rather than merge, like local.
        if let Some(first) = self.store.list(Some(&root)).next().await {
            let source = match first {
                Ok(_) => object_store::Error::AlreadyExists {
                    path: prefix.to_string(),
                    source: "the prefix is already published".into(),
                },
                Err(e) => e,
            };
            return Err(StorageError::remote(prefix, source));
        }
        self.upload_tree(prefix, dir, &HashSet::new()).await
    }

    async fn finish_dir(&self, prefix: &str, dir: &Path, early: &HashSet<String>) -> Result<()> {
        self.upload_tree(prefix, dir, early).await
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        self.upload_file(key, src).await
    }

    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = obj_path(key)?;
        self.put_small(key, &path, Bytes::copy_from_slice(bytes))
            .await
    }

    async fn get_bytes(&self, key: &str) -> Result<Vec<u8>> {
        let path = obj_path(key)?;
        let remote = |e| StorageError::remote(key, e);
        let got = self.store.get(&path).await.map_err(remote)?;
        Ok(got.bytes().await.map_err(remote)?.to_vec())
    }

    async fn fetch_to_file(&self, key: &str, dest: &Path) -> Result<()> {
        let path = obj_path(key)?;
        let meta = self
            .store
            .head(&path)
            .await
            .map_err(|e| StorageError::remote(key, e))?;
        let mut body = Chunks::new(
            self.store.clone(),
            key,
            path,
            0..meta.size,
            meta.e_tag,
            None,
        );
        let io = |e| StorageError::io(key, e);
        let mut f = tokio::fs::File::create(dest).await.map_err(io)?;
        let copied = async {
            loop {
                match body.next().await {
                    Ok(Some(bytes)) => f.write_all(&bytes).await.map_err(io)?,
                    Ok(None) => return f.flush().await.map_err(io),
                    Err(e) => return Err(StorageError::remote(key, e)),
                }
            }
        }
        .await;
        if copied.is_err() {
            drop(f);
            // No partial file that could pass for the whole object.
            let _ = tokio::fs::remove_file(dest).await;
        }
        copied
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let path = obj_path(key)?;
        match self.store.head(&path).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::remote(key, e)),
        }
    }

    async fn read(&self, key: &str, start: u64, len: u64) -> Result<ByteStream> {
        let path = obj_path(key)?;
        let remote = |e| StorageError::remote(key, e);
        let empty = || -> ByteStream { Box::pin(stream::empty()) };
        if len == 0 {
            // S3 has no empty range; still answer NotFound for a missing key.
            self.store.head(&path).await.map_err(remote)?;
            return Ok(empty());
        }
        let end = start.saturating_add(len);
        let want = start..end.min(start.saturating_add(CHUNK));
        // The first GET is made here so a missing object is an error of
        // `read` itself, as with a local file.
        let first = match get_range(&self.store, &path, want, None).await {
            Ok(got) => got,
            Err(e @ object_store::Error::NotFound { .. }) => return Err(remote(e)),
            Err(e) => {
                // S3 refuses a range starting at or past the end where a
                // local file reads nothing: look before calling it an error.
                return match self.store.head(&path).await {
                    Ok(m) if start >= m.size => Ok(empty()),
                    _ => Err(remote(e)),
                };
            }
        };
        let total = first.meta.size;
        let etag = first.meta.e_tag.clone();
        let next = first.range.end;
        let rest = next..end.min(total);
        let body = Chunks::new(
            self.store.clone(),
            key,
            path,
            rest,
            etag,
            Some(first.into_stream()),
        );
        Ok(body.into_stream())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = obj_path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::remote(key, e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        validate_key(prefix)?;
        // Listed in full first: deleting while paging through a listing
        // could make a lenient server skip keys.
        let doomed = self.list_meta(prefix).await?;
        let paths = doomed
            .into_iter()
            .map(|o| Ok(ObjPath::from(o.key)))
            .collect::<Vec<_>>();
        let mut gone = self.store.delete_stream(stream::iter(paths).boxed());
        while let Some(r) = gone.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::remote(prefix, e)),
            }
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.list_meta(prefix).await
    }

    async fn presign_get(&self, key: &str, expires: Duration) -> Result<Option<String>> {
        let path = obj_path(key)?;
        self.store
            .signed_url(reqwest::Method::GET, &path, expires)
            .await
            .map(|url| Some(url.to_string()))
            .map_err(|e| StorageError::remote(key, e))
    }
}
