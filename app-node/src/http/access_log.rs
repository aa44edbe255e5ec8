//! One log line per response, carrying the balancer's `X-Request-Id` so a
//! request can be followed from the balancer's log into the node's.
//!
//! Successful `/media` and `/static` responses are logged at DEBUG unless
//! `http.log_media` is set: they are most of a node's requests, the
//! balancer's access log already records each one, and formatting a span
//! and a line for every segment cost about a quarter of a node's CPU when
//! serving small files. Their failures are always logged.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::state::AppState;

/// The access-log layer; see the module docs.
pub async fn access_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let playback = path.starts_with("/media/")
        || path.starts_with(reel_playback::PREFIX)
        || path.starts_with("/static/");
    if playback && !state.config.http.log_media {
        // Cheap: the URI and the header value share their bytes, and
        // nothing is copied or formatted unless the response is a failure
        // or DEBUG is on.
        let (method, uri, rid) = (req.method().clone(), req.uri().clone(), request_id(&req));
        let started = Instant::now();
        let resp = next.run(req).await;
        let status = resp.status();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let path = uri.path();
        let rid = text(&rid);
        if status.is_client_error() || status.is_server_error() {
            tracing::info!(%method, path, request_id = rid, status = status.as_u16(), latency_ms = ms, "finished processing request");
        } else {
            tracing::debug!(%method, path, request_id = rid, status = status.as_u16(), latency_ms = ms, "finished processing request");
        }
        return resp;
    }
    let rid = request_id(&req);
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = text(&rid));
    let started = Instant::now();
    let resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, latency_ms = ms, "finished processing request");
        } else {
            tracing::info!(status, latency_ms = ms, "finished processing request");
        }
    });
    resp
}

/// The balancer's `X-Request-Id`, kept without copying its bytes.
fn request_id(req: &Request) -> Option<HeaderValue> {
    req.headers().get("x-request-id").cloned()
}

/// The id as logged: `-` when absent or not plain text.
fn text(rid: &Option<HeaderValue>) -> &str {
    rid.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-")
}
