//! `POST /api/videos/{id}/subtitles`: an uploader attaches an SRT or WebVTT
//! track in one language; it is cleaned, stored and announced in the master
//! playlist so hls.js and Safari both offer it.

use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use sha2::{Digest, Sha256};

use super::auth::Uploader;
use super::error::{ApiError, ErrorBody};
use super::video_json::VideoJson;
use crate::catalog::{valid_id, Subtitle, VideoStatus};
use crate::state::AppState;
use crate::subtitles;

/// Request body limit of the route: the file plus the small text fields.
pub const BODY_LIMIT: usize = subtitles::MAX_BYTES + 64 * 1024;

/// The fields of the form.
#[derive(Default)]
struct Form {
    lang: Option<String>,
    label: Option<String>,
    file: Option<Vec<u8>>,
}

/// Largest `lang` or `label` field.
const MAX_FIELD_BYTES: usize = 4096;

/// Reads the form after the caller is authenticated, piece by piece: each
/// piece must come within `idle`, and every field has its own cap.
async fn read_form(mut mp: Multipart, idle: Duration) -> Result<Form, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request("bad-multipart", e.body_text())
        }
    };
    let stalled = || {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            format!("the upload stalled for {} s", idle.as_secs()),
        )
    };
    let mut form = Form::default();
    loop {
        let next = tokio::time::timeout(idle, mp.next_field())
            .await
            .map_err(|_| stalled())?;
        let Some(mut field) = next.map_err(bad)? else {
            break;
        };
        let name = field.name().unwrap_or("").to_string();
        let cap = if name == "file" {
            subtitles::MAX_BYTES
        } else {
            MAX_FIELD_BYTES
        };
        let mut data = Vec::new();
        while let Some(chunk) = tokio::time::timeout(idle, field.chunk())
            .await
            .map_err(|_| stalled())?
            .map_err(bad)?
        {
            if data.len() + chunk.len() > cap {
                return Err(if name == "file" {
                    too_large()
                } else {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "field-too-large",
                        format!("the field {name} must be at most {MAX_FIELD_BYTES} bytes"),
                    )
                });
            }
            data.extend_from_slice(&chunk);
        }
        let text = |d: Vec<u8>| {
            String::from_utf8(d).map_err(|_| {
                ApiError::bad_request("bad-multipart", format!("the field {name} is not UTF-8"))
            })
        };
        match name.as_str() {
            "lang" => form.lang = Some(text(data)?),
            "label" => form.label = Some(text(data)?),
            "file" => form.file = Some(data),
            _ => {}
        }
    }
    Ok(form)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!(
            "subtitle files may have at most {} bytes",
            subtitles::MAX_BYTES
        ),
    )
}

/// A menu label: given, or named after the language.
fn clean_label(raw: Option<&str>, lang: &str) -> Result<String, ApiError> {
    let t = raw.map(str::trim).unwrap_or("");
    if t.is_empty() {
        return Ok(subtitles::label_for(lang));
    }
    if t.chars().count() > 64 || t.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "bad-label",
            "the label may have at most 64 characters and no control characters",
        ));
    }
    Ok(t.to_string())
}

/// The form of a subtitle upload.
// For the description only: the form is read piece by piece by `read_form`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SubtitleForm {
    /// BCP 47 language tag such as `en` or `pt-BR`.
    #[schema(max_length = 35)]
    lang: String,
    /// Menu label, at most 64 characters; named after the language if empty.
    label: Option<String>,
    /// SRT or WebVTT text, at most 2 MiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// `POST /api/videos/{id}/subtitles` (multipart `lang`, `label`, `file`),
/// by the video's owner or an admin.
#[utoipa::path(
    post, path = "/api/videos/{id}/subtitles", tag = "videos",
    operation_id = "uploadSubtitles",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Video id (ids the node never issues are 404)")),
    request_body(content = SubtitleForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Added; the video with its tracks", body = VideoJson),
        (status = 400, description = "Bad form, language tag or label; no file", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Not the owner nor an admin, or no CSRF token", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 408, description = "The upload stalled", body = ErrorBody),
        (status = 409, description = "The video is not ready yet", body = ErrorBody),
        (status = 413, description = "File or field over its limit", body = ErrorBody),
        (status = 422, description = "Not readable as SRT or WebVTT", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn upload(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::video_not_found());
    }
    let video = state
        .catalog
        .videos
        .get(&id)
        .await?
        .filter(|v| v.status != VideoStatus::Deleting)
        .ok_or_else(ApiError::video_not_found)?;
    // Refused before the body is read: nobody else's track is ever parsed.
    who.check_may_edit(&video)?;
    // Extracted by hand so a non-multipart body gets the API's JSON error.
    let mp = Multipart::from_request(req, &state)
        .await
        .map_err(|e| ApiError::bad_request("bad-multipart", e.body_text()))?;
    let idle = Duration::from_secs(state.config.ingest.read_timeout_s);
    let form = read_form(mp, idle).await?;
    let lang = form
        .lang
        .as_deref()
        .and_then(subtitles::normalize_lang)
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad-lang",
                "lang must be a language tag such as en or pt-BR",
            )
        })?;
    let label = clean_label(form.label.as_deref(), &lang)?;
    let bytes = form
        .file
        .ok_or_else(|| ApiError::bad_request("missing-file", "attach the subtitle file as file"))?;
    // Publishing replaces the video's whole tree, so tracks can only be
    // added once it is there.
    if video.status != VideoStatus::Ready {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "video-not-ready",
            "subtitles can be added once the video is ready",
        ));
    }
    let vtt = subtitles::to_webvtt(&bytes).map_err(|e| {
        let status = match e {
            subtitles::SubtitleError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    })?;
    // Stored in the current version's tree under names taken from the
    // content, then recorded in one catalog write. The master playlist is
    // not touched: it is completed from the catalog's list when served, so
    // two uploads at once both end up listed.
    let prefix = video.media_prefix();
    let key = |p: &str| format!("{prefix}/{p}");
    let tag = &hex::encode(Sha256::digest(vtt.as_bytes()))[..12];
    let (path, playlist_path) = subtitles::uploaded_paths(&lang, tag);
    state.store.put_bytes(&key(&path), vtt.as_bytes()).await?;
    let vtt_name = path.rsplit('/').next().unwrap_or(&path);
    let playlist = subtitles::media_playlist(vtt_name, video.duration_s.unwrap_or(0.0));
    state
        .store
        .put_bytes(&key(&playlist_path), playlist.as_bytes())
        .await?;
    let sub = Subtitle { lang, label, path };
    let recorded = state.catalog.videos.put_subtitle(&id, &sub).await;
    if !matches!(recorded, Ok(true)) {
        // Deleted (or republished) meanwhile, or the catalog failed: the
        // files just written must not outlive the attempt.
        let _ = state.store.delete(&key(&sub.path)).await;
        let _ = state.store.delete(&key(&playlist_path)).await;
        recorded?;
        return Err(ApiError::video_not_found());
    }
    let video = state
        .catalog
        .videos
        .get(&id)
        .await?
        .ok_or_else(ApiError::video_not_found)?;
    tracing::info!(video = %id, lang = %sub.lang, user = who.user_id, "subtitles added");
    // The caller may edit it, so may play it: a private one's URLs signed.
    let json: VideoJson = super::playback::video_json(&state, &video, true);
    Ok((StatusCode::CREATED, Json(json)))
}
