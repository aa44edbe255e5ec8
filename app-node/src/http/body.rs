//! Small request bodies are read in full, under a deadline, before the
//! request counts against the node's concurrency limit.
//!
//! A client that trickles a body byte by byte then holds a connection and a
//! small buffer, never a handler slot, and is cut off with 408 when its time
//! is up. All small bodies being read share one byte budget, so no number of
//! slow senders can grow memory past it. Uploads (videos, subtitle files)
//! stream in their handler instead, after authentication, with an idle-read
//! limit, because their size makes a total deadline meaningless.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::state::AppState;

/// Largest small body (forms, JSON).
pub const SMALL_LIMIT: usize = 64 * 1024;

/// How one request's body is read before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    /// Largest body accepted.
    pub limit: usize,
    /// Time allowed for the whole body, if any.
    pub total: Option<Duration>,
    /// Time allowed between two pieces of the body.
    pub idle: Duration,
}

/// The policy for a request, or `None` when its handler reads the body
/// itself (video uploads, tus PATCHes) or it has none to read.
pub fn policy(state: &AppState, req: &Request) -> Option<BodyPolicy> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let path = req.uri().path();
    let idle = Duration::from_secs(state.config.ingest.read_timeout_s);
    if path == "/api/videos" && is_multipart(req) {
        return None;
    }
    if path == "/api/uploads" || path.starts_with("/api/uploads/") {
        // tus bytes: streamed by the handler after authentication, each
        // piece within the idle limit, under the upload's lock.
        return None;
    }
    if path.starts_with("/api/videos/") && path.ends_with("/subtitles") {
        // An upload of up to a few MB: read by its handler only after the
        // caller is authenticated, with an idle limit per piece.
        return None;
    }
    Some(BodyPolicy {
        limit: SMALL_LIMIT,
        total: Some(Duration::from_secs(state.config.http.body_timeout_s)),
        idle,
    })
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        })
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More bytes than the policy allows.
    #[error("the request body must be at most {0} bytes")]
    TooLarge(usize),
    /// The whole body did not arrive in time.
    #[error("the request body did not arrive within {0} s")]
    TooSlow(u64),
    /// The body stalled.
    #[error("the request body stalled for {0} s")]
    Stalled(u64),
    /// The connection failed mid-body.
    #[error("the request body could not be read")]
    Broken,
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        let (status, code) = match e {
            BodyError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
            BodyError::TooSlow(_) | BodyError::Stalled(_) => {
                (StatusCode::REQUEST_TIMEOUT, "body-timeout")
            }
            BodyError::Broken => (StatusCode::BAD_REQUEST, "bad-body"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// Reads a body under `p`.
pub async fn collect(body: Body, p: BodyPolicy) -> Result<Bytes, BodyError> {
    let read = async {
        let mut body = body;
        let mut buf = Vec::new();
        loop {
            let frame = match tokio::time::timeout(p.idle, body.frame()).await {
                Err(_) => return Err(BodyError::Stalled(p.idle.as_secs())),
                Ok(None) => return Ok(Bytes::from(buf)),
                Ok(Some(Err(_))) => return Err(BodyError::Broken),
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > p.limit {
                    return Err(BodyError::TooLarge(p.limit));
                }
                buf.extend_from_slice(&data);
            }
        }
    };
    match p.total {
        Some(t) => tokio::time::timeout(t, read)
            .await
            .unwrap_or(Err(BodyError::TooSlow(t.as_secs()))),
        None => read.await,
    }
}

/// Middleware: reads the body per [`policy`] before passing the request on,
/// within the shared byte budget (`budget` counts KiB).
pub async fn read_first(
    State((state, budget)): State<(AppState, Arc<Semaphore>)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(p) = policy(&state, &req) else {
        return next.run(req).await;
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > p.limit as u64) {
        return ApiError::from(BodyError::TooLarge(p.limit)).into_response();
    }
    let kib = declared.unwrap_or(p.limit as u64).div_ceil(1024).max(1) as u32;
    let Ok(_reserved) = budget.try_acquire_many_owned(kib) else {
        state.metrics.shed.with_label_values(&["body-budget"]).inc();
        return ApiError::unavailable("overloaded", "the node is busy; try again shortly", 1)
            .into_response();
    };
    let (parts, body) = req.into_parts();
    match collect(body, p).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => {
            state
                .metrics
                .shed
                .with_label_values(&[match e {
                    BodyError::TooSlow(_) | BodyError::Stalled(_) => "slow-body",
                    _ => "bad-body",
                }])
                .inc();
            ApiError::from(e).into_response()
        }
    }
}
