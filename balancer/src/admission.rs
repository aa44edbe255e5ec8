//! Playback-aware admission: when the nodes are full, viewers who are
//! already watching keep getting their playlists and segments, while new
//! sessions (pages, master playlists, the API) get a fast 503.
//!
//! A viewer is recognised by a signed cookie (a random session id and an
//! expiry) handed out with the watch page and the master playlist and
//! renewed while the viewer keeps fetching media, for
//! `admission.session_ttl_s`. Players send it with their same-origin
//! requests. A media request without a valid cookie is treated as a new
//! session, so a crowd cannot claim priority by asking for segments
//! directly. (The cookie is a bearer token: a client that shares one
//! cookie among many machines shares one session's priority with them.) Requests of each class may use only their share of the node
//! slots: new sessions leave `admission.playback_reserve_pct` free for
//! viewers already watching. And with `admission.max_sessions` set, at most
//! that many sessions are admitted at once (a session counts while it has
//! fetched within `admission.session_idle_s`): the budget an operator sizes
//! from the measured capacity, so admitted viewers cannot outgrow it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cache::policy::media_path;
use crate::config::AdmissionConfig;

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
    /// The admitted session the request belongs to, if its cookie is valid.
    pub session: Option<u64>,
}

/// Signs and checks admission cookies and counts admitted sessions.
pub struct Admission {
    key: Vec<u8>,
    /// Admitted sessions by id, with the last second they fetched.
    sessions: Mutex<HashMap<u64, u64>>,
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

/// Whether a path starts a viewing session: the watch page, the embed
/// page (the player in another site's frame) or a master playlist.
pub fn starts_session(path: &str) -> bool {
    path.starts_with("/watch/")
        || path.starts_with("/embed/")
        || media_path(path).is_some_and(|m| m.file == "master.m3u8")
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
        Admission {
            key,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn signature(&self, expiry: u64, session: u64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"reel-admit:");
        mac.update(format!("{expiry}.{session:016x}").as_bytes());
        let mut sig = hex::encode(mac.finalize().into_bytes());
        sig.truncate(SIG_HEX);
        sig
    }

    /// The expiry and session of a valid cookie value, if it is one.
    fn valid_until(&self, value: &str, now: u64) -> Option<(u64, u64)> {
        let mut parts = value.split('.');
        let (expiry, session, sig) = (parts.next()?, parts.next()?, parts.next()?);
        let expiry: u64 = expiry.parse().ok()?;
        if parts.next().is_some() || expiry <= now || sig.len() != SIG_HEX || session.len() != 16 {
            return None;
        }
        let session = u64::from_str_radix(session, 16).ok()?;
        let want = self.signature(expiry, session);
        // Constant-time comparison: the signature must not leak by timing.
        let diff = want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then_some((expiry, session))
    }

    /// Classifies a request from its path and `Cookie` header. Under a
    /// session budget, a session counts from its first media request (not
    /// from the cookie alone, which anyone can collect by the thousand).
    pub fn classify(&self, path: &str, cookies: Option<&[u8]>, cfg: &AdmissionConfig) -> Verdict {
        let ttl_s = cfg.session_ttl_s;
        let now = now_s();
        let valid = cookies
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| {
                c.split(';')
                    .filter_map(|kv| kv.trim().split_once('='))
                    .filter(|(k, _)| *k == COOKIE)
                    .find_map(|(_, v)| self.valid_until(v, now))
            });
        let versioned_media = media_path(path).is_some();
        if let (Some((_, session)), true, true) = (valid, versioned_media, cfg.max_sessions > 0) {
            self.touch(session, now, cfg);
        }
        if starts_session(path) {
            return Verdict {
                class: Class::NewSession,
                issue_cookie: true,
                session: valid.map(|(_, s)| s),
            };
        }
        match valid {
            Some((expiry, session)) if versioned_media => Verdict {
                class: Class::Playing,
                issue_cookie: expiry.saturating_sub(now) < ttl_s / 2,
                session: Some(session),
            },
            _ => Verdict {
                class: Class::NewSession,
                issue_cookie: false,
                session: None,
            },
        }
    }

    /// Marks a session as active. The table stays bounded: idle sessions
    /// are dropped when it grows past twice the budget, and beyond a hard
    /// cap new ones are not recorded (the budget then reads as full).
    fn touch(&self, session: u64, now: u64, cfg: &AdmissionConfig) {
        let cap = cfg.max_sessions.saturating_mul(2).saturating_add(1024);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seen) = sessions.get_mut(&session) {
            *seen = now;
            return;
        }
        if sessions.len() >= cap {
            sessions.retain(|_, seen| now.saturating_sub(*seen) < cfg.session_idle_s);
        }
        if sessions.len() < cap {
            sessions.insert(session, now);
        }
    }

    /// Whether a session start may be admitted under a budget of
    /// `max_sessions` sessions active within `idle_s` (0 = no budget).
    /// A client that already holds a session is always let back in.
    pub fn has_room(&self, verdict: &Verdict, max_sessions: usize, idle_s: u64) -> bool {
        if max_sessions == 0 || verdict.session.is_some() {
            return true;
        }
        let now = now_s();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= max_sessions {
            sessions.retain(|_, seen| now.saturating_sub(*seen) < idle_s);
        }
        sessions.len() < max_sessions
    }

    /// Sessions counted as active right now (after the last pruning).
    pub fn active_sessions(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// A `Set-Cookie` value admitting the client for `ttl_s` seconds, in
    /// its existing session or a new one.
    pub fn cookie(&self, session: Option<u64>, ttl_s: u64, secure: bool) -> String {
        let now = now_s();
        let session = session.unwrap_or_else(rand::random);
        let expiry = now + ttl_s;
        // Over TLS the cookie goes cross-site too, so players embedded in
        // other sites' frames carry it: it grants priority, never identity
        // or authority, so sending it cross-site risks nothing, and
        // `Partitioned` gives each embedding site its own copy (it cannot
        // follow a viewer from site to site). Browsers take `SameSite=None`
        // only with `Secure`: on plain HTTP it stays `Lax`, and embedded
        // players there count as new sessions.
        let reach = if secure {
            "SameSite=None; Secure; Partitioned"
        } else {
            "SameSite=Lax"
        };
        format!(
            "{COOKIE}={expiry}.{session:016x}.{}; Max-Age={ttl_s}; Path=/; HttpOnly; {reach}",
            self.signature(expiry, session)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: &str = "/media/abc/v0123456789ab/720p/seg_1.m4s";
    const MASTER: &str = "/media/abc/v0123456789ab/master.m3u8";

    fn cfg(max_sessions: usize, idle: u64) -> AdmissionConfig {
        AdmissionConfig {
            max_sessions,
            session_idle_s: idle,
            ..AdmissionConfig::default()
        }
    }

    fn value(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_string()
    }

    #[test]
    fn embedded_players_start_sessions_and_carry_the_cookie_over_tls() {
        let a = Admission::new("k");
        let start = a.classify("/embed/0123456789abcdef", None, &cfg(0, 60));
        assert!(start.issue_cookie && start.class == Class::NewSession);
        let tls = a.cookie(None, 600, true);
        assert!(
            tls.ends_with("; HttpOnly; SameSite=None; Secure; Partitioned"),
            "{tls}"
        );
        let plain = a.cookie(None, 600, false);
        assert!(plain.ends_with("; HttpOnly; SameSite=Lax"), "{plain}");
        // The value is the same kind either way.
        let v = a.classify(SEG, Some(value(&tls).as_bytes()), &cfg(0, 60));
        assert_eq!(v.class, Class::Playing);
    }

    /// Signed paths (private videos) are media like plain ones: their
    /// token is checked before admission counts them.
    #[test]
    fn signed_media_counts_as_media() {
        let a = Admission::new("k");
        let signed = "/v/k1.1700000000.c2ln/abc/v0123456789ab";
        let start = a.classify(&format!("{signed}/master.m3u8"), None, &cfg(0, 60));
        assert!(start.issue_cookie && start.class == Class::NewSession);
        let c = value(&a.cookie(None, 600, false));
        let seg = format!("{signed}/720p/seg_1.m4s");
        let v = a.classify(&seg, Some(c.as_bytes()), &cfg(0, 60));
        assert_eq!(v.class, Class::Playing);
        // Not a version: no priority.
        let odd = a.classify(
            "/v/k1.1.c2ln/abc/x/seg.m4s",
            Some(c.as_bytes()),
            &cfg(0, 60),
        );
        assert_eq!(odd.class, Class::NewSession);
    }

    #[test]
    fn a_signed_cookie_gives_media_priority() {
        let a = Admission::new("k");
        let c = value(&a.cookie(None, 600, false));
        let v = a.classify(SEG, Some(c.as_bytes()), &cfg(0, 60));
        assert_eq!(v.class, Class::Playing);
        assert!(!v.issue_cookie);
        assert!(v.session.is_some());
        // Pages and the API never get priority, cookie or not.
        assert_eq!(
            a.classify("/api/videos", Some(c.as_bytes()), &cfg(0, 60))
                .class,
            Class::NewSession
        );
        let start = a.classify(MASTER, None, &cfg(0, 60));
        assert_eq!(
            start,
            Verdict {
                class: Class::NewSession,
                issue_cookie: true,
                session: None
            }
        );
    }

    #[test]
    fn forged_expired_and_foreign_cookies_do_not() {
        let a = Admission::new("k");
        let other = Admission::new("other");
        let foreign = value(&other.cookie(None, 600, false));
        assert_eq!(
            a.classify(SEG, Some(foreign.as_bytes()), &cfg(0, 60)).class,
            Class::NewSession
        );
        let good = value(&a.cookie(Some(7), 600, false));
        let fields: Vec<&str> = good.trim_start_matches("reel_admit=").split('.').collect();
        let later: u64 = fields[0].parse::<u64>().unwrap() + 1000;
        let forged = format!("{COOKIE}={later}.{}.{}", fields[1], fields[2]);
        assert_eq!(
            a.classify(SEG, Some(forged.as_bytes()), &cfg(0, 60)).class,
            Class::NewSession
        );
        let other_session = format!("{COOKIE}={}.{:016x}.{}", fields[0], 8, fields[2]);
        assert_eq!(
            a.classify(SEG, Some(other_session.as_bytes()), &cfg(0, 60))
                .class,
            Class::NewSession
        );
        let expired = format!("{COOKIE}=10.{:016x}.{}", 7, a.signature(10, 7));
        assert_eq!(
            a.classify(SEG, Some(expired.as_bytes()), &cfg(0, 60)).class,
            Class::NewSession
        );
        assert_eq!(a.classify(SEG, None, &cfg(0, 60)).class, Class::NewSession);
        // Among other cookies, and renewed past half its life.
        let short = value(&a.cookie(None, 100, false));
        let jar = format!("x=1; {short}; y=2");
        let v = a.classify(SEG, Some(jar.as_bytes()), &cfg(0, 60));
        assert_eq!((v.class, v.issue_cookie), (Class::Playing, true));
    }

    #[test]
    fn the_session_budget_counts_viewers_who_fetch_media() {
        let a = Admission::new("k");
        let budget = cfg(2, 60);
        let first = value(&a.cookie(None, 600, false));
        let second = value(&a.cookie(None, 600, false));
        let newcomer = a.classify(MASTER, None, &budget);
        // Cookies alone do not fill the budget…
        assert!(a.has_room(&newcomer, 2, 60));
        // …viewers fetching media do.
        a.classify(SEG, Some(first.as_bytes()), &budget);
        a.classify(SEG, Some(second.as_bytes()), &budget);
        a.classify(SEG, Some(second.as_bytes()), &budget);
        assert_eq!(a.active_sessions(), 2);
        assert!(!a.has_room(&newcomer, 2, 60));
        assert!(a.has_room(&newcomer, 3, 60));
        assert!(a.has_room(&newcomer, 0, 60));
        let back = a.classify(MASTER, Some(first.as_bytes()), &budget);
        assert!(back.session.is_some());
        assert!(a.has_room(&back, 2, 60));
        // Idle sessions stop counting.
        assert!(a.has_room(&newcomer, 2, 0));
        // Without a budget nothing is recorded at all.
        let free = Admission::new("k");
        let c = value(&free.cookie(None, 600, false));
        free.classify(SEG, Some(c.as_bytes()), &cfg(0, 60));
        assert_eq!(free.active_sessions(), 0);
    }

    #[test]
    fn only_versioned_media_gets_priority() {
        let a = Admission::new("k");
        let c = value(&a.cookie(None, 600, false));
        for path in [
            "/media/abc/master.m3u8",
            "/media/abc/v0123456789ab/seg_%31.m4s",
        ] {
            let v = a.classify(path, Some(c.as_bytes()), &cfg(0, 60));
            assert_eq!(v.class, Class::NewSession, "{path}");
        }
    }

    #[test]
    fn the_session_table_stays_bounded() {
        let a = Admission::new("k");
        let budget = cfg(1, 3600);
        for _ in 0..3000 {
            let c = value(&a.cookie(None, 600, false));
            a.classify(SEG, Some(c.as_bytes()), &budget);
        }
        assert!(a.active_sessions() <= 1026, "{}", a.active_sessions());
    }
}
