//! Streaming a multipart upload to disk, then into the media store.

use std::time::Duration;

use axum::extract::Multipart;
use axum::http::StatusCode;
use tokio::io::AsyncWriteExt;

use super::error::ApiError;
use super::title::clean_title;
use crate::catalog::{new_id, staged_key};
use crate::state::AppState;

/// Largest form field other than the file.
const MAX_FIELD_BYTES: usize = 4096;

/// A received upload, already in the media store.
pub struct Received {
    /// Validated title.
    pub title: String,
    /// Requested visibility (public unless asked).
    pub visibility: crate::catalog::Visibility,
    /// Client's file name, for the catalog's `source`.
    pub file_name: String,
    /// Store key of the staged source.
    pub key: String,
}

/// Removes the temp file however the handler ends.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("the file is larger than the limit of {limit} bytes"),
    )
}

/// Reads fields `title`, `visibility` and `file` (any order), streaming the file to a temp
/// file with the size limit and a per-chunk read timeout against slow bodies.
pub async fn receive_multipart(
    state: &AppState,
    video_id: &str,
    mut mp: Multipart,
) -> Result<Received, ApiError> {
    let limit = state.config.ingest.max_bytes;
    let idle = Duration::from_secs(state.config.ingest.read_timeout_s);
    let tmp = TempFile(state.config.tmp_dir().join(format!("upload-{}", new_id())));
    let mut title = None;
    let mut visibility = None;
    let mut file_name = None;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::bad_request("bad-multipart", e.body_text())
        }
    };
    loop {
        let next = tokio::time::timeout(idle, mp.next_field())
            .await
            .map_err(|_| slow())?;
        let Some(mut field) = next.map_err(bad)? else {
            break;
        };
        match field.name() {
            Some(name @ ("title" | "visibility")) => {
                let name = name.to_string();
                // Read under a small cap: the route's limit is sized for the
                // file, and a text field must never be buffered up to that.
                let mut text = Vec::new();
                while let Some(chunk) = tokio::time::timeout(idle, field.chunk())
                    .await
                    .map_err(|_| slow())?
                    .map_err(bad)?
                {
                    if text.len() + chunk.len() > MAX_FIELD_BYTES {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "field-too-large",
                            format!("the field {name} must be at most {MAX_FIELD_BYTES} bytes"),
                        ));
                    }
                    text.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(text).map_err(|_| {
                    ApiError::bad_request("bad-multipart", format!("the field {name} is not UTF-8"))
                })?;
                if name == "title" {
                    title = Some(text);
                } else {
                    visibility = Some(text);
                }
            }
            Some("file") if file_name.is_none() => {
                file_name = Some(
                    field
                        .file_name()
                        .unwrap_or("upload")
                        .chars()
                        .take(200)
                        .collect::<String>(),
                );
                let mut f = tokio::fs::File::create(&tmp.0).await?;
                let mut n: u64 = 0;
                while let Some(chunk) = tokio::time::timeout(idle, field.chunk())
                    .await
                    .map_err(|_| slow())?
                    .map_err(bad)?
                {
                    n += chunk.len() as u64;
                    if n > limit {
                        return Err(too_large(limit));
                    }
                    f.write_all(&chunk).await?;
                }
                f.flush().await?;
                if n == 0 {
                    return Err(ApiError::bad_request(
                        "empty-file",
                        "the uploaded file is empty",
                    ));
                }
            }
            _ => {
                return Err(ApiError::bad_request(
                    "bad-multipart",
                    "only the fields title, visibility and file (once) are accepted",
                ))
            }
        }
    }
    let title = clean_title(title.as_deref())?;
    let visibility = super::api::parse_visibility(visibility.as_deref())?;
    let Some(file_name) = file_name else {
        return Err(ApiError::bad_request(
            "missing-file",
            "the multipart field file is required",
        ));
    };
    let key = staged_key(video_id);
    // Moved into the store, not copied: a 4 GiB upload is written once.
    state.store.adopt_file(&key, &tmp.0).await?;
    Ok(Received {
        title,
        visibility,
        file_name,
        key,
    })
}

fn slow() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body-timeout",
        "the upload stalled",
    )
}
