//! The viewer-facing proxy as pingora [`ProxyHttp`] hooks, in the order
//! pingora calls them: request id and classification; the edge cache;
//! admission and node choice (only for requests the cache cannot answer);
//! forwarding headers; the node's answer, retries and passive checks;
//! per-request accounting.
//!
//! Request and response bodies are streamed by pingora chunk by chunk; the
//! balancer never collects a body, so memory stays flat for any upload size.

mod cache_hooks;
mod ctx;
mod failure;
mod upstream;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::{CacheKey, CacheMeta, ForcedFreshness, HitHandler, RespCacheable};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

pub use ctx::RequestCtx;

use crate::admission;
use crate::cache::policy;
use crate::observe::AccessRecord;
use crate::refusal::{self, Refusal};
use crate::route;
use crate::signed;
use crate::state::Shared;

/// Header carrying the request id end to end.
pub const REQUEST_ID: &str = "X-Request-Id";
/// Header naming the app node that produced a response.
pub const NODE_HEADER: &str = "X-Reel-Node";
/// Header saying whether the edge cache answered.
pub const CACHE_HEADER: &str = "X-Cache";

/// The pingora proxy application.
#[derive(Debug)]
pub struct Balancer {
    shared: Arc<Shared>,
}

impl Balancer {
    /// Creates the proxy over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Balancer { shared }
    }
}

/// A caller-supplied id is kept only if it is short printable ASCII, so
/// it is safe to log and to forward.
fn usable_request_id(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= 128 && value.iter().all(|b| b.is_ascii_graphic())
}

/// Media file names and tokens are plain (`[A-Za-z0-9._-]`), so an
/// escaped spelling of one can only be an attempt to get past the cache.
fn path_is_escaped_media(path: &str) -> bool {
    (path.starts_with("/media/") || reel_playback::is_signed(path)) && path.contains('%')
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Balancer {
    /// Answers the request with a refusal and records it.
    async fn refuse(&self, session: &mut Session, ctx: &mut RequestCtx, reason: Refusal) {
        ctx.refusal = Some(reason);
        ctx.status = reason.status();
        self.shared.metrics.observe_shed(reason.code());
        let retry_after = ctx.snapshot().map_or(1, |s| s.config.proxy.retry_after_s);
        if let Err(e) = refusal::respond(session, reason, retry_after, &ctx.request_id).await {
            tracing::debug!(request_id = %ctx.request_id, "refusal not delivered: {e}");
        }
    }
}

#[async_trait]
impl ProxyHttp for Balancer {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.started = Some(Instant::now());
        ctx.received = Some(SystemTime::now());
        ctx.active = Some(self.shared.active.enter());
        ctx.request_id = match session.get_header(REQUEST_ID) {
            Some(v) if usable_request_id(v.as_bytes()) => {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            }
            _ => new_request_id(),
        };
        let req = session.req_header();
        let method = &req.method;
        ctx.idempotent = method == http::Method::GET || method == http::Method::HEAD;
        let path = req.uri.path();
        ctx.cache_class = Some(policy::classify(method, path));
        ctx.video = route::video_id(path).map(str::to_string);
        let snapshot = self.shared.snapshot();
        // Before anything else may answer, the cache above all.
        match signed::check(&snapshot.playback, path, signed::now_unix()) {
            signed::Check::Plain => {}
            signed::Check::Verified { .. } => ctx.signed = true,
            signed::Check::Unchecked => ctx.cache_class = Some(policy::CacheClass::Never),
            signed::Check::Refused(why) => {
                tracing::debug!(request_id = %ctx.request_id, code = why.code(), "playback token refused");
                ctx.snapshot = Some(snapshot);
                self.refuse(session, ctx, Refusal::BadPlaybackToken).await;
                return Ok(true);
            }
        }
        ctx.client_ip = self.shared.edge.client_ip(session);
        if path_is_escaped_media(session.req_header().uri.path()) {
            ctx.snapshot = Some(snapshot);
            self.refuse(session, ctx, Refusal::BadMediaPath).await;
            return Ok(true);
        }
        if let Err(reason) = self
            .shared
            .edge
            .admit_request(ctx.client_ip, &snapshot.config)
        {
            ctx.snapshot = Some(snapshot);
            self.refuse(session, ctx, reason).await;
            return Ok(true);
        }
        let req = session.req_header();
        let path = req.uri.path();
        ctx.retries_left = snapshot.config.proxy.retries;
        ctx.verdict = Some(self.shared.admission.classify(
            path,
            req.headers.get(http::header::COOKIE).map(|v| v.as_bytes()),
            &snapshot.config.admission,
        ));
        ctx.snapshot = Some(snapshot);
        let path = session.req_header().uri.path().to_string();
        if let Err(reason) = upstream::gate_session_start(&self.shared, ctx, &path) {
            self.refuse(session, ctx, reason).await;
            return Ok(true);
        }
        Ok(false)
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        cache_hooks::request_cache_filter(&self.shared, session, ctx);
        Ok(())
    }

    fn cache_key_callback(&self, session: &Session, _ctx: &mut RequestCtx) -> Result<CacheKey> {
        Ok(CacheKey::new(
            policy::cache_key(session.req_header().uri.path()).into_owned(),
            "",
        ))
    }

    async fn cache_hit_filter(
        &self,
        _session: &mut Session,
        meta: &CacheMeta,
        _hit_handler: &mut HitHandler,
        _is_fresh: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<ForcedFreshness>> {
        Ok(cache_hooks::hit_filter(&self.shared, meta, ctx))
    }

    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<RespCacheable> {
        Ok(cache_hooks::response_cacheable(&self.shared, resp, ctx))
    }

    async fn proxy_upstream_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        // Only requests the cache could not answer get here: they are the
        // ones that need a node slot.
        cache_hooks::pass_partial_misses(session);
        match upstream::admit(&self.shared, ctx) {
            Ok(()) => Ok(true),
            Err(reason) => {
                self.refuse(session, ctx, reason).await;
                Ok(false)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        upstream::peer(&self.shared, ctx)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.shared
            .edge
            .forward(session, upstream, crate::tls::is_tls(session))?;
        upstream.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream::on_response_head(&self.shared, resp, ctx)
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        if end_of_stream {
            // The node's part is done: free its slot now rather than when
            // a slow client has finished downloading.
            upstream::release(ctx);
        }
        Ok(None)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.response_started = true;
        ctx.status = response.status.as_u16();
        let hit = cache_hooks::record_result(&self.shared, session, ctx);
        response.insert_header(CACHE_HEADER, if hit { "HIT" } else { "MISS" })?;
        if response.headers.get(NODE_HEADER).is_none() {
            if let Some(node) = &ctx.node {
                response.insert_header(NODE_HEADER, node.as_str())?;
            }
        }
        if response.headers.get(REQUEST_ID).is_none() {
            response.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
        } else if hit {
            // A cached head carries the id of the request that filled it.
            response.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
        }
        if let (Some(v), Some(snapshot)) = (ctx.verdict, ctx.snapshot()) {
            let admitted_start = v.class == admission::Class::NewSession
                && admission::starts_session(session.req_header().uri.path());
            let renew = v.class == admission::Class::Playing;
            if v.issue_cookie && (admitted_start || renew) && ctx.status < 400 {
                let ttl = snapshot.config.admission.session_ttl_s;
                let cookie =
                    self.shared
                        .admission
                        .cookie(v.session, ttl, crate::tls::is_tls(session));
                response.append_header(http::header::SET_COOKIE, cookie)?;
                // A shared cache in front must never hand one viewer's
                // session to everyone: this answer is for this client only.
                private_cache_control(response)?;
            }
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // Nothing reached the node, so any method may go elsewhere.
        let retry = upstream::may_retry(&self.shared, ctx, "connect", true);
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        _client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("backend {peer}"));
        let retry = upstream::after_error(&self.shared, session, &e, ctx);
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        if let Some(reason) = ctx.refusal {
            // Not reused after this (see below): the answer says so.
            session.set_keepalive(None);
            self.refuse(session, ctx, reason).await;
            return FailToProxy {
                error_code: reason.status(),
                can_reuse_downstream: false,
            };
        }
        let code = upstream::status_for(e);
        // Once the response head went out, the status is already fixed;
        // the connection is simply closed to signal the truncation.
        if code > 0 && !ctx.response_started {
            ctx.status = code;
            if let Err(err) = failure::respond(session, code, &ctx.request_id).await {
                tracing::debug!(request_id = %ctx.request_id, "error answer not delivered: {err}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        upstream::release(ctx);
        let node = match &ctx.refusal {
            None => ctx.node.clone(),
            Some(_) => None,
        };
        let backend = node.as_ref().map_or("none", |n| n.as_str());
        let elapsed = ctx.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        self.shared
            .metrics
            .observe_request(backend, ctx.status, elapsed);
        let req = session.req_header();
        if self.shared.edge.access_log.enabled() {
            let header = |name| {
                req.headers
                    .get(name)
                    .map(|v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            self.shared.edge.access_log.record(AccessRecord {
                time: ctx.received.unwrap_or_else(SystemTime::now),
                client_ip: ctx.client_ip,
                method: req.method.to_string(),
                target: req
                    .uri
                    .path_and_query()
                    .map_or_else(|| req.uri.to_string(), |p| p.to_string()),
                version: format!("{:?}", req.version),
                status: ctx.status,
                bytes: session.body_bytes_sent(),
                referer: header(http::header::REFERER),
                user_agent: header(http::header::USER_AGENT),
                upstream: node.as_ref().map(|n| n.to_string()),
                upstream_ms: ctx.upstream_ms,
                total_ms: (elapsed * 1000.0) as u64,
                request_id: ctx.request_id.clone(),
                cache: ctx.cache_result,
            });
        }
        let cache = ctx.cache_result.map_or("-", |r| r.as_str());
        match e {
            None => tracing::info!(
                request_id = %ctx.request_id, method = %req.method, path = %req.uri.path(),
                backend = %backend, status = ctx.status, retried = !ctx.tried.is_empty(),
                cache, ms = (elapsed * 1000.0) as u64, "request"
            ),
            Some(err) => tracing::warn!(
                request_id = %ctx.request_id, method = %req.method, path = %req.uri.path(),
                backend = %backend, status = ctx.status, ms = (elapsed * 1000.0) as u64,
                "request failed: {err}"
            ),
        }
        ctx.active.take();
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        // `logging` already records every failure with its request id.
        true
    }
}

/// Turns `public` into `private` in the answer's `Cache-Control` (keeping
/// its lifetimes), or sets `private` where there was none.
fn private_cache_control(response: &mut ResponseHeader) -> Result<()> {
    let current = response
        .headers
        .get(http::header::CACHE_CONTROL)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let private = match current {
        Some(cc) => {
            let rest: Vec<&str> = cc
                .split(',')
                .map(str::trim)
                .filter(|d| !d.eq_ignore_ascii_case("public") && !d.is_empty())
                .collect();
            std::iter::once("private")
                .chain(rest)
                .collect::<Vec<_>>()
                .join(", ")
        }
        None => "private".to_string(),
    };
    response.insert_header(http::header::CACHE_CONTROL, private)?;
    Ok(())
}

/// Error raised on a node's 503 so pingora moves the request to another
/// node; only raised when a retry will actually be made.
pub(crate) fn node_unavailable() -> Box<Error> {
    let mut e = Error::explain(ErrorType::HTTPStatus(503), "node answered 503");
    e.set_retry(true);
    e.into_up()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(usable_request_id(b"abc-123"));
        assert!(!usable_request_id(b""));
        assert!(!usable_request_id(b"has space"));
        assert!(!usable_request_id(&[b'a'; 200]));
        assert_eq!(new_request_id().len(), 32);
    }

    #[test]
    fn escaped_media_paths() {
        assert!(path_is_escaped_media("/media/a/v0/seg_%31.m4s"));
        assert!(!path_is_escaped_media("/media/a/v0/seg_1.m4s"));
        assert!(!path_is_escaped_media("/search?q=%20"));
        assert!(path_is_escaped_media("/v/t%2e/a/v0/seg_1.m4s"));
    }

    #[test]
    fn cookies_make_answers_private() {
        let mut r = ResponseHeader::build(200, None).unwrap();
        r.insert_header("Cache-Control", "public, max-age=31536000, immutable")
            .unwrap();
        private_cache_control(&mut r).unwrap();
        assert_eq!(
            r.headers["cache-control"],
            "private, max-age=31536000, immutable"
        );
    }
}
