//! One PATCH body under the upload's lock: streamed to scratch, synced,
//! stored as one chunk object, and only then recorded in the catalog.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use super::protocol::{Checksum, Hasher};
use crate::catalog::{Chunk, UploadLock};
use crate::http::ApiError;
use crate::state::AppState;
use crate::uploads::{chunk_key, Heartbeat};

/// Removes the scratch file however the PATCH ends.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How reading the body ended.
enum Ended {
    /// The whole body arrived.
    Complete,
    /// The connection failed or stalled: what arrived is kept, as tus
    /// allows, and the client resumes from the offset it reads back.
    Cut,
}

/// Receives the body of a PATCH at `lock.offset` for an upload of
/// `length` bytes and returns the new offset. With `checksum`, only a whole
/// body with that digest is kept; with `whole_only`, only a whole body. The lock is released in every case: by
/// the catalog update that records the chunk, or explicitly.
pub async fn receive(
    state: &AppState,
    lock: &UploadLock,
    length: i64,
    checksum: Option<Checksum>,
    whole_only: bool,
    body: Body,
) -> Result<i64, ApiError> {
    let r = store_body(state, lock, length, checksum, whole_only, body).await;
    match r {
        Ok(Some(offset)) => Ok(offset),
        Ok(None) => {
            state.catalog.uploads.unlock_upload(lock).await?;
            Ok(lock.offset)
        }
        Err(e) => {
            if let Err(u) = state.catalog.uploads.unlock_upload(lock).await {
                tracing::warn!(video = %lock.video_id, "unlocking failed: {u}");
            }
            Err(e)
        }
    }
}

/// `Some(new offset)` once a chunk is recorded (which releases the lock),
/// `None` when no byte arrived.
async fn store_body(
    state: &AppState,
    lock: &UploadLock,
    length: i64,
    checksum: Option<Checksum>,
    whole_only: bool,
    body: Body,
) -> Result<Option<i64>, ApiError> {
    let mut hasher = checksum.as_ref().map(|c| Hasher::new(c.algorithm));
    let room = (length - lock.offset).max(0) as u64;
    let idle = Duration::from_secs(state.config.ingest.read_timeout_s);
    let lease = Duration::from_secs(state.config.ingest.upload_lock_s);
    let scratch = Scratch(
        state
            .config
            .tmp_dir()
            .join(format!("tus-{}-{}", lock.video_id, lock.token)),
    );
    let mut f = tokio::fs::File::create(&scratch.0).await?;
    let mut n: u64 = 0;
    let mut body = body;
    let mut renewed = Instant::now();
    // Wake at least every third of the lease to renew it, so a slow but
    // live sender keeps the upload; silence past the idle limit ends it.
    let tick = (lease / 3).clamp(
        Duration::from_millis(100),
        idle.max(Duration::from_millis(100)),
    );
    let mut heard = Instant::now();
    let started = Instant::now();
    let min_rate = state.config.ingest.upload_min_rate;
    let ended = loop {
        // A trickle that keeps just inside the idle limit would hold the
        // lock and a task forever: past the idle limit the body must have
        // kept the minimum average rate.
        let t = started.elapsed();
        if min_rate > 0 && t > idle && (n as f64) < min_rate as f64 * t.as_secs_f64() {
            tracing::info!(video = %lock.video_id, bytes = n, "PATCH body below the minimum rate; cut");
            break Ended::Cut;
        }
        if renewed.elapsed() >= tick {
            if !state.catalog.uploads.renew_upload_lock(lock, lease).await? {
                return Err(lock_lost());
            }
            renewed = Instant::now();
        }
        let frame = match tokio::time::timeout(tick, body.frame()).await {
            Err(_) if heard.elapsed() >= idle => break Ended::Cut,
            Err(_) => continue,
            Ok(Some(Err(_))) => break Ended::Cut,
            Ok(None) => break Ended::Complete,
            Ok(Some(Ok(frame))) => frame,
        };
        heard = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if n + data.len() as u64 > room {
            // Nothing of this body is kept: its bytes do not fit the
            // declared length, so they cannot all be the client's file.
            return Err(too_long(room));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&data);
        }
        f.write_all(&data).await?;
        n += data.len() as u64;
    };
    if let (Some(want), Some(h)) = (&checksum, hasher) {
        // A body with a digest is kept whole or not at all: a cut one
        // cannot be checked.
        if matches!(ended, Ended::Cut) {
            return Ok(None);
        }
        if h.finish() != want.digest {
            return Err(ApiError::new(
                StatusCode::from_u16(460).expect("460 is a valid status"),
                "checksum-mismatch",
                "the body does not have the digest named in Upload-Checksum; nothing was kept",
            ));
        }
    }
    // The upload's last allowed chunk: a cut one would leave it unable to
    // take the rest.
    if n == 0 || (whole_only && matches!(ended, Ended::Cut)) {
        return Ok(None);
    }
    // Syncing and adopting a large body can outlast the lease.
    let beat = Heartbeat::start(&state.catalog, lock, lease);
    // Durable before the catalog hears of it: the offset never names a
    // byte that a crash could still take back.
    f.sync_all().await?;
    drop(f);
    if !state.catalog.uploads.renew_upload_lock(lock, lease).await? {
        return Err(lock_lost());
    }
    let key = chunk_key(&lock.video_id, lock.offset, &lock.token);
    state.store.adopt_file(&key, &scratch.0).await?;
    drop(beat);
    let chunk = Chunk {
        start: lock.offset,
        end: lock.offset + n as i64,
        key: key.clone(),
    };
    let ttl = Duration::from_secs(state.config.ingest.upload_expire_s);
    let life = Duration::from_secs(state.config.ingest.upload_max_life_s);
    if !state
        .catalog
        .uploads
        .advance_upload(lock, &chunk, ttl, life)
        .await?
    {
        // Another PATCH took the upload after this one's lease ran out;
        // these bytes were never recorded, so they go.
        let _ = state.store.delete(&key).await;
        return Err(lock_lost());
    }
    if matches!(ended, Ended::Cut) {
        tracing::info!(video = %lock.video_id, bytes = n, "PATCH cut short; kept what arrived");
    }
    Ok(Some(chunk.end))
}

fn too_long(room: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload-too-long",
        format!("the body is longer than the {room} bytes the upload still lacks"),
    )
}

fn lock_lost() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "upload-lock-lost",
        "another request took over this upload; read its offset again",
    )
}
