//! Signed playback URLs at the edge: every request under `/v/` has its
//! token checked here, before the edge cache is even looked at. Objects of
//! private videos are cached under keys without the token (all viewers
//! share them, see `cache::policy::cache_key`), so this check is the only
//! thing between a cached private segment and a viewer without a valid
//! token; a bad, expired, tampered or foreign token gets 403 without
//! reaching the cache or a node.

use reel_playback::{Keys, SignedPath, TokenError};

/// What the balancer does with a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check<'a> {
    /// Not a signed path: nothing to check.
    Plain,
    /// A signed path whose token is valid for its video (`video`).
    Verified {
        /// The video the token was checked for.
        video: &'a str,
    },
    /// A signed path, but the balancer has no keys: it cannot tell, so the
    /// request goes to a node (which checks it) and is never cached.
    Unchecked,
    /// A signed path with a token that is not valid.
    Refused(TokenError),
}

/// Checks the token of `path` with `keys` at `now` (Unix seconds).
pub fn check<'a>(keys: &Keys, path: &'a str, now: u64) -> Check<'a> {
    if !reel_playback::is_signed(path) {
        return Check::Plain;
    }
    if keys.is_empty() {
        return Check::Unchecked;
    }
    let Some(p) = SignedPath::parse(path) else {
        return Check::Refused(TokenError::Malformed);
    };
    match keys.verify(p.token, p.video, now) {
        Ok(_) => Check::Verified { video: p.video },
        Err(e) => Check::Refused(e),
    }
}

/// Now, in Unix seconds.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = "a:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn every_signed_path_is_checked() {
        let keys = Keys::parse(KEYS).unwrap();
        let t = keys.sign("abc", 100).unwrap();
        let ok = format!("/v/{t}/abc/v0123456789ab/720p/s.m4s");
        assert_eq!(check(&keys, &ok, 50), Check::Verified { video: "abc" });
        assert_eq!(check(&keys, &ok, 101), Check::Refused(TokenError::Expired));
        let other = format!("/v/{t}/abd/v0123456789ab/720p/s.m4s");
        assert_eq!(
            check(&keys, &other, 50),
            Check::Refused(TokenError::BadSignature)
        );
        for bad in ["/v/", "/v", "/v/x", "/v/x/abc/"] {
            assert_eq!(
                check(&keys, bad, 50),
                Check::Refused(TokenError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(check(&keys, "/media/abc/v0/x", 50), Check::Plain);
        assert_eq!(check(&Keys::default(), &ok, 50), Check::Unchecked);
    }
}
