//! Reading an object as a series of bounded ranged GETs.

use std::io::ErrorKind;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjPath;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore};

use super::CHUNK;
use crate::storage::{ByteStream, StorageError};

/// Reads a byte range as ranged GETs of at most [`CHUNK`] bytes each,
/// fetched one after the other as the reader drains them: memory stays
/// bounded and each request fits the client's whole-request timeout
/// whatever the total length. The ETag pins every GET to one version, so a
/// replaced object ends the read with an error, never a splice of two
/// versions.
pub(super) struct Chunks {
    store: Arc<AmazonS3>,
    key: String,
    path: ObjPath,
    next: u64,
    end: u64,
    etag: Option<String>,
    body: Option<BoxStream<'static, object_store::Result<Bytes>>>,
}

impl Chunks {
    /// `range` of `key`; `first`, if given, is the body of a GET already
    /// made for the start of it (`range` then begins where that one ends).
    pub(super) fn new(
        store: Arc<AmazonS3>,
        key: &str,
        path: ObjPath,
        range: Range<u64>,
        etag: Option<String>,
        first: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    ) -> Self {
        Chunks {
            store,
            key: key.to_string(),
            path,
            next: range.start,
            end: range.end,
            etag,
            body: first,
        }
    }

    /// The next piece of the body, `None` at the end.
    pub(super) async fn next(&mut self) -> object_store::Result<Option<Bytes>> {
        loop {
            if let Some(body) = self.body.as_mut() {
                match body.next().await {
                    Some(piece) => return piece.map(Some),
                    None => self.body = None,
                }
            }
            if self.next >= self.end {
                return Ok(None);
            }
            let want = self.next..self.end.min(self.next.saturating_add(CHUNK));
            let got = get_range(&self.store, &self.path, want, self.etag.clone()).await?;
            // `got.range` is what the server sent; progress is certain
            // because object_store refuses an empty or mismatched range.
            self.next = got.range.end;
            self.body = Some(got.into_stream());
        }
    }

    /// As the [`ByteStream`] callers of `MediaStore::read` get; an error
    /// carries the typed [`StorageError`] inside its `io::Error`.
    pub(super) fn into_stream(self) -> ByteStream {
        Box::pin(stream::try_unfold(self, |mut st| async move {
            match st.next().await {
                Ok(Some(bytes)) => Ok(Some((bytes, st))),
                Ok(None) => Ok(None),
                Err(e) => Err(stream_error(&st.key, e)),
            }
        }))
    }
}

/// One ranged GET, pinned to `etag` when given.
pub(super) async fn get_range(
    store: &AmazonS3,
    path: &ObjPath,
    range: Range<u64>,
    etag: Option<String>,
) -> object_store::Result<GetResult> {
    let opts = GetOptions::new()
        .with_range(Some(GetRange::Bounded(range)))
        .with_if_match(etag);
    store.get_opts(path, opts).await
}

/// A body error as the `io::Error` a [`ByteStream`] carries, keeping the
/// typed [`StorageError`] inside for logs.
fn stream_error(key: &str, e: object_store::Error) -> std::io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => ErrorKind::NotFound,
        _ => ErrorKind::Other,
    };
    std::io::Error::new(kind, StorageError::remote(key, e))
}
