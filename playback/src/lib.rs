//! Signed playback URLs of private videos, shared by the app node (which
//! issues and checks them) and the balancer (which checks them before its
//! edge cache).
//!
//! A signed URL carries its token as a path segment,
//! `/v/{token}/{video}/{version}/master.m3u8`, rather than in a query
//! string: every URI inside the playlists is relative, so the player
//! resolves each rung playlist, init segment, segment, subtitle track and
//! storyboard under the same `/v/{token}/…` prefix without the node
//! rewriting any playlist, and the playlists stay byte-for-byte cacheable.
//!
//! A token is `{key id}.{expiry}.{signature}`: the expiry in Unix seconds
//! and an HMAC-SHA256, in unpadded base64url, over the key id, the video id
//! and the expiry. It therefore names one video (a token of another video
//! fails its signature) and one deadline; it does not name the version, so
//! a republished video keeps its outstanding links working.
//!
//! Keys have ids so they can rotate: [`Keys::parse`] reads
//! `id1:base64secret,id2:base64secret`; the first key signs, every listed
//! key verifies, and a key removed from the list stops verifying at once.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// First path segment of a signed URL.
pub const PREFIX: &str = "/v/";

/// Shortest secret accepted, in bytes (decoded).
pub const MIN_SECRET_BYTES: usize = 16;

/// Longest key id accepted.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Longest token looked at; anything longer is refused unread.
pub const MAX_TOKEN_LEN: usize = 128;

/// Domain of the MAC, so these keys can never sign anything else by accident.
const CONTEXT: &[u8] = b"reel-playback-v1";

/// Why a key list was refused. The messages name keys by position and id,
/// never by their secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// An entry is not `id:secret`.
    #[error("entry {0} is not id:base64secret")]
    NotAPair(usize),
    /// A key id is empty, too long or has characters other than
    /// `A-Z a-z 0-9 _ -`.
    #[error("entry {0}: the key id must be 1 to 32 characters of A-Z a-z 0-9 _ -")]
    BadId(usize),
    /// Two entries share an id.
    #[error("key id {0:?} is listed twice")]
    DuplicateId(String),
    /// The secret is not base64.
    #[error("key {0:?}: the secret is not base64")]
    NotBase64(String),
    /// The secret is too short to be a key.
    #[error("key {0:?}: the secret must decode to at least 16 bytes (32 recommended)")]
    TooShort(String),
}

/// Why a token was refused. Every one of them means 403 to a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No keys are configured, so no token can be valid.
    #[error("signed playback is not configured")]
    NoKeys,
    /// Not `{key id}.{expiry}.{signature}`.
    #[error("the playback token is malformed")]
    Malformed,
    /// Signed with a key that is not (or no longer) listed.
    #[error("the playback token was signed with an unknown key")]
    UnknownKey,
    /// Past its expiry.
    #[error("the playback token has expired")]
    Expired,
    /// The signature does not match: tampered with, or made for another
    /// video.
    #[error("the playback token is not valid for this video")]
    BadSignature,
}

impl TokenError {
    /// Stable code for JSON errors, logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            TokenError::NoKeys => "signed-playback-off",
            TokenError::Malformed => "token-malformed",
            TokenError::UnknownKey => "token-unknown-key",
            TokenError::Expired => "token-expired",
            TokenError::BadSignature => "token-invalid",
        }
    }
}

#[derive(Clone)]
struct Key {
    id: String,
    secret: Vec<u8>,
}

/// The playback keys: the first signs, all verify. Its `Debug` shows the
/// key ids only.
#[derive(Clone, Default)]
pub struct Keys {
    keys: Vec<Key>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.id))
            .finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn decode_secret(s: &str) -> Option<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

impl Keys {
    /// Reads `id1:base64secret,id2:base64secret` (spaces around entries
    /// ignored; standard or URL-safe base64, padded or not). An empty text
    /// means no keys: signed playback is off.
    pub fn parse(text: &str) -> Result<Keys, KeysError> {
        let mut keys: Vec<Key> = Vec::new();
        for (i, entry) in text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let n = i + 1;
            let (id, secret) = entry.split_once(':').ok_or(KeysError::NotAPair(n))?;
            let (id, secret) = (id.trim(), secret.trim());
            if !valid_key_id(id) {
                return Err(KeysError::BadId(n));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeysError::DuplicateId(id.to_string()));
            }
            let secret = decode_secret(secret).ok_or_else(|| KeysError::NotBase64(id.into()))?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeysError::TooShort(id.to_string()));
            }
            keys.push(Key {
                id: id.to_string(),
                secret,
            });
        }
        Ok(Keys { keys })
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Id of the key that signs, if any.
    pub fn signing_id(&self) -> Option<&str> {
        self.keys.first().map(|k| k.id.as_str())
    }

    /// A token for `video` valid until `expires_at` (Unix seconds), signed
    /// with the first key; `None` when no key is configured.
    pub fn sign(&self, video: &str, expires_at: u64) -> Option<String> {
        let key = self.keys.first()?;
        let sig = mac(key, video, expires_at).finalize().into_bytes();
        Some(format!(
            "{}.{expires_at}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(sig)
        ))
    }

    /// Checks `token` for `video` at `now` (Unix seconds); its expiry when
    /// valid. A token is valid up to and including its expiry second.
    pub fn verify(&self, token: &str, video: &str, now: u64) -> Result<u64, TokenError> {
        if self.keys.is_empty() {
            return Err(TokenError::NoKeys);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(id), Some(exp), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        // Digits only (no sign, no spaces) and short enough for a u64, so
        // one expiry has exactly one spelling.
        if exp.is_empty() || exp.len() > 12 || !exp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::Malformed);
        }
        let exp: u64 = exp.parse().map_err(|_| TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(TokenError::UnknownKey)?;
        // Constant-time comparison inside `verify_slice`.
        mac(key, video, exp)
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        if now > exp {
            return Err(TokenError::Expired);
        }
        Ok(exp)
    }
}

fn mac(key: &Key, video: &str, exp: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(&key.secret).expect("HMAC takes any key length");
    m.update(CONTEXT);
    for part in [
        key.id.as_bytes(),
        video.as_bytes(),
        exp.to_string().as_bytes(),
    ] {
        m.update(b"\n");
        m.update(part);
    }
    m
}

/// A signed path taken apart: `/v/{token}/{video}/{rest}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedPath<'a> {
    /// The token segment.
    pub token: &'a str,
    /// The video id segment.
    pub video: &'a str,
    /// Everything after the video id: `{version}/{file}`, or a file of the
    /// current version (`master.m3u8`), as under `/media/{video}/`.
    pub rest: &'a str,
}

impl<'a> SignedPath<'a> {
    /// Splits a request path (any query ignored); `None` unless it starts
    /// with [`PREFIX`] and has a token, a video id and a non-empty rest.
    pub fn parse(path: &'a str) -> Option<SignedPath<'a>> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let rest = path.strip_prefix(PREFIX)?;
        let (token, rest) = rest.split_once('/')?;
        let (video, rest) = rest.split_once('/')?;
        if token.is_empty() || video.is_empty() || rest.is_empty() {
            return None;
        }
        Some(SignedPath { token, video, rest })
    }
}

/// Whether a request path is under the signed prefix at all (and so must
/// carry a valid token, whatever else is wrong with it).
pub fn is_signed(path: &str) -> bool {
    path.starts_with(PREFIX) || path == "/v"
}

/// The signed URL path of `file` in the tree at `prefix` (`{video}` or
/// `{video}/{version}`).
pub fn signed_path(token: &str, prefix: &str, file: &str) -> String {
    format!("{PREFIX}{token}/{prefix}/{file}")
}

#[cfg(test)]
mod tests;
