//! The tus 1.0 headers: reading what clients send, writing what they expect.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;

use crate::http::ApiError;

/// The only protocol version spoken.
pub const VERSION: &str = "1.0.0";
/// Extensions offered, as `OPTIONS` lists them.
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
/// Digests accepted in `Upload-Checksum`.
pub const CHECKSUMS: &str = "sha1,sha256";
/// Media type of a PATCH body.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// Longest `Upload-Metadata` kept.
pub const MAX_METADATA: usize = 4000;

/// 412 unless the request speaks our version (`Tus-Resumable: 1.0.0`).
pub fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        Some(other) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus-version",
            format!("tus version {other:?} is not supported; use {VERSION}"),
        )),
        None => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus-version",
            format!("the header Tus-Resumable: {VERSION} is required"),
        )),
    }
}

/// A non-negative integer header; `None` if absent, 400 if malformed.
pub fn number(headers: &HeaderMap, name: &'static str) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad-header",
                format!("{name} must be a non-negative integer"),
            )
        })
}

/// Whether the body is declared as tus upload bytes.
pub fn is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(OFFSET_OCTET_STREAM)
        })
}

/// Parsed `Upload-Metadata`: `key base64value` pairs separated by commas.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `title`, decoded.
    pub title: Option<String>,
    /// `filename` (or `name`, as some clients send), decoded.
    pub filename: Option<String>,
    /// `visibility` (`public`, `unlisted`, `private`), decoded.
    pub visibility: Option<String>,
    /// The header as sent, to give back on HEAD.
    pub raw: String,
}

/// Reads `Upload-Metadata`; 400 when it is malformed, too long or not UTF-8.
pub fn metadata(headers: &HeaderMap) -> Result<Metadata, ApiError> {
    let Some(v) = headers.get("upload-metadata") else {
        return Ok(Metadata::default());
    };
    let bad = |m: &str| ApiError::bad_request("bad-metadata", m.to_string());
    let raw = v
        .to_str()
        .map_err(|_| bad("Upload-Metadata must be ASCII"))?;
    if raw.len() > MAX_METADATA {
        return Err(bad("Upload-Metadata is too long"));
    }
    let mut out = Metadata {
        raw: raw.to_string(),
        ..Metadata::default()
    };
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.splitn(2, ' ');
        let key = it.next().unwrap_or("");
        let value = match it.next().map(str::trim) {
            None | Some("") => String::new(),
            Some(b64) => {
                // Padding optional: some clients leave it off.
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
                    .map_err(|_| bad("an Upload-Metadata value is not base64"))?;
                String::from_utf8(bytes)
                    .map_err(|_| bad("an Upload-Metadata value is not UTF-8"))?
            }
        };
        match key {
            "title" => out.title = Some(value),
            "visibility" => out.visibility = Some(value),
            // `filename` wins over `name`, whichever comes first.
            "filename" | "name" if out.filename.is_none() || key == "filename" => {
                out.filename = Some(value)
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A digest algorithm of `Upload-Checksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

/// `Upload-Checksum`: the digest the body must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// Which digest.
    pub algorithm: Algorithm,
    /// Its expected value.
    pub digest: Vec<u8>,
}

/// Reads `Upload-Checksum` (`sha1 <base64>` or `sha256 <base64>`); 400
/// when it names another algorithm or is malformed.
pub fn checksum(headers: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
    let Some(v) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let bad = |m: &str| ApiError::bad_request("bad-checksum", m.to_string());
    let text = v
        .to_str()
        .map_err(|_| bad("Upload-Checksum must be ASCII"))?;
    let (name, b64) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| bad("Upload-Checksum must be `<algorithm> <base64 digest>`"))?;
    let (algorithm, len) = match name {
        "sha1" => (Algorithm::Sha1, 20),
        "sha256" => (Algorithm::Sha256, 32),
        _ => return Err(bad("Upload-Checksum supports sha1 and sha256")),
    };
    let digest = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .filter(|d| d.len() == len)
        .ok_or_else(|| bad("the Upload-Checksum digest is not valid base64 of the right length"))?;
    Ok(Some(Checksum { algorithm, digest }))
}

/// A running digest of a body.
pub enum Hasher {
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A fresh digest of `a`.
    pub fn new(a: Algorithm) -> Self {
        use sha2::Digest;
        match a {
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// An HTTP date for `Upload-Expires` (RFC 9110 IMF-fixdate).
pub fn http_date(unix_ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms.max(0) as u64);
    httpdate::fmt_http_date(t)
}

/// Sets a header from a string known to be valid header text.
pub fn set(resp: &mut Response, name: &'static str, value: impl std::fmt::Display) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        resp.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn unpadded_metadata_values_are_read() {
        // "a.mp4" without its `=`
        let m = metadata(&h(&[("upload-metadata", "filename YS5tcDQ")])).unwrap();
        assert_eq!(m.filename.as_deref(), Some("a.mp4"));
    }

    #[test]
    fn metadata_is_decoded_and_kept() {
        // "Ünïcode" and "a.mp4"
        let m = metadata(&h(&[(
            "upload-metadata",
            "title w5xuw69jb2Rl,filename YS5tcDQ=,empty,other eA==",
        )]))
        .unwrap();
        assert_eq!(m.title.as_deref(), Some("Ünïcode"));
        assert_eq!(m.filename.as_deref(), Some("a.mp4"));
        assert!(m.raw.starts_with("title "));
        for bad in ["title !!!", "title /w=="] {
            let e = metadata(&h(&[("upload-metadata", bad)])).unwrap_err();
            assert_eq!(e.code, "bad-metadata");
        }
    }

    #[test]
    fn numbers_and_versions() {
        assert_eq!(
            number(&h(&[("upload-offset", "42")]), "upload-offset").unwrap(),
            Some(42)
        );
        assert_eq!(number(&h(&[]), "upload-offset").unwrap(), None);
        for bad in ["-1", "1e3", "", " 1", "99999999999999999999"] {
            assert!(
                number(&h(&[("upload-offset", bad)]), "upload-offset").is_err(),
                "{bad}"
            );
        }
        assert!(check_version(&h(&[("tus-resumable", "1.0.0")])).is_ok());
        let e = check_version(&h(&[("tus-resumable", "0.2.2")])).unwrap_err();
        assert_eq!(e.status, StatusCode::PRECONDITION_FAILED);
        assert!(check_version(&h(&[])).is_err());
    }

    #[test]
    fn checksums_are_parsed_and_computed() {
        // sha1("abc") and sha256("abc")
        let c = checksum(&h(&[(
            "upload-checksum",
            "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
        )]))
        .unwrap()
        .unwrap();
        let mut d = Hasher::new(c.algorithm);
        d.update(b"a");
        d.update(b"bc");
        assert_eq!(d.finish(), c.digest);
        let c = checksum(&h(&[(
            "upload-checksum",
            "sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
        )]))
        .unwrap()
        .unwrap();
        let mut d = Hasher::new(c.algorithm);
        d.update(b"abc");
        assert_eq!(d.finish(), c.digest);
        for bad in [
            "md5 AAAA",
            "sha1",
            "sha1 !!",
            "sha256 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
        ] {
            let e = checksum(&h(&[("upload-checksum", bad)])).unwrap_err();
            assert_eq!(e.code, "bad-checksum", "{bad}");
        }
        assert_eq!(checksum(&h(&[])).unwrap(), None);
    }

    #[test]
    fn dates_are_http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
