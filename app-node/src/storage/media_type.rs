//! What each kind of media file is and how long it may be cached: one table
//! for the node's `/media` answers and for the metadata stored with S3
//! objects (which the bucket sends itself in redirect mode).

/// Cache policy of files whose URL never changes content (segments under a
/// versioned prefix).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How a media file is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType {
    /// `Content-Type`.
    pub mime: &'static str,
    /// `Cache-Control`.
    pub cache: &'static str,
    /// Whether a player resolves other URLs relative to this file's URL
    /// (playlists, WebVTT tracks that name images): such files must keep
    /// the node's address, never be redirected to a signed bucket URL.
    pub names_other_files: bool,
}

/// The type of a media key by its extension; `None` for anything that is
/// never served.
pub fn media_type(key: &str) -> Option<MediaType> {
    let ext = key.rsplit_once('.').map(|(_, e)| e)?;
    let (mime, cache, names_other_files) = match ext {
        "m3u8" => ("application/vnd.apple.mpegurl", "public, max-age=10", true),
        "m4s" | "mp4" => ("video/mp4", IMMUTABLE, false),
        "jpg" | "jpeg" => ("image/jpeg", "public, max-age=3600", false),
        "vtt" => ("text/vtt; charset=utf-8", "public, max-age=3600", true),
        _ => return None,
    };
    Some(MediaType {
        mime,
        cache,
        names_other_files,
    })
}
