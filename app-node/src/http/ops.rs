//! Operator endpoints and static assets.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: catalog and store reachable and not draining.
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
    if let Err(e) = state.catalog.ping().await {
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
    if let Ok(counts) = state.catalog.job_counts().await {
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

/// `GET /static/{file}`: the page scripts, styles and the pinned hls.js.
pub async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let web = state.config.web_dir();
    let (path, mime) = match file.as_str() {
        "hls.min.js" => (
            web.join("node_modules/hls.js/dist/hls.min.js"),
            "text/javascript",
        ),
        "player.js" | "upload.js" => (web.join("static").join(&file), "text/javascript"),
        "style.css" => (web.join("static/style.css"), "text/css"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            r
        }
        Err(e) => {
            tracing::error!(
                "asset {} missing: {e} (run npm ci in app-node/web)",
                path.display()
            );
            StatusCode::NOT_FOUND.into_response()
        }
    }
}
