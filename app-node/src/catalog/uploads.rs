//! Records of resumable (tus) uploads.

use std::time::Duration;

use super::model::NewVideo;

/// A resumable upload as the catalog holds it. Its id is the id of the
/// video it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The video being uploaded (also the upload's id).
    pub video_id: String,
    /// The uploader who created it; only they may touch it.
    pub owner_id: i64,
    /// Size of the whole file in bytes (`Upload-Length`).
    pub length: i64,
    /// Bytes stored so far (`Upload-Offset`).
    pub offset: i64,
    /// `Upload-Metadata` as the client sent it, to give back on `HEAD`.
    pub metadata: String,
    /// Every byte arrived and the video went to the work queue.
    pub done: bool,
    /// A PATCH holds an unexpired lock on it (by the database's clock).
    pub locked: bool,
    /// Past its expiry (by the database's clock).
    pub expired: bool,
    /// When it expires, Unix milliseconds.
    pub expires_at_ms: i64,
}

/// What an uploader asks for when creating an upload.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The video it makes, created with status `uploading`.
    pub video: NewVideo,
    /// Owner; the video's owner too.
    pub owner_id: i64,
    /// Size of the whole file in bytes.
    pub length: i64,
    /// Raw `Upload-Metadata`.
    pub metadata: String,
    /// Time until it expires unless a PATCH extends it.
    pub ttl: Duration,
}

/// One stored PATCH body: bytes `start..end` of the file in store object
/// `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Offset of its first byte in the file.
    pub start: i64,
    /// Offset just past its last byte.
    pub end: i64,
    /// Media store key of the object holding these bytes.
    pub key: String,
}

/// A lock held on an upload by one PATCH (or by the finishing step), at the
/// offset it started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLock {
    /// The upload (video) id.
    pub video_id: String,
    /// Secret naming this holder; every write under the lock checks it.
    pub token: String,
    /// The offset when the lock was taken.
    pub offset: i64,
}

/// Why a lock was or was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// Taken.
    Locked(UploadLock),
    /// The offset is not the one the client named; this is the stored one.
    OffsetMismatch(i64),
    /// Another PATCH holds a live lock.
    Busy,
    /// The upload has expired.
    Expired,
    /// No such upload.
    Gone,
}
