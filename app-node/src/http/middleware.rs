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

/// Refuses work beyond the concurrency limit at once with 503 + Retry-After
/// instead of queueing it; health endpoints are routed around this layer.
pub async fn shed(
    State((state, permits)): State<(AppState, Arc<Semaphore>)>,
    req: Request,
    next: Next,
) -> Response {
    match permits.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            state.metrics.shed.with_label_values(&["concurrency"]).inc();
            ApiError::unavailable("overloaded", "the node is busy; try again shortly", 1)
                .into_response()
        }
    }
}
