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
