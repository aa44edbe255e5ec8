//! `/static/{file}`: page scripts, styles and the pinned hls.js, embedded in
//! the binary at build time so a node copied to another machine serves the
//! player with no source tree. `web_dir` (development) reads the same names
//! from disk instead, so edits show without a rebuild.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
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
    Vendor::get(name).map(|f| (f, format!("node_modules/hls.js/dist/{name}")))
}

/// `GET /static/{file}`.
pub async fn asset(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((embedded, rel)) = lookup(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (bytes, etag) = match state.config.web_dir_override() {
        Some(dir) => match tokio::fs::read(dir.join(&rel)).await {
            Ok(b) => (b, None),
            Err(e) => {
                tracing::error!("asset {rel} not readable under web_dir: {e}");
                return StatusCode::NOT_FOUND.into_response();
            }
        },
        None => {
            let tag = format!(
                "\"{}\"",
                hex::encode(&embedded.metadata.sha256_hash()[..12])
            );
            (embedded.data.into_owned(), Some(tag))
        }
    };
    if let (Some(tag), Some(seen)) = (&etag, headers.get(header::IF_NONE_MATCH)) {
        if seen.as_bytes() == tag.as_bytes() {
            return StatusCode::NOT_MODIFIED.into_response();
        }
    }
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&file)));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
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
    }
}
