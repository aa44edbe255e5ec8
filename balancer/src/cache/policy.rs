//! What the edge cache keeps and for how long, decided from the request
//! path and the node's `Cache-Control`.
//!
//! Only files under a versioned media prefix (`/media/{id}/v{12 hex}/…`,
//! or the same under a signed prefix, `/v/{token}/{id}/v{12 hex}/…`) are
//! cached: a version's files never change content, so they are kept for
//! the node's `max-age`. Signed requests reach the cache only after their
//! token was checked (see `crate::signed`), and share one entry per file
//! whatever the token, under a key of their own that no plain `/media`
//! request can name. Playlists are kept for at most
//! `cache.playlist_max_age_s`, because the master playlist gains subtitle
//! tracks after publishing. Pages, the API and unversioned media (which
//! redirect to the current version) are never cached.

use std::time::Duration;

use pingora_cache::cache_control::CacheControl;
use pingora_http::ResponseHeader;

/// How a request's response may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheClass {
    /// A file of one media version: segments, init segments, posters,
    /// storyboards, subtitles.
    Immutable,
    /// A playlist of one media version.
    Playlist,
    /// Never cached.
    Never,
}

/// The parts of a versioned media path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPath<'a> {
    /// The video id.
    pub video: &'a str,
    /// The file path inside the version, e.g. `720p/seg_00003.m4s`.
    pub file: &'a str,
}

fn is_version(s: &str) -> bool {
    s.len() == 13 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Splits `/media/{id}/v{12 hex}/{file}` or
/// `/v/{token}/{id}/v{12 hex}/{file}` (query ignored); `None` for any other
/// path, including ones with empty, `.` or `..` segments, which are never
/// cached so no two spellings share or split one entry.
pub fn media_path(path: &str) -> Option<MediaPath<'_>> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('%');
    let rest = match path.strip_prefix("/media/") {
        Some(rest) => rest,
        None => {
            let (token, rest) = path.strip_prefix(reel_playback::PREFIX)?.split_once('/')?;
            if !plain(token) {
                return None;
            }
            rest
        }
    };
    let (video, rest) = rest.split_once('/')?;
    let (version, file) = rest.split_once('/')?;
    if !plain(video) || !is_version(version) || !file.split('/').all(plain) {
        return None;
    }
    Some(MediaPath { video, file })
}

/// The cache class of a request.
pub fn classify(method: &http::Method, path: &str) -> CacheClass {
    if method != http::Method::GET && method != http::Method::HEAD {
        return CacheClass::Never;
    }
    match media_path(path) {
        Some(m) if m.file.ends_with(".m3u8") => CacheClass::Playlist,
        Some(_) => CacheClass::Immutable,
        None => CacheClass::Never,
    }
}

/// The cache key: the path without its query string. Query strings do
/// not change a media file, so `?t=1` and `?_=cachebust` share one entry
/// (and cannot be used to force node requests). A signed path drops its
/// token too, so every viewer of a private video shares one entry; its
/// key starts with `signed:`, which no request path can, so a plain
/// `/media` request never reaches an object stored for a signed one.
pub fn cache_key(path: &str) -> std::borrow::Cow<'_, str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path
        .strip_prefix(reel_playback::PREFIX)
        .and_then(|r| r.split_once('/'))
    {
        Some((_token, rest)) => format!("signed:{rest}").into(),
        None => path.into(),
    }
}

/// Longest any object is kept: purges are remembered this long (see
/// `purge.rs`), so nothing purged can outlive its purge record.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a response may be kept, or `None` if it must not be.
/// `verified` says the request's playback token was checked here: the
/// node marks signed answers `private` (no cache that does not check
/// tokens may keep them), which this cache, checking them first, may.
pub fn ttl(
    class: CacheClass,
    resp: &ResponseHeader,
    playlist_cap: Duration,
    verified: bool,
) -> Option<Duration> {
    if class == CacheClass::Never || resp.status != http::StatusCode::OK {
        return None;
    }
    if resp.headers.contains_key(http::header::SET_COOKIE) {
        return None;
    }
    let cc = CacheControl::from_resp_headers(resp)?;
    if cc.no_store() || cc.no_cache() || (cc.private() && !verified) {
        return None;
    }
    let max_age = cc
        .s_maxage()
        .ok()
        .flatten()
        .or(cc.max_age().ok().flatten())?;
    let ttl = Duration::from_secs(u64::from(max_age));
    let ttl = match class {
        CacheClass::Playlist => ttl.min(playlist_cap),
        _ => ttl.min(MAX_TTL),
    };
    (!ttl.is_zero()).then_some(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, cc: Option<&str>) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        if let Some(cc) = cc {
            r.insert_header("Cache-Control", cc).unwrap();
        }
        r
    }

    #[test]
    fn classes() {
        let get = http::Method::GET;
        let v = "/media/abc/v0123456789ab";
        assert_eq!(
            classify(&get, &format!("{v}/720p/seg_1.m4s")),
            CacheClass::Immutable
        );
        assert_eq!(
            classify(&get, &format!("{v}/poster.jpg?x=1")),
            CacheClass::Immutable
        );
        assert_eq!(
            classify(&get, &format!("{v}/master.m3u8")),
            CacheClass::Playlist
        );
        assert_eq!(
            classify(&http::Method::POST, &format!("{v}/a.m4s")),
            CacheClass::Never
        );
        for never in [
            "/media/abc/master.m3u8",
            "/media/abc/v0123456789ab",
            "/media/abc/vXYZ456789ab/a.m4s",
            "/media/abc/v0123456789ab/../x.m4s",
            "/media/abc/v0123456789ab//x.m4s",
            "/media/abc/v0123456789ab/%2e%2e/x.m4s",
            "/api/videos",
            "/watch/abc",
            "/",
        ] {
            assert_eq!(classify(&get, never), CacheClass::Never, "{never}");
        }
    }

    #[test]
    fn keys_ignore_queries() {
        assert_eq!(cache_key("/media/a/v0/x.m4s?_=1"), "/media/a/v0/x.m4s");
    }

    #[test]
    fn signed_paths_share_one_key_apart_from_plain_ones() {
        let a = cache_key("/v/k1.9.AAA/abc/v0123456789ab/720p/s.m4s?x=1");
        let b = cache_key("/v/k1.7.BBB/abc/v0123456789ab/720p/s.m4s");
        assert_eq!(a, "signed:abc/v0123456789ab/720p/s.m4s");
        assert_eq!(a, b);
        assert_ne!(a, cache_key("/media/abc/v0123456789ab/720p/s.m4s"));
        let get = http::Method::GET;
        let m = media_path("/v/k1.9.AAA/abc/v0123456789ab/master.m3u8").unwrap();
        assert_eq!((m.video, m.file), ("abc", "master.m3u8"));
        assert_eq!(
            classify(&get, "/v/t/abc/v0123456789ab/720p/s.m4s"),
            CacheClass::Immutable
        );
        for never in [
            "/v/t/abc/master.m3u8",
            "/v//abc/v0123456789ab/s.m4s",
            "/v/t%2e/abc/v0123456789ab/s.m4s",
            "/v/t/abc/v0123456789ab/../s.m4s",
        ] {
            assert_eq!(classify(&get, never), CacheClass::Never, "{never}");
        }
    }

    #[test]
    fn ttls() {
        let cap = Duration::from_secs(2);
        let imm = "public, max-age=31536000, immutable";
        assert_eq!(
            ttl(CacheClass::Immutable, &resp(200, Some(imm)), cap, false),
            Some(MAX_TTL)
        );
        assert_eq!(
            ttl(
                CacheClass::Playlist,
                &resp(200, Some("public, max-age=10")),
                cap,
                false
            ),
            Some(cap)
        );
        assert_eq!(
            ttl(CacheClass::Immutable, &resp(206, Some(imm)), cap, false),
            None
        );
        assert_eq!(
            ttl(CacheClass::Immutable, &resp(404, Some(imm)), cap, false),
            None
        );
        assert_eq!(
            ttl(
                CacheClass::Immutable,
                &resp(200, Some("no-store")),
                cap,
                true
            ),
            None
        );
        assert_eq!(
            ttl(CacheClass::Immutable, &resp(200, None), cap, false),
            None
        );
        assert_eq!(
            ttl(CacheClass::Never, &resp(200, Some(imm)), cap, false),
            None
        );
        let mut cookie = resp(200, Some(imm));
        cookie.insert_header("Set-Cookie", "a=b").unwrap();
        assert_eq!(ttl(CacheClass::Immutable, &cookie, cap, false), None);
        let private = resp(200, Some("private, max-age=600, immutable"));
        assert_eq!(ttl(CacheClass::Immutable, &private, cap, false), None);
        assert_eq!(
            ttl(CacheClass::Immutable, &private, cap, true),
            Some(Duration::from_secs(600)),
            "a checked token lets the balancer keep a private answer"
        );
    }
}
