//! `/static/{file}`: page scripts, styles and the pinned hls.js,
//! tus-js-client and Swagger UI (the API reference page), embedded in
//! the binary at build time so a node copied to another machine serves the
//! player with no source tree. `web_dir` (development) reads the same names
//! from disk instead, so edits show without a rebuild.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `web/static/`: our own scripts and styles.
#[derive(rust_embed::Embed)]
#[folder = "web/static/"]
struct Own;

/// hls.js as pinned in `web/package-lock.json` (installed by `npm ci`).
#[derive(rust_embed::Embed)]
#[folder = "web/node_modules/hls.js/dist/"]
#[include = "hls.min.js"]
struct Vendor;

/// tus-js-client (the upload page's resumable uploads), pinned the same way.
#[derive(rust_embed::Embed)]
#[folder = "web/node_modules/tus-js-client/dist/"]
#[include = "tus.min.js"]
struct Tus;

/// Swagger UI's standalone bundle and styles, for `/api/docs`, pinned the
/// same way.
#[derive(rust_embed::Embed)]
#[folder = "web/node_modules/swagger-ui-dist/"]
#[include = "swagger-ui-bundle.js"]
#[include = "swagger-ui.css"]
struct Swagger;

/// Assets keep their names across releases, so caches revalidate soon.
const CACHE: &str = "public, max-age=300";

fn mime(name: &str) -> &'static str {
    if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    }
}

/// The embedded file and its disk path below `web_dir`. Only embedded names
/// exist, so no request can reach any other file.
fn lookup(name: &str) -> Option<(rust_embed::EmbeddedFile, String)> {
    if let Some(f) = Own::get(name) {
        return Some((f, format!("static/{name}")));
    }
    if let Some(f) = Tus::get(name) {
        return Some((f, format!("node_modules/tus-js-client/dist/{name}")));
    }
    if let Some(f) = Swagger::get(name) {
        return Some((f, format!("node_modules/swagger-ui-dist/{name}")));
    }
    Vendor::get(name).map(|f| (f, format!("node_modules/hls.js/dist/{name}")))
}

/// `GET`/`HEAD /static/{file}`. HEAD takes the length from the embedded
/// copy or the file's metadata instead of copying or reading the bytes.
pub async fn asset(
    State(state): State<AppState>,
    method: Method,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((embedded, rel)) = lookup(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let head = method == Method::HEAD;
    let (body, len, etag) = match state.config.web_dir_override() {
        Some(dir) => {
            let path = dir.join(&rel);
            let read = if head {
                tokio::fs::metadata(&path).await.and_then(|m| {
                    if m.is_file() {
                        Ok((Body::empty(), m.len()))
                    } else {
                        Err(std::io::Error::other("not a file"))
                    }
                })
            } else {
                tokio::fs::read(&path).await.map(|b| {
                    let n = b.len() as u64;
                    (Body::from(b), n)
                })
            };
            match read {
                Ok((body, len)) => (body, len, None),
                Err(e) => {
                    tracing::error!("asset {rel} not readable under web_dir: {e}");
                    return StatusCode::NOT_FOUND.into_response();
                }
            }
        }
        None => {
            let tag = format!(
                "\"{}\"",
                hex::encode(&embedded.metadata.sha256_hash()[..12])
            );
            if headers
                .get(header::IF_NONE_MATCH)
                .is_some_and(|seen| seen.as_bytes() == tag.as_bytes())
            {
                // RFC 9110 §15.4.5: a 304 repeats the validator and caching.
                let mut r = StatusCode::NOT_MODIFIED.into_response();
                if let Ok(v) = HeaderValue::from_str(&tag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
                return r;
            }
            let len = embedded.data.len() as u64;
            let body = if head {
                Body::empty()
            } else {
                Body::from(embedded.data)
            };
            (body, len, Some(tag))
        }
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&file)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(header::ETAG, tag);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script or style a template names is in the binary.
    #[test]
    fn templates_only_name_embedded_assets() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/templates");
        let mut named = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for part in text.split("/static/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    .collect();
                assert!(lookup(&name).is_some(), "{name} is not embedded");
                named += 1;
            }
        }
        assert!(named >= 3, "templates name too few assets: {named}");
        assert!(lookup("hls.min.js").is_some());
        assert!(lookup("../Cargo.toml").is_none());
        assert!(lookup("hls.js").is_none());
        assert!(lookup("swagger-ui-bundle.js").is_some());
        assert!(lookup("swagger-ui-bundle.js.map").is_none());
    }
}
