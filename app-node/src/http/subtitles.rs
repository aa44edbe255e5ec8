//! `POST /api/videos/{id}/subtitles`: an uploader attaches an SRT or WebVTT
//! track in one language; it is cleaned, stored and announced in the master
//! playlist so hls.js and Safari both offer it.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use sha2::{Digest, Sha256};

use super::auth::Uploader;
use super::error::ApiError;
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

async fn read_form(mut mp: Multipart) -> Result<Form, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!(
                    "subtitle files may have at most {} bytes",
                    subtitles::MAX_BYTES
                ),
            )
        } else {
            ApiError::bad_request("bad-multipart", e.body_text())
        }
    };
    let mut form = Form::default();
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        match field.name() {
            Some("lang") => form.lang = Some(field.text().await.map_err(bad)?),
            Some("label") => form.label = Some(field.text().await.map_err(bad)?),
            Some("file") => form.file = Some(field.bytes().await.map_err(bad)?.to_vec()),
            _ => {}
        }
    }
    Ok(form)
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

/// `POST /api/videos/{id}/subtitles` (multipart `lang`, `label`, `file`).
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
        .ok_or_else(ApiError::video_not_found)?;
    // Extracted by hand so a non-multipart body gets the API's JSON error.
    let mp = Multipart::from_request(req, &state)
        .await
        .map_err(|e| ApiError::bad_request("bad-multipart", e.body_text()))?;
    let form = read_form(mp).await?;
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
    state.catalog.videos.put_subtitle(&id, &sub).await?;
    let video = state
        .catalog
        .videos
        .get(&id)
        .await?
        .ok_or_else(ApiError::video_not_found)?;
    tracing::info!(video = %id, lang = %sub.lang, user = who.user_id, "subtitles added");
    Ok((StatusCode::CREATED, Json(VideoJson::from(&video))))
}
