//! The admin HTTP server: `/metrics`, `/healthz`, `/backends`,
//! `POST /reload` and `POST /purge/{video}`, on its own port so it stays
//! reachable (and is never shed) when the viewer port is saturated.
//!
//! It is a pingora listening service like the viewer port, so its socket
//! is handed to a successor on a binary upgrade. Every request head must
//! arrive within `admin.header_timeout_ms`, counted from the first read, so
//! neither a silent nor a trickling client can hold a connection.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, StatusCode};
use pingora_core::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_http::ResponseHeader;

use crate::drain::Lifecycle;
use crate::metrics::MetricsError;
use crate::reload;
use crate::state::Shared;

pub mod auth;
pub mod routes;
pub mod service;

pub use routes::backends_json;
pub use service::AdminService;

/// Errors answered by the admin server.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such endpoint.
    #[error("no admin endpoint at {0}")]
    NotFound(String),
    /// The endpoint exists but not for this method.
    #[error("{0} is not allowed here")]
    MethodNotAllowed(Method),
    /// The request head could not be parsed.
    #[error("malformed request")]
    BadRequest,
    /// No admin token is configured, so `POST /reload` is closed.
    #[error(
        "reload over HTTP is disabled because no admin token is configured \
         (set REEL_ADMIN__TOKEN); reload with SIGHUP instead"
    )]
    ReloadDisabled,
    /// `POST /purge/…` without an admin token configured.
    #[error("purging needs an admin token (set REEL_ADMIN__TOKEN) shared with the nodes")]
    PurgeDisabled,
    /// The video id in a purge path is not one.
    #[error("`{0}` is not a video id")]
    BadVideoId(String),
    /// A token is configured and the request did not present it.
    #[error("missing or wrong `Authorization: Bearer` token")]
    Unauthorized,
    /// Metrics could not be rendered.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A reload was refused.
    #[error(transparent)]
    Reload(#[from] reload::ReloadError),
}

impl AdminError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::NotFound(_) => "not_found",
            AdminError::MethodNotAllowed(_) => "method_not_allowed",
            AdminError::BadRequest => "bad_request",
            AdminError::ReloadDisabled => "reload_signal_only",
            AdminError::PurgeDisabled => "purge_disabled",
            AdminError::BadVideoId(_) => "bad_video_id",
            AdminError::Unauthorized => "unauthorized",
            AdminError::Metrics(e) => e.code(),
            AdminError::Reload(e) => e.code(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::BadRequest => StatusCode::BAD_REQUEST,
            AdminError::ReloadDisabled | AdminError::PurgeDisabled => StatusCode::FORBIDDEN,
            AdminError::BadVideoId(_) => StatusCode::BAD_REQUEST,
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Metrics(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdminError::Reload(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// The admin port's pingora application.
#[derive(Debug)]
pub struct AdminApp {
    shared: Arc<Shared>,
    lifecycle: Arc<Lifecycle>,
}

impl AdminApp {
    /// Creates the app over the shared state.
    pub fn new(shared: Arc<Shared>, lifecycle: Arc<Lifecycle>) -> Self {
        AdminApp { shared, lifecycle }
    }

    async fn answer(&self, http: &mut ServerSession) -> routes::Reply {
        let req = http.req_header();
        let request = routes::Request {
            method: &req.method,
            path: req.uri.path(),
            authorization: req
                .headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        };
        match routes::route(&self.shared, &self.lifecycle, &request).await {
            Ok(reply) => reply,
            Err(e) => routes::Reply::error(&e),
        }
    }
}

/// Writes `reply`; false when the connection is no longer usable.
async fn write_reply(http: &mut ServerSession, reply: routes::Reply, head_only: bool) -> bool {
    let mut header = match ResponseHeader::build(reply.status, Some(4 + reply.headers.len())) {
        Ok(h) => h,
        Err(_) => return false,
    };
    let body = Bytes::from(reply.body);
    let mut fields = vec![
        ("Content-Type", reply.content_type.to_string()),
        ("Content-Length", body.len().to_string()),
        ("Cache-Control", "no-store".to_string()),
    ];
    fields.extend(reply.headers.iter().map(|(k, v)| (*k, v.to_string())));
    for (k, v) in fields {
        if header.insert_header(k, v).is_err() {
            return false;
        }
    }
    if let Err(e) = http.write_response_header(Box::new(header)).await {
        tracing::debug!("admin answer not delivered: {e}");
        return false;
    }
    if !head_only && !body.is_empty() {
        if let Err(e) = http.write_response_body(body, true).await {
            tracing::debug!("admin answer body not delivered: {e}");
            return false;
        }
    }
    true
}

#[async_trait]
impl HttpServerApp for AdminApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut http: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let limit = Duration::from_millis(self.shared.snapshot().config.admin.header_timeout_ms);
        // Bodies are not used here; whatever a client sends is drained
        // before reuse, and every answer written, within the same limit.
        http.set_read_timeout(Some(limit));
        http.set_write_timeout(Some(limit));
        http.set_total_drain_timeout(Some(limit));
        // pingora's own timeouts apply per read, which a client sending a
        // byte now and then never trips; this bounds the whole head.
        match tokio::time::timeout(limit, http.read_request()).await {
            Err(_) => {
                tracing::debug!(?limit, "admin client sent no complete request head in time");
                return None;
            }
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return None,
            Ok(Err(e)) => {
                tracing::debug!("unreadable admin request: {e}");
                let reply = routes::Reply::error(&AdminError::BadRequest);
                http.set_keepalive(None);
                write_reply(&mut http, reply, false).await;
                let _ = http.finish().await;
                return None;
            }
        }
        let keep = !*shutdown.borrow();
        http.set_keepalive(keep.then_some(60));
        let head_only = http.req_header().method == Method::HEAD;
        let reply = self.answer(&mut http).await;
        if !write_reply(&mut http, reply, head_only).await {
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&http);
        match http.finish().await {
            Ok(reusable) => reusable.map(|s| ReusedHttpStream::from_reusable_stream(s, settings)),
            Err(e) => {
                tracing::debug!("admin connection not reusable: {e}");
                None
            }
        }
    }
}
