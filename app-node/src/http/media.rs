//! `/media/{id}/…`: published HLS trees, posters and subtitles, with Range;
//! the same files under a signed prefix (`/v/{token}/{id}/…`, checked in
//! [`super::playback`]) for private videos.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::range::{parse_range, RangeReq};
use super::visibility::VisibilityCache;
use std::time::Duration;

use crate::catalog::{valid_id, valid_version, VideoStatus, Visibility};
use crate::state::AppState;
use crate::storage::{media_type, validate_key, StorageError};

/// How a media request reached its file.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// `/media/{id}/…`: public and unlisted videos only.
    Plain,
    /// `/v/{token}/{id}/…` with a token checked for this video, valid
    /// until `expires_at` (Unix seconds).
    Signed {
        /// The token, for the signed paths of redirects.
        token: &'a str,
        /// Its expiry: nothing answered may be kept longer.
        expires_at: u64,
    },
}

/// `GET`/`HEAD /media/{id}/{*path}`.
///
/// Published trees live under `/media/{id}/{version}/…`, so every URL here
/// names immutable content, except the current version's master playlist,
/// whose subtitle group comes from the catalog. A path without a version
/// (an older link to `master.m3u8`, say) is redirected to the video's
/// current version. The video's visibility (one small catalog read, kept
/// for `http.visibility_cache_ms`) refuses the plain URLs of private
/// videos: 403 with `Cache-Control: private, no-store`, so no cache keeps
/// the refusal either.
pub async fn serve(
    State(state): State<AppState>,
    Extension(visibility): Extension<VisibilityCache>,
    method: Method,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such media file",
        ));
    }
    if let Some(Visibility::Private) = visibility.get(&state, &id).await? {
        let mut r =
            ApiError::forbidden("this video is private: it plays only through a signed URL")
                .with_code("private-video")
                .into_response();
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        return Ok(r);
    }
    serve_file(&state, &method, &id, &path, &headers, Access::Plain).await
}

/// Answers one file of video `id`'s tree (`path` below `/media/{id}/`),
/// once access has been decided.
pub async fn serve_file(
    state: &AppState,
    method: &Method,
    id: &str,
    path: &str,
    headers: &HeaderMap,
    access: Access<'_>,
) -> Result<Response, ApiError> {
    let resp = file(state, method, id, path, headers, access).await?;
    Ok(match access {
        Access::Plain => resp,
        Access::Signed { expires_at, .. } => super::playback::limit_caching(resp, expires_at),
    })
}

async fn file(
    state: &AppState,
    method: &Method,
    id: &str,
    path: &str,
    headers: &HeaderMap,
    access: Access<'_>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such media file");
    if !valid_id(id) {
        return Err(not_found());
    }
    let key = format!("{id}/{path}");
    let ty = media_type(path).ok_or_else(not_found)?;
    let (mime, cache) = (ty.mime, ty.cache);
    validate_key(&key).map_err(|_| not_found())?;
    if let Some((version, crate::media::transcode::MASTER_NAME)) = path.split_once('/') {
        if valid_version(version) {
            if let Some(r) = super::master::current(state, id, version, method, mime, cache).await?
            {
                return Ok(r);
            }
        }
    }
    if path.ends_with(".m3u8") {
        // Read whole in one trip to the store: no size lookup first.
        return match state.store.get_bytes(&key).await {
            Ok(text) => Ok(media_playlist(text, method, mime, cache)),
            Err(StorageError::NotFound(_)) => {
                current_version_redirect(state, id, path, access).await
            }
            Err(e) => Err(e.into()),
        };
    }
    let Some(total) = state.store.size(&key).await? else {
        return current_version_redirect(state, id, path, access).await;
    };
    // Playlists and WebVTT tracks stay on the node: players resolve the
    // files they name against their URL, and a signed bucket URL would turn
    // those into unsigned ones.
    if state.config.storage.serve == "redirect" && !ty.names_other_files {
        let ttl = Duration::from_secs(state.config.storage.redirect_expiry_s);
        if let Some(url) = state.store.presign_get(&key, ttl).await? {
            return Ok(redirect(&url, "no-store"));
        }
    }
    let range = match parse_range(headers.get(header::RANGE).map(|v| v.as_bytes()), total) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = e.code(), "range refused: {e}");
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{total}")).expect("ascii"),
            );
            return Ok(r);
        }
    };
    let len = range.len(total);
    let (status, start) = match range {
        RangeReq::Full => (StatusCode::OK, 0),
        RangeReq::Part { start, .. } => (StatusCode::PARTIAL_CONTENT, start),
    };
    // HEAD reads nothing: the size came from the store's metadata.
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(state.store.read(&key, start, len).await?)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        let cr = format!("bytes {}-{}/{}", start, start + len - 1, total);
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&cr).expect("ascii"),
        );
    }
    Ok(resp)
}

/// 302 from an unversioned path to the same file in the current version;
/// 404 when the path already names a version or the video has none.
async fn current_version_redirect(
    state: &AppState,
    id: &str,
    path: &str,
    access: Access<'_>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such media file");
    let first = path.split('/').next().unwrap_or("");
    if valid_version(first) {
        return Err(not_found());
    }
    let video = state.catalog.videos.get(id).await?.ok_or_else(not_found)?;
    match video.media_version {
        Some(v) if video.status == VideoStatus::Ready || video.playable => {
            // Short-lived: the target changes when the video is republished.
            let target = match access {
                Access::Plain => format!("/media/{id}/{v}/{path}"),
                Access::Signed { token, .. } => {
                    reel_playback::signed_path(token, &format!("{id}/{v}"), path)
                }
            };
            Ok(redirect(&target, "public, max-age=10"))
        }
        _ => Err(not_found()),
    }
}

/// `Cache-Control` of a media playlist that is still growing.
pub const GROWING: &str = "public, max-age=1";

/// A media playlist, read whole (a Range header is ignored: playlists are
/// small, and players never ask for part of one). One still growing, an
/// EVENT playlist without `#EXT-X-ENDLIST` because its video is being
/// encoded, may be kept for a second only, so players and the balancer's
/// cache see each new segment; once ended it never changes again.
fn media_playlist(
    text: Vec<u8>,
    method: &Method,
    mime: &'static str,
    cache: &'static str,
) -> Response {
    let cache = if crate::media::hls::has_ended(&text) {
        cache
    } else {
        GROWING
    };
    whole(text, method, mime, cache)
}

/// A small file answered whole: its bytes (none for HEAD, with the same
/// length), type and cache policy.
pub(super) fn whole(
    bytes: impl Into<Body>,
    method: &Method,
    mime: &'static str,
    cache: &'static str,
) -> Response {
    let body: Body = bytes.into();
    let len = axum::body::HttpBody::size_hint(&body).exact().unwrap_or(0);
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        body
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

fn redirect(location: &str, cache: &'static str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}
