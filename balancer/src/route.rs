//! What a request is, from its path: the video it belongs to and the kind
//! of resource, which decide caching, admission and timeouts.

/// Extracts the video id from `/media/{id}/…`, `/v/{token}/{id}/…`,
/// `/watch/{id}` and `/api/videos/{id}[/…]`, ignoring any query string.
pub fn video_id(path: &str) -> Option<&str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if let Some(signed) = reel_playback::SignedPath::parse(path) {
        return Some(signed.video);
    }
    let rest = path
        .strip_prefix("/media/")
        .or_else(|| path.strip_prefix("/watch/"))
        .or_else(|| path.strip_prefix("/api/videos/"))?;
    let id = rest.split('/').next().unwrap_or("");
    (!id.is_empty()).then_some(id)
}

/// Whether the path belongs to the JSON API, which gets JSON errors.
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_video_ids() {
        assert_eq!(video_id("/media/abc/seg_3.m4s"), Some("abc"));
        assert_eq!(video_id("/media/abc/master.m3u8?x=1"), Some("abc"));
        assert_eq!(video_id("/watch/v42"), Some("v42"));
        assert_eq!(video_id("/watch/v42?t=3"), Some("v42"));
        assert_eq!(video_id("/api/videos/v7"), Some("v7"));
        assert_eq!(video_id("/api/videos/v7/comments"), Some("v7"));
        assert_eq!(video_id("/api/videos"), None);
        assert_eq!(video_id("/media/"), None);
        assert_eq!(video_id("/v/k.1.s/abc/v0123456789ab/a.m4s"), Some("abc"));
        assert_eq!(video_id("/"), None);
    }

    #[test]
    fn api_paths() {
        assert!(is_api("/api/videos"));
        assert!(!is_api("/apiary"));
    }
}
