//! The viewer-facing proxy: admission, backend choice, forwarding headers,
//! safe retries and per-request accounting, as pingora [`ProxyHttp`] hooks.
//!
//! Request and response bodies are streamed by pingora chunk by chunk; the
//! balancer never collects a body, so memory stays flat for any upload size.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::observe::{AccessRecord, CacheStatus};
use crate::refusal::{self, ShedReason};
use crate::select::backend::{Lease, TotalLease};
use crate::state::{Shared, Snapshot};

/// Header carrying the request id end to end.
pub const REQUEST_ID: &str = "X-Request-Id";
/// Header naming the app node that produced a response.
pub const NODE_HEADER: &str = "X-Reel-Node";

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

/// Per-request state carried through the pingora phases.
#[derive(Debug, Default)]
pub struct RequestCtx {
    request_id: String,
    started: Option<Instant>,
    snapshot: Option<Arc<Snapshot>>,
    total: Option<TotalLease>,
    lease: Option<Lease>,
    /// Backend of the current attempt, kept after the lease is released
    /// so logging can name it.
    backend: Option<SocketAddr>,
    /// Configured name of that backend, the only one viewers see.
    node: Option<Arc<String>>,
    /// The client's address (the peer, or behind a trusted proxy the
    /// forwarded one).
    client_ip: Option<IpAddr>,
    received: Option<SystemTime>,
    upstream_started: Option<Instant>,
    upstream_ms: Option<u64>,
    /// Set by the cache for the access log.
    cache: Option<CacheStatus>,
    tried: Vec<SocketAddr>,
    retries_left: u32,
    idempotent: bool,
    response_started: bool,
    shed: Option<ShedReason>,
    status: u16,
}

/// A caller-supplied id is kept only if it is short printable ASCII, so
/// it is safe to log and to forward.
fn usable_request_id(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= 128 && value.iter().all(|b| b.is_ascii_graphic())
}

fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Balancer {
    async fn shed(&self, session: &mut Session, ctx: &mut RequestCtx, reason: ShedReason) {
        ctx.shed = Some(reason);
        ctx.status = reason.status();
        self.shared.metrics.observe_shed(reason.code());
        let retry_after = ctx
            .snapshot
            .as_ref()
            .map_or(1, |s| s.config.proxy.retry_after_s);
        if let Err(e) = refusal::respond(session, reason, retry_after, &ctx.request_id).await {
            tracing::debug!(request_id = %ctx.request_id, "shed answer not delivered: {e}");
        }
    }

    fn peer_for(&self, snapshot: &Snapshot, addr: SocketAddr) -> HttpPeer {
        let p = &snapshot.config.proxy;
        let mut peer = HttpPeer::new(addr, false, String::new());
        let connect = Duration::from_millis(p.connect_timeout_ms);
        let read = Duration::from_millis(p.read_timeout_ms);
        peer.options.connection_timeout = Some(connect);
        peer.options.total_connection_timeout = Some(connect);
        peer.options.read_timeout = Some(read);
        peer.options.write_timeout = Some(read);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        peer
    }

    /// Marks the failed attempt and decides whether another backend may
    /// take the request.
    fn may_retry(&self, ctx: &mut RequestCtx, reason: &str) -> bool {
        if let Some(lease) = ctx.lease.take() {
            ctx.tried.push(lease.backend().address());
        }
        if !ctx.idempotent || ctx.response_started || ctx.retries_left == 0 {
            return false;
        }
        ctx.retries_left -= 1;
        self.shared.metrics.observe_retry(reason);
        true
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
        ctx.request_id = match session.get_header(REQUEST_ID) {
            Some(v) if usable_request_id(v.as_bytes()) => {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            }
            _ => new_request_id(),
        };
        let method = &session.req_header().method;
        ctx.idempotent = method == http::Method::GET || method == http::Method::HEAD;
        let snapshot = self.shared.snapshot();
        ctx.retries_left = snapshot.config.proxy.retries;
        ctx.snapshot = Some(Arc::clone(&snapshot));
        ctx.client_ip = self.shared.edge.client_ip(session);
        if let Err(reason) = self
            .shared
            .edge
            .admit_request(ctx.client_ip, &snapshot.config)
        {
            self.shed(session, ctx, reason).await;
            return Ok(true);
        }

        let Some(total) = self
            .shared
            .total_in_flight
            .try_acquire(snapshot.config.proxy.max_in_flight_total)
        else {
            self.shed(session, ctx, ShedReason::TotalLimit).await;
            return Ok(true);
        };
        ctx.total = Some(total);
        let path = session.req_header().uri.path().to_string();
        match snapshot.pool.pick(&path, &[]) {
            Ok(lease) => {
                ctx.backend = Some(lease.backend().address());
                ctx.node = Some(lease.backend().name());
                ctx.lease = Some(lease);
                Ok(false)
            }
            Err(e) => {
                self.shed(session, ctx, e.into()).await;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let snapshot = ctx
            .snapshot
            .clone()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no config snapshot"))?;
        if ctx.lease.is_none() {
            // A retry: the first choice failed, pick among the others.
            let path = session.req_header().uri.path().to_string();
            match snapshot.pool.pick(&path, &ctx.tried) {
                Ok(lease) => ctx.lease = Some(lease),
                Err(e) => {
                    ctx.shed = Some(e.into());
                    return Err(Error::explain(
                        ErrorType::HTTPStatus(503),
                        "no other backend can take the retry",
                    ));
                }
            }
        }
        let (addr, node) = ctx
            .lease
            .as_ref()
            .map(|l| (l.backend().address(), l.backend().name()))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no backend chosen"))?;
        ctx.backend = Some(addr);
        ctx.node = Some(node);
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(self.peer_for(&snapshot, addr)))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let is_tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        self.shared.edge.forward(session, upstream, is_tls)?;
        upstream.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.response_started = true;
        ctx.status = response.status.as_u16();
        ctx.upstream_ms = ctx.upstream_started.map(|t| t.elapsed().as_millis() as u64);
        if response.headers.get(NODE_HEADER).is_none() {
            if let Some(node) = &ctx.node {
                response.insert_header(NODE_HEADER, node.as_str())?;
            }
        }
        if response.headers.get(REQUEST_ID).is_none() {
            response.insert_header(REQUEST_ID, ctx.request_id.as_str())?;
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
        let retry = self.may_retry(ctx, "connect");
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
        // Only failures on the backend side are worth another backend; and a
        // body that no longer fits the replay buffer cannot be resent.
        let upstream_fault = *e.esource() == ErrorSource::Upstream;
        let replayable = !session.as_ref().retry_buffer_truncated();
        let retry = upstream_fault && replayable && self.may_retry(ctx, "upstream_error");
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        if let Some(reason) = ctx.shed {
            self.shed(session, ctx, reason).await;
            return FailToProxy {
                error_code: 503,
                can_reuse_downstream: false,
            };
        }
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                if *e.esource() == ErrorSource::Upstream =>
            {
                504
            }
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        // Once the response head went out, the status is already fixed;
        // the connection is simply closed to signal the truncation.
        if code > 0 && !ctx.response_started {
            ctx.status = code;
            if let Err(err) = session.respond_error(code).await {
                tracing::debug!(request_id = %ctx.request_id, "error answer not delivered: {err}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let lease = ctx.lease.take();
        ctx.total.take();
        let node = match &ctx.shed {
            None => ctx.node.clone(),
            Some(_) => None,
        };
        let backend = node.as_ref().map_or("none", |n| n.as_str());
        if let (Some(lease), true) = (&lease, e.is_none()) {
            lease.backend().mark_served();
        }
        drop(lease);
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
                cache: ctx.cache,
            });
        }
        match e {
            None => tracing::info!(
                request_id = %ctx.request_id, method = %req.method, path = %req.uri.path(),
                backend = %backend, status = ctx.status, retried = !ctx.tried.is_empty(),
                ms = (elapsed * 1000.0) as u64, "request"
            ),
            Some(err) => tracing::warn!(
                request_id = %ctx.request_id, method = %req.method, path = %req.uri.path(),
                backend = %backend, status = ctx.status, ms = (elapsed * 1000.0) as u64,
                "request failed: {err}"
            ),
        }
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        // `logging` already records every failure with its request id.
        true
    }
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
}
