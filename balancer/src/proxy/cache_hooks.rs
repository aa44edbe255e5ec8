//! The edge cache's side of the proxy hooks: which requests use it, what
//! a hit is worth after a purge, what a node's answer may be stored for,
//! and how each request was answered.

use std::time::SystemTime;

use pingora_cache::{CacheMeta, CachePhase, ForcedFreshness, NoCacheReason, RespCacheable};
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::RequestCtx;
use crate::cache::policy::{self, CacheClass};
use crate::cache::CacheResult;
use crate::state::Shared;

/// Turns the cache on for media of a published version.
pub(super) fn request_cache_filter(shared: &Shared, session: &mut Session, ctx: &RequestCtx) {
    let enabled = ctx.snapshot().is_some_and(|s| s.config.cache.enabled);
    if enabled && ctx.is_media() {
        shared.cache.enable(&mut session.cache);
    }
}

/// A range or HEAD request the cache cannot answer goes to the node as it
/// is, and the next full GET fills the cache. Filling from it would answer
/// the viewer before the node has sent the whole file, and a viewer that
/// then reuses its connection at once would have its next request taken
/// for garbage while the fill is still reading (the accept loop hands
/// pingora one request at a time, without its pipelining).
pub(super) fn pass_partial_misses(session: &mut Session) {
    let req = session.req_header();
    let partial = req.method == http::Method::HEAD || req.headers.contains_key(http::header::RANGE);
    if partial && session.cache.enabled() {
        session
            .cache
            .disable(NoCacheReason::Custom("range or head miss"));
    }
}

/// A hit on an object stored before its video was purged is a miss.
pub(super) fn hit_filter(
    shared: &Shared,
    meta: &CacheMeta,
    ctx: &RequestCtx,
) -> Option<ForcedFreshness> {
    let video = ctx.video.as_deref()?;
    shared
        .cache
        .purges
        .is_purged(video, meta.created())
        .then_some(ForcedFreshness::ForceMiss)
}

/// Whether and for how long a node's answer is stored.
pub(super) fn response_cacheable(
    shared: &Shared,
    resp: &ResponseHeader,
    ctx: &RequestCtx,
) -> RespCacheable {
    let class = ctx.cache_class.unwrap_or(CacheClass::Never);
    match policy::ttl(class, resp, shared.cache.playlist_cap, ctx.signed) {
        Some(ttl) => {
            let now = SystemTime::now();
            RespCacheable::Cacheable(CacheMeta::new(now + ttl, now, 0, 0, resp.clone()))
        }
        None => RespCacheable::Uncacheable(NoCacheReason::OriginNotCache),
    }
}

/// Records how a cacheable request was answered (once) and returns
/// whether it came from the cache.
pub(super) fn record_result(shared: &Shared, session: &Session, ctx: &mut RequestCtx) -> bool {
    let result = match session.cache.phase() {
        CachePhase::Hit if session.cache.lock_duration().is_some() => CacheResult::Coalesced,
        CachePhase::Hit => CacheResult::Hit,
        CachePhase::Miss
        | CachePhase::Expired
        | CachePhase::Stale
        | CachePhase::StaleUpdating
        | CachePhase::Revalidated
        | CachePhase::RevalidatedNoCache(_) => CacheResult::Miss,
        _ => return false,
    };
    if ctx.cache_result.is_none() {
        shared.metrics.observe_cache(result);
        ctx.cache_result = Some(result);
    }
    matches!(result, CacheResult::Hit | CacheResult::Coalesced)
}
