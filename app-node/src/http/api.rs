//! The JSON API under `/api/videos`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::Uploader;
use super::error::{ApiError, ErrorBody};
use super::listing_cache::ListingCache;
use super::query::ApiQuery;
use super::title::clean_title;
use super::upload::receive_multipart;
use super::video_json::VideoJson;
use crate::catalog::{
    new_id, valid_id, JobSource, NewVideo, StatusFilter, Video, VideoStatus, Visibility,
};
use crate::housekeeping::{delete_video, Deleted};
use crate::state::AppState;

const JSON_LIMIT: usize = 64 * 1024;
/// Longest source URL; every catalog engine stores it whole.
const MAX_URL_LEN: usize = 2048;
/// Largest page size a client may ask for.
pub const MAX_PER_PAGE: u32 = 100;

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "bad-json",
            format!("the body is not valid JSON for this call: {e}"),
        )
    })
}

/// Reads at most [`JSON_LIMIT`] bytes: the route's own limit is sized for
/// uploads, and a JSON body must never be buffered up to that.
async fn read_json_body(req: Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), JSON_LIMIT)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!("the JSON body must be at most {JSON_LIMIT} bytes"),
            )
        })
}

/// Body of a URL import.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateJson {
    /// 1 to 200 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    /// `http(s)` URL of the source file; refused when it names a private or
    /// loopback address unless `ingest.allow_private_networks` is set.
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://media.example/clip.mp4"
    )]
    source_url: Option<String>,
    /// Who may find and play it; public when not given.
    #[schema(value_type = Option<Visibility>)]
    visibility: Option<String>,
}

/// A requested visibility; public when not given.
pub(super) fn parse_visibility(v: Option<&str>) -> Result<Visibility, ApiError> {
    match v {
        None | Some("") => Ok(Visibility::Public),
        Some(v) => Visibility::parse(v).ok_or_else(|| {
            ApiError::bad_request(
                "bad-visibility",
                "visibility may be public, unlisted or private",
            )
        }),
    }
}

/// Fields of a multipart upload.
// For the description only: the form is streamed by `receive_multipart`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CreateUpload {
    /// 1 to 200 characters after trimming, no control characters. Form
    /// fields are all text, so no type is stated: `true` is a title too.
    #[schema(value_type = Value, min_length = 1, max_length = 200)]
    title: String,
    /// The video file, at most `ingest.max_bytes` bytes and not empty.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Who may find and play it; public when not given.
    visibility: Option<Visibility>,
}

/// `POST /api/videos`: JSON `{title, source_url[, visibility]}` or
/// multipart `title` + `file` [+ `visibility`]; public unless asked.
#[utoipa::path(
    post, path = "/api/videos", tag = "videos",
    operation_id = "createVideo",
    request_body(content(
        (CreateJson = "application/json"),
        (CreateUpload = "multipart/form-data"),
    )),
    responses(
        (status = 202, description = "Queued for transcoding", body = VideoJson),
        (status = 400, description = "Bad JSON or form, missing or bad title, bad or refused source URL, bad visibility", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Session without a valid CSRF token", body = ErrorBody),
        (status = 408, description = "The upload stalled", body = ErrorBody),
        (status = 413, description = "Body or file over its limit", body = ErrorBody),
        (status = 415, description = "Neither JSON nor multipart", body = ErrorBody),
        (status = 503, description = "Draining or busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    who: Uploader,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    if state.is_draining() {
        return Err(ApiError::unavailable(
            "draining",
            "the node is shutting down",
            5,
        ));
    }
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let video = if ctype.starts_with("application/json") {
        let body = read_json_body(req).await?;
        let c: CreateJson = parse_json(&body)?;
        let title = clean_title(c.title.as_deref())?;
        let visibility = parse_visibility(c.visibility.as_deref())?;
        let raw = c.source_url.unwrap_or_default();
        if raw.trim().is_empty() {
            return Err(ApiError::bad_request(
                "missing-source-url",
                "source_url is required",
            ));
        }
        if raw.len() > MAX_URL_LEN {
            return Err(ApiError::bad_request(
                "url-too-long",
                format!("source_url may have at most {MAX_URL_LEN} characters"),
            ));
        }
        let url = state
            .downloader
            .check(&raw)
            .map_err(|e| ApiError::bad_request(e.code(), e.user_message()))?;
        let nv = NewVideo {
            id: new_id(),
            title,
            source: url.to_string(),
            owner_id: Some(who.user_id),
            visibility,
        };
        state
            .catalog
            .videos
            .create(&nv, &JobSource::Url(url.to_string()))
            .await?
    } else if ctype.starts_with("multipart/form-data") {
        let mp = Multipart::from_request(req, &state)
            .await
            .map_err(|e| ApiError::bad_request("bad-multipart", e.body_text()))?;
        let id = new_id();
        let up = receive_multipart(&state, &id, mp).await?;
        let nv = NewVideo {
            id,
            title: up.title,
            source: format!("upload:{}", up.file_name),
            owner_id: Some(who.user_id),
            visibility: up.visibility,
        };
        match state
            .catalog
            .videos
            .create(&nv, &JobSource::Stored(up.key.clone()))
            .await
        {
            Ok(v) => v,
            Err(e) => {
                let _ = state.store.delete(&up.key).await;
                return Err(e.into());
            }
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-content-type",
            "send application/json with source_url, or multipart/form-data with a file",
        ));
    };
    tracing::info!(video = %video.id, user = who.user_id, "video queued");
    let json = super::playback::video_json(&state, &video, true);
    Ok((StatusCode::ACCEPTED, Json(json)))
}

/// Query of the list call.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Words searched in titles.
    q: Option<String>,
    /// 1-based page (0 counts as 1).
    // u32: utoipa would say int32, whose range is smaller.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295_u64)]
    page: Option<u32>,
    /// Videos a page, default 24; clamped to 1..=100.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295_u64)]
    per_page: Option<u32>,
    /// `all` (default, also empty), `ready` or `processing`.
    #[param(schema_with = status_values)]
    status: Option<String>,
    /// `1`/`true`: only the caller's own videos (then authentication is
    /// required); `0`/`false`/empty: everyone's.
    #[param(schema_with = mine_values)]
    mine: Option<String>,
}

/// A text parameter with exactly these values; `""` included, which
/// utoipa's derived enums cannot spell.
fn one_of(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

fn status_values() -> utoipa::openapi::Object {
    one_of(&["", "all", "ready", "processing"])
}

fn mine_values() -> utoipa::openapi::Object {
    one_of(&["", "0", "1", "false", "true"])
}

/// One page of the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VideoPage {
    /// Newest first.
    videos: Vec<VideoJson>,
    /// Videos matching, over all pages.
    total: i64,
    /// This page's number.
    page: u32,
    /// Videos a page.
    per_page: u32,
}

/// Whether `mine` asks for the caller's own videos.
fn wants_mine(mine: Option<&str>) -> Result<bool, ApiError> {
    match mine {
        None | Some("") | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad_request("bad-mine", "mine may be 1 or 0")),
    }
}

/// `GET /api/videos`: newest first, every status unless `status=ready`;
/// with `mine=1`, only the caller's own videos (authentication required).
#[utoipa::path(
    get, path = "/api/videos", tag = "videos",
    operation_id = "listVideos",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of videos", body = VideoPage),
        (status = 400, description = "Unreadable query, bad status or mine", body = ErrorBody),
        (status = 401, description = "mine=1 without valid credentials", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(listings): Extension<ListingCache>,
    ApiQuery(q): ApiQuery<ListQuery>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let page = q.page.unwrap_or(1).max(1);
    let per_page = q.per_page.unwrap_or(24).clamp(1, MAX_PER_PAGE);
    let filter = match q.status.as_deref() {
        None | Some("") | Some("all") => StatusFilter::All,
        Some("ready") => StatusFilter::Ready,
        Some("processing") => StatusFilter::Processing,
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad-status",
                "status may be all, ready or processing",
            ))
        }
    };
    // Only asked for when needed: anonymous listings cost no account lookup.
    let owner_id = if wants_mine(q.mine.as_deref())? {
        Some(
            Uploader::authenticate(&state, &Method::GET, &headers)
                .await?
                .user_id,
        )
    } else {
        None
    };
    let render = async {
        let p = state
            .catalog
            .videos
            .list(q.q.as_deref(), filter, owner_id, page, per_page)
            .await?;
        // An owner's own listing shows their private videos, signed.
        let mine = owner_id.is_some();
        let videos: Vec<VideoJson> = p
            .videos
            .iter()
            .map(|v| super::playback::video_json(&state, v, mine))
            .collect();
        let json = VideoPage {
            videos,
            total: p.total,
            page,
            per_page,
        };
        Ok(Bytes::from(
            serde_json::to_vec(&json).expect("JSON of plain values"),
        ))
    };
    // One uploader's own listing is theirs alone and must show their change
    // at once: never kept.
    // Nor may a shared cache on the way keep it.
    let (body, cache) = match owner_id {
        Some(_) => (render.await?, "private, no-store"),
        None => {
            let key = format!(
                "api {filter:?} {page} {per_page} {}",
                q.q.as_deref().unwrap_or("")
            );
            (listings.get_or_render(key, render).await?, "no-cache")
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    ))
}

/// One video by id; ids we never issue are 404 without a catalog query.
pub(super) async fn load(state: &AppState, id: &str) -> Result<Video, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::video_not_found());
    }
    state
        .catalog
        .videos
        .get(id)
        .await?
        .filter(|v| v.status != VideoStatus::Deleting)
        .ok_or_else(ApiError::video_not_found)
}

/// `GET /api/videos/{id}`. A private video is shown to its owner and
/// admins only, with signed media URLs, and so is a video still uploading
/// (anyone with a token could fill listings with them); to anyone else it
/// is 404, as if it did not exist (it is in no listing either).
#[utoipa::path(
    get, path = "/api/videos/{id}", tag = "videos",
    operation_id = "getVideo",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Video id (ids the node never issues are 404)")),
    responses(
        (status = 200, description = "The video", body = VideoJson),
        (status = 404, description = "No such video, or a private or still uploading one and the caller is neither its owner nor an admin", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(()),
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let video = load(&state, &id).await?;
    // Credentials are looked at only when sent: anonymous reads cost no
    // account lookup.
    let sent = headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE);
    let may_edit = sent
        && Uploader::authenticate(&state, &method, &headers)
            .await
            .is_ok_and(|who| video.editable_by(who.user_id, who.role));
    let owners_only =
        video.visibility == Visibility::Private || video.status == VideoStatus::Uploading;
    if owners_only && !may_edit {
        return Err(ApiError::video_not_found());
    }
    Ok(Json(super::playback::video_json(&state, &video, may_edit)))
}

/// Body of a change; no other field is accepted.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchJson {
    /// 1 to 200 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    /// Who may find and play it.
    #[schema(value_type = Option<Visibility>)]
    visibility: Option<String>,
}

/// `PATCH /api/videos/{id}`: change the title and/or the visibility
/// (`public`, `unlisted`, `private`); its owner or an admin. Everything is
/// checked before anything is changed.
#[utoipa::path(
    patch, path = "/api/videos/{id}", tag = "videos",
    operation_id = "patchVideo",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Video id (ids the node never issues are 404)")),
    request_body(content = PatchJson, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed video", body = VideoJson),
        (status = 400, description = "Bad JSON, unknown field, bad title or visibility", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Not the owner nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 408, description = "The body came too slowly", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(kept): Extension<super::visibility::VisibilityCache>,
    who: Uploader,
    Path(id): Path<String>,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    let before = load(&state, &id).await?;
    who.check_may_edit(&before)?;
    let body = read_json_body(req).await?;
    let p: PatchJson = parse_json(&body)?;
    let visibility = match p.visibility.as_deref() {
        None => None,
        Some(v) => Some(parse_visibility(Some(v))?),
    };
    // A title is required unless only the visibility changes.
    let title = match (&p.title, visibility) {
        (None, Some(_)) => None,
        (t, _) => Some(clean_title(t.as_deref())?),
    };
    if let Some(title) = &title {
        if !state.catalog.videos.set_title(&id, title).await? {
            return Err(ApiError::video_not_found());
        }
    }
    if let Some(vis) = visibility {
        if !state.catalog.videos.set_visibility(&id, vis).await? {
            return Err(ApiError::video_not_found());
        }
        kept.forget(&id).await;
        if vis == Visibility::Private && before.visibility != Visibility::Private {
            forget_public_copies(&state, &id);
        }
        tracing::info!(video = %id, user = who.user_id, visibility = vis.as_str(), "visibility changed");
    }
    let after = load(&state, &id).await?;
    Ok(Json(super::playback::video_json(&state, &after, true)))
}

/// A video just made private may have files in the balancers' caches
/// under its plain URLs: purge them now, and once more after other nodes'
/// kept visibilities have expired (`http.visibility_cache_ms`, plus a
/// second for requests still in flight), for what they served meanwhile.
fn forget_public_copies(state: &AppState, id: &str) {
    state.edge.purge(id);
    let again = std::time::Duration::from_millis(state.config.http.visibility_cache_ms)
        + std::time::Duration::from_secs(1);
    let (edge, id) = (state.edge.clone(), id.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(again).await;
        edge.purge(&id);
    });
}

/// `DELETE /api/videos/{id}` (its owner or an admin): a tombstone first
/// (viewers stop seeing the video and its job ends), then the media, then
/// the row. Repeating it finishes a delete that stopped half-way.
#[utoipa::path(
    delete, path = "/api/videos/{id}", tag = "videos",
    operation_id = "deleteVideo",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Video id (ids the node never issues are 404)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A body that could not be read (none is needed)", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Not the owner nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 408, description = "A body that came too slowly", body = ErrorBody),
        (status = 413, description = "A body over 64 KiB", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::video_not_found());
    }
    // Read with any status: a delete stopped half-way is finished by a
    // retry from the same owner.
    let Some(video) = state.catalog.videos.get(&id).await? else {
        return Err(ApiError::video_not_found());
    };
    who.check_may_edit(&video)?;
    let event = crate::webhooks::announcement(&state, crate::webhooks::EventType::Deleted, &video);
    match delete_video(&state.catalog, state.store.as_ref(), &id, event.as_ref()).await? {
        Deleted::NotFound => Err(ApiError::video_not_found()),
        Deleted::Purged | Deleted::Tombstoned => {
            state.edge.purge(&id);
            tracing::info!(video = %id, user = who.user_id, "video deleted");
            Ok(StatusCode::NO_CONTENT)
        }
    }
}
