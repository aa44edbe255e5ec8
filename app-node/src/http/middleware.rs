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
    // Cheap clones (a shared string, a small enum): no label is copied
    // into a new String on this path, which every request takes.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", |m| m.as_str());
    state
        .metrics
        .requests
        .with_label_values(&[route, method.as_str(), resp.status().as_str()])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[route])
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
    let (pool, name) = if path.starts_with("/media/")
        || path.starts_with(reel_playback::PREFIX)
        || path.starts_with("/static/")
    {
        (&pools.media, "media")
    } else {
        (&pools.work, "concurrency")
    };
    match pool.clone().try_acquire_owned() {
        // The slot covers the handler's work (catalog, store, file opens).
        // A body still streaming to a slow reader afterwards holds only its
        // connection, which `http.max_connections` bounds; holding the slot
        // until the last byte would let slow readers empty the pool.
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            state.metrics.shed.with_label_values(&[name]).inc();
            ApiError::unavailable("overloaded", "the node is busy; try again shortly", 1)
                .into_response()
        }
    }
}
