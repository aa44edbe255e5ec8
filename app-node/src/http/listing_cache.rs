//! Short-lived copies of the catalog listings every visitor asks for: the
//! anonymous catalog page and `GET /api/videos`.
//!
//! With 10,000 videos one listing costs a catalog query and a render, a few
//! hundred microseconds of CPU, which at 64 connections on two cores put
//! the catalog page's p99 far above 10 ms. A crowd asks for the same few
//! pages, so each node keeps what it rendered for `http.listing_cache_ms`
//! (1 s by default; 0 turns it off) and renders a page once however many
//! ask for it at the same moment. A listing is therefore at most that old,
//! except on the node that made a change through its API, which forgets
//! every copy at once.
//!
//! Pages for signed-in uploaders are never kept: they carry a CSRF token.
//!
//! Built on `moka` (bounded, expiring, and coalescing concurrent misses for
//! one key), rather than a map and locks of our own.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;

use super::error::ApiError;

/// Most listings kept at once (a page of one search is one entry).
const CAPACITY: u64 = 1024;

/// The node's kept listings; cheap to clone.
#[derive(Clone)]
pub struct ListingCache {
    kept: Option<moka::future::Cache<String, Bytes>>,
    /// Part of every key, raised by [`ListingCache::clear`]: a render that
    /// began before a clear lands under a key nobody asks for any more.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ListingCache {
    /// Keeps listings for `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        let kept = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build()
        });
        ListingCache {
            kept,
            generation: Default::default(),
        }
    }

    /// The listing kept under `key`, or `render`'s, kept from now on.
    /// Concurrent callers with one key wait for a single render; a failed
    /// render is kept by nobody, and each of its waiters gets its error.
    pub async fn get_or_render<F>(&self, key: String, render: F) -> Result<Bytes, ApiError>
    where
        F: Future<Output = Result<Bytes, ApiError>>,
    {
        match &self.kept {
            None => render.await,
            Some(c) => c
                .try_get_with(
                    format!("{} {key}", self.generation.load(Ordering::SeqCst)),
                    render,
                )
                .await
                .map_err(|e| ApiError::clone(&e)),
        }
    }

    /// Forgets every kept listing: called after this node changed the
    /// catalog, so its own uploader sees the change at once.
    pub fn clear(&self) {
        if let Some(c) = &self.kept {
            self.generation.fetch_add(1, Ordering::SeqCst);
            c.invalidate_all();
        }
    }
}

/// Forgets every kept listing after a change made through this node
/// succeeded (an upload, a rename, a delete, a subtitle track…), so an
/// uploader sees their own change on the next page they load.
pub async fn clear_after_changes(
    Extension(listings): Extension<ListingCache>,
    req: Request,
    next: Next,
) -> Response {
    let change = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let resp = next.run(req).await;
    if change && resp.status().is_success() {
        listings.clear();
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    async fn counted(n: &AtomicUsize) -> Result<Bytes, ApiError> {
        n.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Bytes::from_static(b"page"))
    }

    #[tokio::test]
    async fn a_crowd_of_one_key_renders_once_until_the_copy_expires_or_is_cleared() {
        let cache = ListingCache::new(Duration::from_millis(300));
        let n = Arc::new(AtomicUsize::new(0));
        let crowd = (0..50).map(|_| {
            let (cache, n) = (cache.clone(), n.clone());
            tokio::spawn(async move { cache.get_or_render("k".into(), counted(&n)).await })
        });
        for r in futures_util::future::join_all(crowd).await {
            assert_eq!(&r.unwrap().unwrap()[..], b"page");
        }
        assert_eq!(n.load(Ordering::SeqCst), 1, "one render for the crowd");
        cache
            .get_or_render("other".into(), counted(&n))
            .await
            .unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2, "another key renders");
        cache.clear();
        cache.get_or_render("k".into(), counted(&n)).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 3, "cleared");
        tokio::time::sleep(Duration::from_millis(400)).await;
        cache.get_or_render("k".into(), counted(&n)).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 4, "expired");
    }

    #[tokio::test]
    async fn a_render_begun_before_a_clear_is_not_kept_after_it() {
        let cache = ListingCache::new(Duration::from_secs(60));
        let n = Arc::new(AtomicUsize::new(0));
        let early = {
            let (cache, n) = (cache.clone(), n.clone());
            tokio::spawn(async move { cache.get_or_render("k".into(), counted(&n)).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        cache.clear();
        early.await.unwrap().unwrap();
        cache.get_or_render("k".into(), counted(&n)).await.unwrap();
        assert_eq!(
            n.load(Ordering::SeqCst),
            2,
            "rendered again after the clear"
        );
    }

    #[tokio::test]
    async fn failures_are_not_kept_and_zero_keeps_nothing() {
        let cache = ListingCache::new(Duration::from_secs(60));
        let fail = async { Err(ApiError::bad_request("x", "no")) };
        let e = cache.get_or_render("k".into(), fail).await.unwrap_err();
        assert_eq!(e.code, "x");
        let n = AtomicUsize::new(0);
        cache.get_or_render("k".into(), counted(&n)).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 1, "the failure was not kept");

        let off = ListingCache::new(Duration::ZERO);
        off.get_or_render("k".into(), counted(&n)).await.unwrap();
        off.get_or_render("k".into(), counted(&n)).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }
}
