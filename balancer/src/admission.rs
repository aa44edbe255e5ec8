//! Playback-aware admission: when the nodes are full, viewers who are
//! already watching keep getting their playlists and segments, while new
//! sessions (pages, master playlists, the API) get a fast 503.
//!
//! A viewer is recognised by a signed cookie handed out with the watch
//! page and the master playlist and renewed while the viewer keeps
//! fetching media, for `admission.session_ttl_s`. Players send it with
//! their same-origin requests. A media request without a valid cookie is
//! treated as a new session, so a crowd cannot claim priority by asking
//! for segments directly. Requests of each class may use only their share
//! of the node slots: new sessions leave `admission.playback_reserve_pct`
//! free for viewers already watching.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cache::policy::media_path;

/// Name of the admission cookie.
pub const COOKIE: &str = "reel_admit";

/// Hex characters of the signature kept in the cookie (128 bits).
const SIG_HEX: usize = 32;

/// Priority class of a request when the nodes are busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Media of a viewer admitted earlier.
    Playing,
    /// Anything else: pages, master playlists, the API, media without a
    /// valid cookie.
    NewSession,
}

/// What admission decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The request's class.
    pub class: Class,
    /// Whether the response should carry a fresh cookie: a session start
    /// or a cookie past half its life.
    pub issue_cookie: bool,
}

/// Signs and checks admission cookies.
pub struct Admission {
    key: Vec<u8>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission { key: <redacted> }")
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a path starts a viewing session: the watch page or a master
/// playlist.
pub fn starts_session(path: &str) -> bool {
    path.starts_with("/watch/") || media_path(path).is_some_and(|m| m.file == "master.m3u8")
}

impl Admission {
    /// Uses `secret` as the signing key, or a random one when empty (then
    /// cookies are valid only for this process).
    pub fn new(secret: &str) -> Admission {
        let key = if secret.is_empty() {
            rand::random::<[u8; 32]>().to_vec()
        } else {
            secret.as_bytes().to_vec()
        };
        Admission { key }
    }

    fn signature(&self, expiry: u64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"reel-admit:");
        mac.update(expiry.to_string().as_bytes());
        let mut sig = hex::encode(mac.finalize().into_bytes());
        sig.truncate(SIG_HEX);
        sig
    }

    /// The expiry of a valid cookie value, if it is one.
    fn valid_until(&self, value: &str, now: u64) -> Option<u64> {
        let (expiry, sig) = value.split_once('.')?;
        let expiry: u64 = expiry.parse().ok()?;
        if expiry <= now || sig.len() != SIG_HEX {
            return None;
        }
        let want = self.signature(expiry);
        // Constant-time comparison: the signature must not leak by timing.
        let diff = want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then_some(expiry)
    }

    /// Classifies a request from its path and `Cookie` header.
    pub fn classify(&self, path: &str, cookies: Option<&[u8]>, ttl_s: u64) -> Verdict {
        let now = now_s();
        if starts_session(path) {
            return Verdict {
                class: Class::NewSession,
                issue_cookie: true,
            };
        }
        let is_media = path.starts_with("/media/");
        let valid = cookies
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| {
                c.split(';')
                    .filter_map(|kv| kv.trim().split_once('='))
                    .filter(|(k, _)| *k == COOKIE)
                    .find_map(|(_, v)| self.valid_until(v, now))
            });
        match valid {
            Some(expiry) if is_media => Verdict {
                class: Class::Playing,
                issue_cookie: expiry.saturating_sub(now) < ttl_s / 2,
            },
            _ => Verdict {
                class: Class::NewSession,
                issue_cookie: false,
            },
        }
    }

    /// A `Set-Cookie` value admitting the client for `ttl_s` seconds.
    pub fn cookie(&self, ttl_s: u64, secure: bool) -> String {
        let expiry = now_s() + ttl_s;
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={expiry}.{}; Max-Age={ttl_s}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.signature(expiry)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: &str = "/media/abc/v0123456789ab/720p/seg_1.m4s";

    fn value(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_string()
    }

    #[test]
    fn a_signed_cookie_gives_media_priority() {
        let a = Admission::new("k");
        let c = value(&a.cookie(600, false));
        let v = a.classify(SEG, Some(c.as_bytes()), 600);
        assert_eq!(v.class, Class::Playing);
        assert!(!v.issue_cookie);
        // Pages and the API never get priority, cookie or not.
        assert_eq!(
            a.classify("/api/videos", Some(c.as_bytes()), 600).class,
            Class::NewSession
        );
        let start = a.classify("/media/abc/v0123456789ab/master.m3u8", None, 600);
        assert_eq!(
            start,
            Verdict {
                class: Class::NewSession,
                issue_cookie: true
            }
        );
    }

    #[test]
    fn forged_expired_and_foreign_cookies_do_not() {
        let a = Admission::new("k");
        let other = Admission::new("other");
        let foreign = value(&other.cookie(600, false));
        assert_eq!(
            a.classify(SEG, Some(foreign.as_bytes()), 600).class,
            Class::NewSession
        );
        let good = value(&a.cookie(600, false));
        let (name_expiry, sig) = good.split_once('.').unwrap();
        let later: u64 = name_expiry
            .trim_start_matches("reel_admit=")
            .parse::<u64>()
            .unwrap()
            + 1000;
        let forged = format!("{COOKIE}={later}.{sig}");
        assert_eq!(
            a.classify(SEG, Some(forged.as_bytes()), 600).class,
            Class::NewSession
        );
        let expired = format!("{COOKIE}=10.{}", a.signature(10));
        assert_eq!(
            a.classify(SEG, Some(expired.as_bytes()), 600).class,
            Class::NewSession
        );
        assert_eq!(a.classify(SEG, None, 600).class, Class::NewSession);
        // Among other cookies, and renewed past half its life.
        let short = value(&a.cookie(100, false));
        let jar = format!("x=1; {short}; y=2");
        let v = a.classify(SEG, Some(jar.as_bytes()), 600);
        assert_eq!(
            v,
            Verdict {
                class: Class::Playing,
                issue_cookie: true
            }
        );
    }
}
