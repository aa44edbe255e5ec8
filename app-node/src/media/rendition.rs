//! One encoded rung of a video, as measured after encoding. The same value
//! is listed in the master playlist, stored in the catalog and shown by the
//! API, so its facts are never copied field by field between layers.

use serde::Serialize;

/// A published video rendition.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Rendition {
    /// Rung name and directory, e.g. `720p`.
    pub name: String,
    /// Width in pixels.
    #[sqlx(try_from = "i64")]
    pub width: u32,
    /// Height in pixels.
    #[sqlx(try_from = "i64")]
    pub height: u32,
    /// Measured peak bits per second, audio included.
    #[sqlx(try_from = "i64")]
    pub bandwidth: u64,
    /// Measured average bits per second, audio included.
    #[sqlx(try_from = "i64")]
    pub average_bandwidth: u64,
    /// RFC 6381 codecs, audio included when present, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    /// Frames per second.
    pub frame_rate: f64,
    /// Media playlist path relative to the master playlist.
    pub playlist: String,
}
