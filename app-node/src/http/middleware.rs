//! Cross-cutting layers: node name header, metrics and the overload guard.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::state::AppState;

/// Stamps `X-Reel-Node` and records request metrics.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    state
        .metrics
        .requests
        .with_label_values(&[&route, &method, &status])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&state.node_name) {
        resp.headers_mut().insert("x-reel-node", v);
    }
    resp
}

/// The two concurrency pools: playback (`/media`, `/static`) and the rest.
/// Separate so that no flood of page, API or sign-in requests can take the
/// slots that serve segments.
#[derive(Clone)]
pub struct Pools {
    media: Arc<Semaphore>,
    work: Arc<Semaphore>,
}

impl Pools {
    /// Pools sized from the config.
    pub fn new(state: &AppState) -> Self {
        Pools {
            media: Arc::new(Semaphore::new(state.config.http.max_media_concurrency)),
            work: Arc::new(Semaphore::new(state.config.http.max_concurrency)),
        }
    }
}

/// Refuses work beyond its pool's limit at once with 503 + Retry-After
/// instead of queueing it; health endpoints are routed around this layer.
pub async fn shed(
    State((state, pools)): State<(AppState, Pools)>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let (pool, name) = if path.starts_with("/media/") || path.starts_with("/static/") {
        (&pools.media, "media")
    } else {
        (&pools.work, "concurrency")
    };
    match pool.clone().try_acquire_owned() {
        Ok(permit) => {
            let resp = next.run(req).await;
            // A streamed body (a segment) is still being sent after the
            // handler returns; hold the slot until it is done.
            let (parts, body) = resp.into_parts();
            let body = axum::body::Body::new(Held {
                inner: body,
                _permit: permit,
            });
            Response::from_parts(parts, body)
        }
        Err(_) => {
            state.metrics.shed.with_label_values(&[name]).inc();
            ApiError::unavailable("overloaded", "the node is busy; try again shortly", 1)
                .into_response()
        }
    }
}

/// A response body that keeps a pool slot until it is dropped.
struct Held {
    inner: axum::body::Body,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl http_body::Body for Held {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
