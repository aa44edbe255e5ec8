//! HTML templates, embedded in the binary, auto-escaped by file extension.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;

/// Policy for every HTML page: only our own scripts, styles and media; hls.js
/// needs `blob:` for its worker and media source, and gives the caption
/// `<track>` elements it makes an empty `data:` WebVTT file.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; media-src 'self' blob: data:; worker-src 'self' blob:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut e = Environment::new();
        for (name, src) in [
            ("base.html", include_str!("../../web/templates/base.html")),
            ("index.html", include_str!("../../web/templates/index.html")),
            ("watch.html", include_str!("../../web/templates/watch.html")),
            (
                "player.html",
                include_str!("../../web/templates/player.html"),
            ),
            ("embed.html", include_str!("../../web/templates/embed.html")),
            (
                "private.html",
                include_str!("../../web/templates/private.html"),
            ),
            (
                "api-docs.html",
                include_str!("../../web/templates/api-docs.html"),
            ),
            ("login.html", include_str!("../../web/templates/login.html")),
            (
                "upload.html",
                include_str!("../../web/templates/upload.html"),
            ),
        ] {
            e.add_template(name, src).expect("embedded template parses");
        }
        e
    })
}

/// Renders a page with security headers; a template bug becomes a plain 500.
pub fn page(name: &str, ctx: minijinja::Value) -> Response {
    match render(name, ctx) {
        Some(body) => html(body),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response(),
    }
}

/// The frame-ancestors directive of [`CSP`], which keeps every page out of
/// other sites' frames (clickjacking).
const NO_FRAMING: &str = "frame-ancestors 'none'";

/// The page policy with `frame-ancestors` set to `sources` instead of
/// `'none'`: for the embed page alone, which exists to be framed. The
/// sources are validated at config load (one CSP source each, no `;`).
pub fn csp_framed_by(sources: &str) -> String {
    CSP.replace(NO_FRAMING, &format!("frame-ancestors {sources}"))
}

/// A page's HTML; `None` (logged) on a template bug.
pub fn render(name: &str, ctx: minijinja::Value) -> Option<String> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| tracing::error!("template {name} failed: {e:#}"))
        .ok()
}

/// An HTML answer with the pages' security headers; never stored by
/// browsers or shared caches (pages can carry a CSRF token).
pub fn html(body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_framing_directive_changes_for_embeds() {
        assert!(CSP.contains(NO_FRAMING));
        let framed = csp_framed_by("https://blog.example 'self'");
        assert!(framed.contains("frame-ancestors https://blog.example 'self';"));
        assert!(!framed.contains(NO_FRAMING));
        assert_eq!(
            framed.replace("frame-ancestors https://blog.example 'self'", NO_FRAMING),
            CSP
        );
    }
}
