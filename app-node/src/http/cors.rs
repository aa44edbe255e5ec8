//! CORS for `/media` and `/oembed`: players and sites on other origins
//! (Shaka Player, hls.js, video.js, oEmbed consumers) read them with
//! `fetch`, which a browser refuses without these headers. Pages and the
//! API never get them, so no other site can read a signed-in user's pages
//! or call the API from a visitor's browser.
//!
//! The allowed origin is one configured value (`cors.allow_origin`), the
//! same whoever asks, so responses need no `Vary: Origin` and the
//! balancer's edge cache can keep one copy of each file for every site.
//!
//! Every video is public today. Private videos (issue 11, part 3) hook in
//! here: their files will be reachable only through signed `/v/{token}/…`
//! URLs, and unsigned `/media` requests for them must be refused before
//! this layer adds anything. A signed URL is a bearer capability, so `*`
//! stays right for it; whether an operator may narrow it per video is
//! decided there.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Response headers a cross-origin player may read: the ones it needs for
/// Range requests and progress.
const EXPOSE: &str = "Content-Length, Content-Range, Accept-Ranges";

/// Methods answered to a preflight.
const METHODS: &str = "GET, HEAD, OPTIONS";

/// Request headers a cross-origin player may send: `Range`, which players
/// use for byte-range segments and which makes a request need a preflight.
const ALLOW_HEADERS: &str = "Range";

/// Adds `Access-Control-Allow-Origin` and `-Expose-Headers` to every answer
/// of the route it wraps, errors and redirects included, so a player on
/// another site can tell a missing file or follow a redirect to the
/// current version instead of seeing an opaque network error.
pub async fn allow(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let origin = state.config.cors.allow_origin.as_str();
    if let (false, Ok(v)) = (origin.is_empty(), HeaderValue::from_str(origin)) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE),
        );
    }
    resp
}

/// `OPTIONS /media/{id}/{*path}`: the preflight a browser sends before a
/// cross-origin GET with `Range`. It names no file, so it answers the same
/// for every path; [`allow`] adds the origin. With CORS off it still
/// answers (`Allow`), and the browser then refuses the real request.
pub async fn preflight(State(state): State<AppState>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(METHODS));
    if !state.config.cors.allow_origin.is_empty() {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(state.config.cors.preflight_max_age_s),
        );
    }
    // Browsers do not keep preflight answers in the HTTP cache, and a
    // shared cache has no business keeping one either.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
