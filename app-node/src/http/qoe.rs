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
use super::error::ApiError;
use crate::auth::client_net;
use crate::qoe::{parse_body, record, summarize};
use crate::state::AppState;

/// Most reports one request may carry (a player sends one to a few).
pub const MAX_REPORTS: usize = 100;
/// Sessions summed up by the per-video summary: the newest ones.
pub const SUMMARY_SESSIONS: u32 = 10_000;
/// Client networks remembered before idle ones are dropped.
const PRUNE_AT: usize = 10_000;

/// Report requests allowed per client network, shared by the route.
#[derive(Clone)]
pub struct QoeLimiter {
    buckets: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU64>,
}

impl QoeLimiter {
    /// `per_min` requests a minute per client network, as a burst that
    /// refills evenly.
    pub fn new(per_min: u32) -> Self {
        let n = NonZeroU32::new(per_min).unwrap_or(NonZeroU32::MIN);
        QoeLimiter {
            buckets: Arc::new(RateLimiter::keyed(Quota::per_minute(n))),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts a request from `ip`; `Err` carries the seconds to wait.
    fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(1024)
            && self.buckets.len() > PRUNE_AT
        {
            self.buckets.retain_recent();
        }
        self.buckets.check_key(&client_net(ip)).map_err(|n| {
            n.wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }
}

fn is_cmcd(headers: &HeaderMap) -> bool {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    // `text/plain` is what `navigator.sendBeacon` sends for a string.
    essence.eq_ignore_ascii_case("application/cmcd") || essence.eq_ignore_ascii_case("text/plain")
}

/// `POST /api/qoe`: a body of CMCD event reports, one per line. 204 when
/// folded in; 410 tells players to stop when reporting is off.
pub async fn report(
    State(state): State<AppState>,
    Extension(limiter): Extension<QoeLimiter>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let outcome = |o: &str| state.metrics.qoe.reports.with_label_values(&[o]);
    if !state.config.qoe.enabled {
        return Err(ApiError::new(
            StatusCode::GONE,
            "qoe-off",
            "this node takes no viewer reports",
        ));
    }
    if let Err(secs) = limiter.check(client.ip) {
        outcome("limited").inc();
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("too many reports; try again in {secs} s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(r);
    }
    if !is_cmcd(&headers) {
        outcome("refused").inc();
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send CMCD event reports as application/cmcd",
        ));
    }
    let text = std::str::from_utf8(&body).map_err(|_| {
        outcome("refused").inc();
        ApiError::bad_request("bad-cmcd", "the body is not UTF-8 text")
    })?;
    let reports = parse_body(text, MAX_REPORTS).map_err(|e| {
        outcome("refused").inc_by(1);
        ApiError::bad_request(e.code(), e.to_string())
    })?;
    match record(state.catalog.qoe.as_ref(), &reports).await {
        Ok(delta) => {
            state.metrics.qoe.observe(&delta);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(crate::catalog::CatalogError::NotFound(_)) => {
            outcome("refused").inc_by(reports.len() as u64);
            Err(ApiError::video_not_found())
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/videos/{id}/qoe`: one video's viewer experience, for its
/// owner and admins.
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
