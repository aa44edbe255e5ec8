//! The JSON API under `/api/videos`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::auth::Uploader;
use super::error::ApiError;
use super::listing_cache::ListingCache;
use super::query::ApiQuery;
use super::title::clean_title;
use super::upload::receive_multipart;
use super::video_json::VideoJson;
use crate::catalog::{new_id, valid_id, JobSource, NewVideo, StatusFilter, Video, VideoStatus};
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

#[derive(Deserialize)]
struct CreateJson {
    title: Option<String>,
    source_url: Option<String>,
}

/// `POST /api/videos`: JSON `{title, source_url}` or multipart `title` + `file`.
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
    Ok((StatusCode::ACCEPTED, Json(VideoJson::from(&video))))
}

/// Query of the list call.
#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
    status: Option<String>,
    mine: Option<String>,
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
        let videos: Vec<VideoJson> = p.videos.iter().map(VideoJson::from).collect();
        let json = json!({"videos": videos, "total": p.total, "page": page, "per_page": per_page});
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

/// `GET /api/videos/{id}`. A video still uploading is its owner's alone
/// (see the listings); to anyone else it does not exist yet.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let v = load(&state, &id).await?;
    if v.status == VideoStatus::Uploading {
        let who = Uploader::authenticate(&state, &Method::GET, &headers).await;
        if !matches!((&who, v.owner_id), (Ok(u), Some(o)) if u.user_id == o) {
            return Err(ApiError::video_not_found());
        }
    }
    Ok(Json(VideoJson::from(&v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchJson {
    title: Option<String>,
}

/// `PATCH /api/videos/{id}`: change the title (its owner or an admin).
pub async fn patch(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    who.check_may_edit(&load(&state, &id).await?)?;
    let body = read_json_body(req).await?;
    let p: PatchJson = parse_json(&body)?;
    let title = clean_title(p.title.as_deref())?;
    if !state.catalog.videos.set_title(&id, &title).await? {
        return Err(ApiError::video_not_found());
    }
    Ok(Json(VideoJson::from(&load(&state, &id).await?)))
}

/// `DELETE /api/videos/{id}` (its owner or an admin): a tombstone first
/// (viewers stop seeing the video and its job ends), then the media, then
/// the row. Repeating it finishes a delete that stopped half-way.
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
