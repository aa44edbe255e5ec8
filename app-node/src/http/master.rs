//! The master playlist of a video's current version, completed from the
//! catalog when served: the stored text (written at publish) with its
//! subtitle group replaced by the tracks the catalog lists now.
//!
//! Tracks added after publishing are therefore one catalog write each, and
//! concurrent additions cannot overwrite one another's playlist edits.

use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::error::ApiError;
use crate::media::replace_subtitles;
use crate::state::AppState;
use crate::subtitles;

/// Serves `{id}/{version}/master.m3u8`; `None` when `version` is not the
/// video's current one (the stored file is served as it is).
pub async fn current(
    state: &AppState,
    id: &str,
    version: &str,
    method: &Method,
    mime: &'static str,
    cache: &'static str,
) -> Result<Option<Response>, ApiError> {
    let Some(video) = state.catalog.videos.get(id).await? else {
        return Ok(None);
    };
    if video.status == crate::catalog::VideoStatus::Deleting {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such media file",
        ));
    }
    if video.media_version.as_deref() != Some(version) {
        return Ok(None);
    }
    let key = format!(
        "{}/{}",
        video.media_prefix(),
        crate::media::transcode::MASTER_NAME
    );
    if state.store.size(&key).await?.is_none() {
        return Ok(None);
    }
    let stored = state.store.get_bytes(&key).await?;
    let text = replace_subtitles(
        &String::from_utf8_lossy(&stored),
        &subtitles::renditions(&video.subtitles),
    );
    Ok(Some(super::media::whole(text, method, mime, cache)))
}
