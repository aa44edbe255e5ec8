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
    if let Err(e) = state.catalog.health.ping().await {
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

/// Scripts and styles under `web/static/` that may be served. Only these
/// exact names are looked up, so no request can reach another file.
const STATIC_FILES: &[&str] = &[
    "player.js",
    "player-controls.js",
    "player-keys.js",
    "player-menu.js",
    "player-menus.js",
    "player-resume.js",
    "player-source.js",
    "player-storyboard.js",
    "player-util.js",
    "subtitle-upload.js",
    "upload.js",
    "style.css",
];

/// `GET /static/{file}`: the page scripts, styles and the pinned hls.js.
pub async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let web = state.config.web_dir();
    let (path, mime) = match file.as_str() {
        "hls.min.js" => (
            web.join("node_modules/hls.js/dist/hls.min.js"),
            "text/javascript",
        ),
        name if STATIC_FILES.contains(&name) => {
            let mime = if name.ends_with(".css") {
                "text/css"
            } else {
                "text/javascript"
            };
            (web.join("static").join(name), mime)
        }
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

#[cfg(test)]
mod tests {
    #[test]
    fn allow_list_matches_the_static_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/static");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = super::STATIC_FILES.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }
}
