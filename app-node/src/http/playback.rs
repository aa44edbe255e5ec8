//! Signed playback of private videos: the media route under
//! `/v/{token}/{id}/…`, the tokens the node mints, and
//! `POST /api/videos/{id}/playback-token`.
//!
//! The token format and its checks live in `reel-playback`, which the
//! balancer shares, so both refuse exactly the same tokens. A node checks
//! every signed request itself too: it may be reached without a balancer,
//! and the balancer's cache must never be what stands between a viewer
//! and a private file.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Uploader;
use super::error::{ApiError, ErrorBody};
use super::media::{serve_file, Access};
use super::video_json::{rfc3339, VideoJson};
use crate::catalog::{Video, Visibility};
use crate::state::AppState;

/// Now, in Unix seconds.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token just made.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The token, a path segment.
    pub token: String,
    /// Its expiry, Unix seconds.
    pub expires_at: u64,
}

/// A token for video `id` that lives `ttl_s` seconds; `None` when no
/// playback keys are configured.
pub fn mint(state: &AppState, id: &str, ttl_s: u64) -> Option<Minted> {
    let expires_at = now_unix().saturating_add(ttl_s);
    state
        .playback
        .sign(id, expires_at)
        .map(|token| Minted { token, expires_at })
}

/// Checks `token` for video `id`: its expiry, or 403 with the reason's
/// code (`token-expired`, `token-invalid`, …).
pub fn check(state: &AppState, token: &str, id: &str) -> Result<u64, ApiError> {
    state
        .playback
        .verify(token, id, now_unix())
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e.code(), e.to_string()))
}

/// The JSON of `v` for a caller; `may_edit` says whether they may change
/// it (its owner, an admin): they see its owner, and may watch it even when
/// private, its media URLs then signed with a fresh token of the default
/// lifetime.
pub fn video_json(state: &AppState, v: &Video, may_edit: bool) -> VideoJson {
    if !may_edit {
        return VideoJson::from(v);
    }
    if v.visibility != Visibility::Private {
        return VideoJson::from(v).with_owner(v);
    }
    let minted = mint(state, &v.id, state.config.playback.token_ttl_s);
    VideoJson::signed(v, minted.as_ref().map(|m| m.token.as_str())).with_owner(v)
}

/// Why a page cannot play a private video, in words for the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRefusal {
    /// No token and no right to mint one.
    Private,
    /// A token was given but is expired or not valid for this video.
    BadToken,
    /// The caller may play it but the node has no keys to sign with.
    NotConfigured,
}

impl PageRefusal {
    /// The sentence the page shows.
    pub fn message(self) -> &'static str {
        match self {
            PageRefusal::Private => {
                "This video is private. Only its owner can watch it, or anyone they give a signed link to."
            }
            PageRefusal::BadToken => {
                "This link to a private video has expired or is not valid. Ask its owner for a new one."
            }
            PageRefusal::NotConfigured => {
                "This video is private, and this site is not set up to play private videos (playback.keys)."
            }
        }
    }
}

/// The token a page plays `v` with: `None` for a video that is not
/// private (its plain URLs work), the `given` one (`?token=`) when valid,
/// else a fresh one for a caller who `may_edit` it.
pub fn page_token(
    state: &AppState,
    v: &Video,
    given: Option<&str>,
    may_edit: bool,
) -> Result<Option<String>, PageRefusal> {
    if v.visibility != Visibility::Private {
        return Ok(None);
    }
    if let Some(t) = given.filter(|t| !t.is_empty()) {
        if check(state, t, &v.id).is_ok() {
            return Ok(Some(t.to_string()));
        }
        if !may_edit {
            return Err(PageRefusal::BadToken);
        }
    }
    if !may_edit {
        return Err(PageRefusal::Private);
    }
    mint(state, &v.id, state.config.playback.token_ttl_s)
        .map(|m| Some(m.token))
        .ok_or(PageRefusal::NotConfigured)
}

/// `GET`/`HEAD /v/{token}/{id}/{*path}`: a file of the video's tree, as
/// under `/media/{id}/`, for any visibility, once the token is checked.
/// A bad token is 403 before anything is read.
pub async fn serve(
    State(state): State<AppState>,
    method: Method,
    Path((token, id, path)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expires_at = match check(&state, &token, &id) {
        Ok(exp) => exp,
        Err(e) => {
            let mut r = e.into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            return Ok(r);
        }
    };
    let access = Access::Signed {
        token: &token,
        expires_at,
    };
    serve_file(&state, &method, &id, &path, &headers, access).await
}

/// `Cache-Control` of an answer to a signed request: `private` (a shared
/// cache that does not check tokens must not keep it; the balancer, which
/// checks them first, may) and never kept past the token's expiry.
pub fn limit_caching(mut resp: Response, expires_at: u64) -> Response {
    let Some(cc) = resp
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return resp;
    };
    let limited = signed_cache_control(cc, expires_at.saturating_sub(now_unix()));
    if let Ok(v) = HeaderValue::from_str(&limited) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// `cc` made private with its `max-age` at most `remaining` seconds.
fn signed_cache_control(cc: &str, remaining: u64) -> String {
    let directives: Vec<&str> = cc.split(',').map(str::trim).collect();
    if directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("no-store"))
    {
        return cc.to_string();
    }
    let max_age = directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        .min(remaining);
    let mut out = format!("private, max-age={max_age}");
    if directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("immutable"))
    {
        out.push_str(", immutable");
    }
    out
}

/// Body of a token request; every field optional (an empty body too).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Lifetime in seconds, at most `playback.max_token_ttl_s`.
    #[schema(minimum = 1, maximum = 2_592_000)]
    ttl_s: Option<u64>,
}

/// Answer of a token request.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenAnswer {
    /// The token, for `/v/{token}/…` paths and `?token=` on pages.
    token: String,
    /// The signed master playlist.
    url: String,
    /// The watch page that plays with this token.
    watch_url: String,
    /// The embed page that plays with this token.
    embed_url: String,
    /// RFC 3339.
    expires_at: String,
}

/// `POST /api/videos/{id}/playback-token` (its owner or an admin), body
/// optional (`{"ttl_s": 600}`): a token and the signed URL of the master
/// playlist. Works for any visibility; only private videos need it.
#[utoipa::path(
    post, path = "/api/videos/{id}/playback-token", tag = "videos",
    operation_id = "createPlaybackToken",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Video id (ids the node never issues are 404)")),
    request_body(content = Option<TokenRequest>, content_type = "application/json"),
    responses(
        (status = 201, description = "A token and the signed URLs", body = TokenAnswer),
        (status = 400, description = "Bad JSON, unknown field, or ttl_s out of range", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Not the owner nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 408, description = "The body came too slowly", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 501, description = "Signed playback is not configured (playback.keys)", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn token(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let video = super::api::load(&state, &id).await?;
    who.check_may_edit(&video)?;
    let req: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "bad-json",
                format!("the body is not valid JSON for this call: {e}"),
            )
        })?
    };
    let max = state.config.playback.max_token_ttl_s;
    let ttl = req.ttl_s.unwrap_or(state.config.playback.token_ttl_s);
    if ttl == 0 || ttl > max {
        return Err(ApiError::bad_request(
            "bad-ttl",
            format!("ttl_s must be between 1 and {max}"),
        ));
    }
    let minted = mint(&state, &id, ttl).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "signed-playback-off",
            "signed playback is not configured on this node (playback.keys)",
        )
    })?;
    let url = match VideoJson::signed(&video, Some(&minted.token)).hls_url {
        Some(u) => u,
        // Not playable yet: the unversioned master redirects to the
        // current version once there is one.
        None => {
            reel_playback::signed_path(&minted.token, &id, crate::media::transcode::MASTER_NAME)
        }
    };
    let q = |page: &str| format!("/{page}/{id}?token={}", minted.token);
    let answer = TokenAnswer {
        url,
        watch_url: q("watch"),
        embed_url: q("embed"),
        expires_at: rfc3339(minted.expires_at.saturating_mul(1000).min(i64::MAX as u64) as i64),
        token: minted.token,
    };
    let mut resp = (StatusCode::CREATED, Json(answer)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::signed_cache_control as cc;

    #[test]
    fn signed_answers_are_private_and_never_outlive_their_token() {
        assert_eq!(
            cc("public, max-age=31536000, immutable", 600),
            "private, max-age=600, immutable"
        );
        assert_eq!(cc("public, max-age=1", 600), "private, max-age=1");
        assert_eq!(cc("public, max-age=10", 0), "private, max-age=0");
        assert_eq!(cc("no-store", 600), "no-store");
        assert_eq!(cc("public", 600), "private, max-age=0");
    }
}
