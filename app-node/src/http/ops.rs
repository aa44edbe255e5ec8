//! Operator endpoints: health, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// Answer of the health and readiness checks.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// `ok` (alive), `ready`, or `unavailable`.
    status: String,
    /// Why not ready, when `unavailable`.
    reason: Option<String>,
}

/// `GET /healthz`: the process is alive.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "Alive", body = Health)),
    security(()),
)]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: catalog and store reachable and not draining.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready for traffic", body = Health),
        (status = 503, description = "Draining, or catalog or storage unreachable", body = Health),
    ),
    security(()),
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let fail = |why: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": why})),
        )
            .into_response()
    };
    if state.is_draining() {
        return fail("draining");
    }
    let limit = state.catalog_ping_limit();
    if let Err(e) = crate::catalog::within(limit, "a ping", state.catalog.health.ping()).await {
        tracing::warn!("readiness: catalog: {e}");
        return fail("catalog unreachable");
    }
    if let Err(e) = state.store.ping().await {
        tracing::warn!("readiness: storage: {e}");
        return fail("storage unreachable");
    }
    Json(json!({"status": "ready"})).into_response()
}

/// `GET /metrics`: Prometheus text; job gauges are refreshed from the catalog.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(counts) = state.catalog.jobs.counts().await {
        for s in ["queued", "running", "done", "failed"] {
            let n = counts
                .iter()
                .find(|(k, _)| k == s)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            state.metrics.jobs.with_label_values(&[s]).set(n);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
