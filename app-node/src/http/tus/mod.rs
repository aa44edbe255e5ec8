//! Resumable uploads with the tus 1.0 protocol at `/api/uploads` (core,
//! creation, creation-with-upload, termination, expiration, checksum).
//!
//! Any node answers any request: the upload's state is in the catalog and
//! its bytes in the media store (see [`crate::uploads`] for the design).
//! Callers sign in like for the rest of the API (bearer token, or session
//! plus CSRF header); an upload is its creator's alone, and anyone else is
//! told it does not exist. The upload's id is the id of the video it makes.

mod protocol;
mod receive;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Uploader;
use super::error::{ApiError, ErrorBody};
use super::title::clean_title;
use crate::catalog::{new_id, valid_id, LockOutcome, NewUpload, NewVideo, Upload};
use crate::state::AppState;
use protocol::{check_version, http_date, number, set, VERSION};

/// Where uploads are created; each one lives at `{BASE}/{id}`.
pub const BASE: &str = "/api/uploads";

/// Layer: every answer of the tus routes, errors included, names the
/// protocol version, and none may be cached.
pub async fn tus_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if resp.status() == StatusCode::PRECONDITION_FAILED {
        resp.headers_mut()
            .insert("tus-version", HeaderValue::from_static(VERSION));
    }
    resp
}

/// `OPTIONS /api/uploads[/{id}]`: what this server speaks; no sign-in.
#[utoipa::path(
    options, path = "/api/uploads", tag = "uploads",
    operation_id = "tusOptions",
    responses(
        (status = 204, description = "The protocol's capabilities", headers(
            ("Tus-Resumable" = String, description = "1.0.0"),
            ("Tus-Version" = String, description = "1.0.0"),
            ("Tus-Extension" = String, description = "Extensions offered"),
            ("Tus-Checksum-Algorithm" = String, description = "sha1,sha256"),
            ("Tus-Max-Size" = u64, description = "Largest upload in bytes"),
        )),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(()),
)]
pub async fn options(State(state): State<AppState>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set(&mut resp, "tus-version", VERSION);
    set(&mut resp, "tus-extension", protocol::EXTENSIONS);
    set(&mut resp, "tus-checksum-algorithm", protocol::CHECKSUMS);
    set(&mut resp, "tus-max-size", state.config.ingest.max_bytes);
    resp
}

/// The protocol version a request speaks.
// For the description only: `protocol::check_version` reads the header.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
enum TusResumable {
    /// The only version spoken.
    #[serde(rename = "1.0.0")]
    V1,
}

/// Bytes of the file, sent as they are.
// For the description only: the body is streamed by `receive`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct UploadBytes(Vec<u8>);

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("the file is larger than the limit of {limit} bytes"),
    )
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "upload-not-found",
        "no upload has this id",
    )
}

fn gone() -> ApiError {
    ApiError::new(StatusCode::GONE, "upload-expired", "the upload has expired")
}

fn offset_conflict(stored: i64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "offset-mismatch",
        format!("Upload-Offset does not match the stored offset {stored}"),
    )
}

fn locked() -> ApiError {
    ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            StatusCode::LOCKED,
            "upload-locked",
            "another request is writing to this upload; retry shortly",
        )
    }
}

fn wrong_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-content-type",
        "upload bytes must be sent as application/offset+octet-stream",
    )
}

/// The caller's upload, or 404 (unknown, or someone else's: both look the
/// same, so ids of other users' uploads are not confirmed).
async fn owned(state: &AppState, who: &Uploader, id: &str) -> Result<Upload, ApiError> {
    if !valid_id(id) {
        return Err(not_found());
    }
    state
        .catalog
        .uploads
        .upload(id)
        .await?
        .filter(|u| u.owner_id == who.user_id)
        .ok_or_else(not_found)
}

fn lease(state: &AppState) -> Duration {
    Duration::from_secs(state.config.ingest.upload_lock_s)
}

/// `POST /api/uploads`: creates an upload and its video (status
/// `uploading`); with an `application/offset+octet-stream` body, takes the
/// first bytes too (creation-with-upload).
#[utoipa::path(
    post, path = "/api/uploads", tag = "uploads",
    operation_id = "tusCreate",
    params(
        ("Tus-Resumable" = inline(TusResumable), Header, description = "Protocol version (412 for any other)"),
        ("Upload-Length" = u64, Header, minimum = 1, description = "Size of the whole file in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: `title` and/or `filename` (base64), one of which names the video"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>` of the first bytes"),
    ),
    request_body(
        content = UploadBytes, content_type = "application/offset+octet-stream",
        description = "Optional first bytes (creation-with-upload)",
    ),
    responses(
        (status = 201, description = "Created; resume at Location", headers(
            ("Location" = String, description = "URL of the upload"),
            ("Reel-Video-Id" = String, description = "Id of the video it makes"),
            ("Upload-Expires" = String, description = "HTTP date after which it is dropped"),
            ("Upload-Offset" = Option<u64>, description = "Bytes stored, with creation-with-upload"),
            ("Reel-Upload-Error" = Option<String>, description = "With creation-with-upload, the code of why the first bytes were not kept"),
            ("Tus-Resumable" = String, description = "1.0.0"),
        )),
        (status = 400, description = "Missing or bad Upload-Length, metadata, title, visibility or checksum header", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Session without a valid CSRF token", body = ErrorBody),
        (status = 412, description = "Unsupported Tus-Resumable", body = ErrorBody),
        (status = 413, description = "Upload-Length over the limit", body = ErrorBody),
        (status = 415, description = "A body that is not application/offset+octet-stream", body = ErrorBody),
        (status = 429, description = "The caller has ingest.max_open_uploads uploads open already", body = ErrorBody),
        (status = 503, description = "Draining or busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    who: Uploader,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_version(&headers)?;
    if state.is_draining() {
        return Err(ApiError::unavailable(
            "draining",
            "the node is shutting down",
            5,
        ));
    }
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "defer-length-unsupported",
            "Upload-Defer-Length is not supported; send Upload-Length",
        ));
    }
    let length = number(&headers, "upload-length")?.ok_or_else(|| {
        ApiError::bad_request("missing-length", "the header Upload-Length is required")
    })?;
    let limit = state.config.ingest.max_bytes;
    if length as u64 > limit {
        return Err(too_large(limit));
    }
    if length == 0 {
        return Err(ApiError::bad_request("empty-file", "the file is empty"));
    }
    let meta = protocol::metadata(&headers)?;
    let title = clean_title(meta.title.as_deref().or(meta.filename.as_deref()))?;
    let visibility = super::api::parse_visibility(meta.visibility.as_deref())?;
    let file_name = clean_file_name(meta.filename.as_deref());
    let with_bytes = protocol::is_offset_stream(&headers);
    if !with_bytes && number(&headers, "content-length")?.unwrap_or(0) > 0 {
        return Err(wrong_type());
    }
    // Checked before anything is created, so a malformed header leaves no
    // upload behind.
    protocol::checksum(&headers)?;
    let ingest = &state.config.ingest;
    // Counted before creating, so two creations racing may both pass: the
    // cap bounds what one user holds, it is not an exact quota.
    let open = state.catalog.uploads.open_uploads_of(who.user_id).await?;
    if open >= i64::from(ingest.max_open_uploads) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-uploads",
            format!(
                "you have {open} unfinished uploads, the most allowed; finish or delete one first"
            ),
        ));
    }
    let nu = NewUpload {
        video: NewVideo {
            id: new_id(),
            title,
            source: format!("upload:{file_name}"),
            owner_id: Some(who.user_id),
            visibility,
        },
        owner_id: who.user_id,
        length,
        metadata: meta.raw,
        ttl: Duration::from_secs(ingest.upload_expire_s.min(ingest.upload_max_life_s)),
    };
    let mut up = state.catalog.uploads.create_upload(&nu).await?;
    tracing::info!(video = %up.video_id, user = who.user_id, length, "upload created");
    let mut refused = None;
    if with_bytes {
        // The upload exists whatever happens to its first bytes: the client
        // learns its URL below and resumes with HEAD + PATCH.
        match write(&state, &up, 0, &headers, body).await {
            Ok(offset) => up.offset = offset,
            Err(e) => {
                tracing::info!(video = %up.video_id, code = e.code, "first bytes refused");
                refused = Some(e.code);
            }
        }
    }
    let mut resp = StatusCode::CREATED.into_response();
    if let Some(code) = refused {
        // Why `Upload-Offset` is 0: the same code a PATCH would have named.
        set(&mut resp, "reel-upload-error", code);
    }
    set(&mut resp, "location", format!("{BASE}/{}", up.video_id));
    set(&mut resp, "reel-video-id", &up.video_id);
    set(&mut resp, "upload-expires", http_date(up.expires_at_ms));
    if with_bytes {
        set(&mut resp, "upload-offset", up.offset);
    }
    Ok(resp)
}

/// `HEAD /api/uploads/{id}`: how many bytes are stored.
#[utoipa::path(
    head, path = "/api/uploads/{id}", tag = "uploads",
    operation_id = "tusHead",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Upload id (the id of its video)"), ("Tus-Resumable" = inline(TusResumable), Header, description = "Protocol version (412 for any other)")),
    responses(
        (status = 200, description = "Where the upload stands", headers(
            ("Upload-Offset" = u64, description = "Bytes stored"),
            ("Upload-Length" = u64, description = "Size of the whole file"),
            ("Upload-Expires" = String, description = "HTTP date after which it is dropped"),
            ("Reel-Video-Id" = String, description = "Id of the video it makes"),
            ("Upload-Metadata" = Option<String>, description = "The metadata given at creation"),
            ("Tus-Resumable" = String, description = "1.0.0"),
        )),
        (status = 401, description = "No or unknown credentials"),
        (status = 404, description = "No such upload of the caller"),
        (status = 410, description = "Expired"),
        (status = 412, description = "Unsupported Tus-Resumable"),
        (status = 503, description = "Busy; see Retry-After"),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn head(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_version(&headers)?;
    let up = owned(&state, &who, &id).await?;
    if up.expired && !up.done {
        return Err(gone());
    }
    let mut resp = StatusCode::OK.into_response();
    set(&mut resp, "upload-offset", up.offset);
    set(&mut resp, "upload-length", up.length);
    set(&mut resp, "upload-expires", http_date(up.expires_at_ms));
    set(&mut resp, "reel-video-id", &up.video_id);
    if !up.metadata.is_empty() {
        set(&mut resp, "upload-metadata", &up.metadata);
    }
    Ok(resp)
}

/// `PATCH /api/uploads/{id}`: appends the body at `Upload-Offset`.
#[utoipa::path(
    patch, path = "/api/uploads/{id}", tag = "uploads",
    operation_id = "tusPatch",
    params(
        ("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Upload id (the id of its video)"),
        ("Tus-Resumable" = inline(TusResumable), Header, description = "Protocol version (412 for any other)"),
        ("Upload-Offset" = u64, Header, description = "Where the body goes; must equal the stored offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>` of the body"),
    ),
    request_body(content = UploadBytes, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored; the last byte queues the video", headers(
            ("Upload-Offset" = u64, description = "Bytes stored now"),
            ("Upload-Expires" = String, description = "HTTP date after which it is dropped"),
            ("Tus-Resumable" = String, description = "1.0.0"),
        )),
        (status = 400, description = "Missing or bad Upload-Offset or checksum header", body = ErrorBody),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Session without a valid CSRF token", body = ErrorBody),
        (status = 404, description = "No such upload of the caller", body = ErrorBody),
        (status = 408, description = "The body stalled", body = ErrorBody),
        (status = 409, description = "Upload-Offset differs from the stored offset, or the lock was lost", body = ErrorBody),
        (status = 410, description = "Expired", body = ErrorBody),
        (status = 412, description = "Unsupported Tus-Resumable", body = ErrorBody),
        (status = 413, description = "More bytes than the upload lacks, or a last allowed chunk that does not finish it (ingest.max_upload_chunks)", body = ErrorBody),
        (status = 415, description = "Not application/offset+octet-stream", body = ErrorBody),
        (status = 423, description = "Another request is writing to it; see Retry-After", body = ErrorBody),
        (status = 460, description = "The body does not match Upload-Checksum", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn patch(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_version(&headers)?;
    if !protocol::is_offset_stream(&headers) {
        return Err(wrong_type());
    }
    let offset = number(&headers, "upload-offset")?.ok_or_else(|| {
        ApiError::bad_request("missing-offset", "the header Upload-Offset is required")
    })?;
    let up = owned(&state, &who, &id).await?;
    let new_offset = write(&state, &up, offset, &headers, body).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set(&mut resp, "upload-offset", new_offset);
    if let Some(u) = state.catalog.uploads.upload(&id).await? {
        set(&mut resp, "upload-expires", http_date(u.expires_at_ms));
    }
    Ok(resp)
}

/// Writes a body at `offset` under the upload's lock and, when that was the
/// last byte, turns the upload into a queued video. Returns the new offset.
async fn write(
    state: &AppState,
    up: &Upload,
    offset: i64,
    headers: &HeaderMap,
    body: Body,
) -> Result<i64, ApiError> {
    if up.done {
        // Finished already: a client that lost the last answer asks again.
        return if offset == up.length {
            Ok(up.length)
        } else {
            Err(offset_conflict(up.length))
        };
    }
    if up.expired {
        return Err(gone());
    }
    if offset != up.offset {
        return Err(offset_conflict(up.offset));
    }
    let checksum = protocol::checksum(headers)?;
    let declared = number(headers, "content-length")?;
    if declared.is_some_and(|n| offset.saturating_add(n) > up.length) {
        let room = up.length - offset;
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "upload-too-long",
            format!("the body is longer than the {room} bytes the upload still lacks"),
        ));
    }
    // The last chunk an upload may take must complete it: chunks are
    // objects and rows, and joining reads each one.
    let max_chunks = i64::from(state.config.ingest.max_upload_chunks);
    let whole_only = state.catalog.uploads.chunk_count(&up.video_id).await? >= max_chunks - 1;
    if whole_only && declared != Some(up.length - offset) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-chunks",
            format!(
                "this upload has taken {} bodies, one short of the limit of {max_chunks}; \
                 send all {} remaining bytes in one PATCH with a Content-Length",
                max_chunks - 1,
                up.length - offset
            ),
        ));
    }
    let lock = match state
        .catalog
        .uploads
        .lock_upload(&up.video_id, offset, lease(state))
        .await?
    {
        LockOutcome::Locked(l) => l,
        LockOutcome::OffsetMismatch(stored) => return Err(offset_conflict(stored)),
        LockOutcome::Busy => return Err(locked()),
        LockOutcome::Expired => return Err(gone()),
        LockOutcome::Gone => return Err(not_found()),
    };
    // Its own task: a client that closes the connection right after its
    // last byte drops this request's future, and the bytes that arrived
    // must still be stored, recorded and, if they were the last, joined
    // (dropping a JoinHandle does not cancel the task).
    let length = up.length;
    let task = tokio::spawn({
        let (state, lock) = (state.clone(), lock.clone());
        async move {
            let offset =
                receive::receive(&state, &lock, length, checksum, whole_only, body).await?;
            if offset == length {
                spawn_finish(&state, &lock.video_id, length);
            }
            Ok::<_, ApiError>(offset)
        }
    });
    let new_offset = task.await.map_err(|e| {
        tracing::error!(video = %up.video_id, "receiving a PATCH body failed: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "storing the body failed; read the offset again",
        )
    })??;
    Ok(new_offset)
}

/// Joins a complete upload's chunks into its queued video, detached from
/// the request: the join of a large file can outlast any proxy's wait for
/// an answer, and the client's bytes are safe once recorded. If it fails
/// or the node stops, the sweeper finishes the upload later; if the stored
/// bytes cannot make the file, the video is marked failed.
fn spawn_finish(state: &AppState, video_id: &str, length: i64) {
    let (state, id) = (state.clone(), video_id.to_string());
    tokio::spawn(async move {
        if let Err(e) = crate::uploads::finish(
            &state.catalog,
            state.store.as_ref(),
            &state.config.tmp_dir(),
            &id,
            length,
            lease(&state),
        )
        .await
        {
            tracing::warn!(video = %id, code = e.code(), "finishing the upload failed: {e}");
        }
    });
}

/// The `filename` metadata as stored in the video's source: control
/// characters removed (a NUL is not even storable in every catalog),
/// at most 200 characters, `upload` when nothing is left.
fn clean_file_name(raw: Option<&str>) -> String {
    let name: String = raw
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    match name.trim() {
        "" => "upload".to_string(),
        t => t.to_string(),
    }
}

/// `DELETE /api/uploads/{id}` (termination): removes the upload, its bytes
/// and its video.
#[utoipa::path(
    delete, path = "/api/uploads/{id}", tag = "uploads",
    operation_id = "tusTerminate",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "Upload id (the id of its video)"), ("Tus-Resumable" = inline(TusResumable), Header, description = "Protocol version (412 for any other)")),
    responses(
        (status = 204, description = "Removed with its bytes and video", headers(
            ("Tus-Resumable" = String, description = "1.0.0"),
        )),
        (status = 401, description = "No or unknown credentials", body = ErrorBody),
        (status = 403, description = "Session without a valid CSRF token", body = ErrorBody),
        (status = 404, description = "No such upload of the caller", body = ErrorBody),
        (status = 412, description = "Unsupported Tus-Resumable", body = ErrorBody),
        (status = 503, description = "Busy; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn terminate(
    State(state): State<AppState>,
    who: Uploader,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_version(&headers)?;
    let up = owned(&state, &who, &id).await?;
    let video = state.catalog.videos.get(&up.video_id).await?;
    // A video still uploading was never announced; one past it (its job
    // queued) was, so it is announced gone.
    let event = video
        .as_ref()
        .filter(|v| v.status != crate::catalog::VideoStatus::Uploading)
        .and_then(|v| {
            crate::webhooks::announcement(&state, crate::webhooks::EventType::Deleted, v)
        });
    crate::housekeeping::delete_video(
        &state.catalog,
        state.store.as_ref(),
        &up.video_id,
        event.as_ref(),
    )
    .await?;
    state.catalog.uploads.remove_upload(&up.video_id).await?;
    if let Some(v) = video {
        state.edge.purge(&v.id);
    }
    tracing::info!(video = %id, user = who.user_id, "upload terminated");
    Ok(StatusCode::NO_CONTENT.into_response())
}
