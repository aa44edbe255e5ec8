//! Viewer experience: `POST /api/qoe` takes the CMCD event reports players
//! send; `GET /api/videos/{id}/qoe` sums up one video's sessions.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::auth::Uploader;
use super::client::Client;
use super::error::{ApiError, ErrorBody};
use crate::auth::client_net;
use crate::qoe::{parse_body, record, summarize, RecordError};
use crate::state::AppState;

/// Most reports one request may carry (the player sends one at a time).
pub const MAX_REPORTS: usize = 20;
/// Sessions summed up by the per-video summary: the newest ones.
pub const SUMMARY_SESSIONS: u32 = 10_000;
/// Client networks remembered before idle ones are dropped.
const PRUNE_AT: usize = 10_000;

/// Per client network: report requests, and new sessions, a minute.
#[derive(Clone)]
pub struct QoeLimiter {
    requests: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    sessions: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU64>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl QoeLimiter {
    /// `per_min` report requests and `sessions_per_min` new sessions a
    /// minute per client network, each as a burst that refills evenly.
    pub fn new(per_min: u32, sessions_per_min: u32) -> Self {
        QoeLimiter {
            requests: Arc::new(RateLimiter::keyed(per_minute(per_min))),
            sessions: Arc::new(RateLimiter::keyed(per_minute(sessions_per_min))),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts a request from `ip`; `Err` carries the seconds to wait.
    fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1024)
        {
            for b in [&self.requests, &self.sessions] {
                if b.len() > PRUNE_AT {
                    b.retain_recent();
                }
            }
        }
        self.requests.check_key(&client_net(ip)).map_err(|n| {
            n.wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }

    /// Whether `ip` may open one more session now.
    fn may_open(&self, ip: IpAddr) -> bool {
        self.sessions.check_key(&client_net(ip)).is_ok()
    }
}

/// Only `application/cmcd`: a cross-site page cannot send that type without
/// a preflight, which the node does not answer, so other sites cannot make
/// their visitors report.
fn is_cmcd(headers: &HeaderMap) -> bool {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/cmcd")
}

/// Browsers say where a request comes from; reports come from our own
/// pages (`same-origin`) or from no page at all (`none`, or no header).
fn from_elsewhere(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !matches!(v, "same-origin" | "none"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn too_many(message: String, secs: u64) -> Response {
    let mut r =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", message).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// `POST /api/qoe`: CMCD event reports of one session, one per line. 204
/// when folded in; 410 tells players to stop (reports are off, or the
/// video is gone).
#[utoipa::path(
    post, path = "/api/qoe", tag = "viewer experience",
    operation_id = "reportQoe",
    request_body(
        content = String, content_type = "application/cmcd",
        description = "CMCD v2 event reports of one session (`sid`), one a line, at most 20",
    ),
    responses(
        (status = 204, description = "Folded into the session"),
        (status = 400, description = "Not CMCD, too many reports, or several sessions", body = ErrorBody),
        (status = 403, description = "Sent from another site's page", body = ErrorBody),
        (status = 408, description = "The body came too slowly", body = ErrorBody),
        (status = 410, description = "Reports are off, or the video is gone: stop reporting", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not application/cmcd", body = ErrorBody),
        (status = 429, description = "Too many reports or sessions from this network", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Session busy or node busy; see Retry-After", body = ErrorBody),
    ),
    security(()),
)]
pub async fn report(
    State(state): State<AppState>,
    Extension(limiter): Extension<QoeLimiter>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let refused = |reason: &str| state.metrics.qoe.refused.with_label_values(&[reason]).inc();
    if !state.config.qoe.enabled {
        return Err(ApiError::new(
            StatusCode::GONE,
            "qoe-off",
            "this node takes no viewer reports",
        ));
    }
    if let Err(secs) = limiter.check(client.ip) {
        refused("limited");
        return Ok(too_many(
            format!("too many reports; try again in {secs} s"),
            secs,
        ));
    }
    if from_elsewhere(&headers) {
        refused("cross-site");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site",
            "reports are taken from this site's own pages only",
        ));
    }
    if !is_cmcd(&headers) {
        refused("media-type");
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send CMCD event reports as application/cmcd",
        ));
    }
    let text = std::str::from_utf8(&body).map_err(|_| {
        refused("bad-report");
        ApiError::bad_request("bad-cmcd", "the body is not UTF-8 text")
    })?;
    let reports = parse_body(text, MAX_REPORTS).map_err(|e| {
        refused("bad-report");
        ApiError::bad_request(e.code(), e.to_string())
    })?;
    if reports.iter().any(|r| r.sid != reports[0].sid) {
        refused("bad-report");
        return Err(ApiError::bad_request(
            "one-session-per-request",
            "all reports of a request must be of one session (sid)",
        ));
    }
    let may_open = || limiter.may_open(client.ip);
    match record(state.catalog.qoe.as_ref(), &reports, now_ms(), &may_open).await {
        Ok(delta) => {
            state.metrics.qoe.observe(&delta);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(RecordError::UnknownVideo(id)) => {
            refused("unknown-video");
            Err(ApiError::new(
                StatusCode::GONE,
                "video-gone",
                format!("no video {id}: stop reporting"),
            ))
        }
        Err(RecordError::TooManySessions) => {
            refused("too-many-sessions");
            Ok(too_many(
                "too many new sessions from this address".into(),
                60,
            ))
        }
        Err(RecordError::Contended(sid)) => Err(ApiError::unavailable(
            "session-contended",
            format!("session {sid} is being changed; try again"),
            1,
        )),
        Err(RecordError::Catalog(e)) => Err(e.into()),
    }
}

/// `GET /api/videos/{id}/qoe`: one video's viewer experience, for its
/// owner and admins.
#[utoipa::path(
    get, path = "/api/videos/{id}/qoe", tag = "viewer experience",
    operation_id = "videoQoe",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Video id (ids the node never issues are 404)")),
    responses(
        (status = 200, description = "Summary of the newest sessions", body = crate::qoe::Summary),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Not the owner nor an admin", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn summary(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let video = super::api::load(&state, &id).await?;
    if !video.editable_by(who.user_id, who.role) {
        return Err(ApiError::forbidden(
            "only the video's owner or an admin may see its viewer numbers",
        ));
    }
    let sessions = state
        .catalog
        .qoe
        .qoe_sessions_of(&video.id, SUMMARY_SESSIONS)
        .await?;
    Ok(Json(summarize(&video.id, &sessions)))
}
