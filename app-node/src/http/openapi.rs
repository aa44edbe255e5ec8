//! The OpenAPI 3.1 description of the node's HTTP API, assembled from the
//! handlers' `#[utoipa::path]` annotations, served at `/api/openapi.json`,
//! and the API reference page at `/api/docs` that renders it.
//!
//! A new route is described by annotating its handler and naming the
//! handler in [`ApiDoc`]'s `paths(...)`; `tests/openapi.rs` fails for any
//! `/api/` route of the router that the document lacks.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, Required};
use utoipa::{Modify, OpenApi};

use super::auth::{CSRF_HEADER, SESSION_COOKIE};
use super::{api, embed, ops, playback, qoe, subtitles, templates, tus, webhooks};

/// The document: every described handler, plus the security schemes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Reel node API",
        description = "The JSON API of a Reel node: videos, uploads (multipart and tus 1.0), \
            subtitles, viewer experience reports and webhooks. Errors are always \
            `{\"error\":{\"code\",\"message\"}}`.",
        license(name = "MIT"),
    ),
    paths(
        api::list,
        api::create,
        api::get,
        api::patch,
        api::delete,
        playback::token,
        subtitles::upload,
        qoe::summary,
        qoe::report,
        tus::options,
        tus::create,
        tus::head,
        tus::patch,
        tus::terminate,
        webhooks::deliveries,
        embed::oembed,
        ops::healthz,
        ops::readyz,
        spec,
        docs,
    ),
    modifiers(&Security, &UploadOptions),
    tags(
        (name = "videos", description = "The video catalog"),
        (name = "uploads", description = "Resumable uploads, tus 1.0"),
        (name = "viewer experience", description = "CMCD reports and their summary"),
        (name = "webhooks", description = "The webhook outbox"),
        (name = "embedding", description = "oEmbed"),
        (name = "operations", description = "Health and readiness"),
        (name = "reference", description = "This description"),
    ),
)]
pub struct ApiDoc;

/// Adds the two ways to sign in: an API token (`reel-node token create`)
/// as a bearer token, or the login session cookie, whose changes also need
/// the page's CSRF token in a header.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Components::new);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token made with `reel-node token create`"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The login session of the web pages",
            ))),
        );
        c.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "With a session, changes need the CSRF token of the page",
            ))),
        );
        debug_assert!(CSRF_HEADER.eq_ignore_ascii_case("X-CSRF-Token"));
    }
}

/// `OPTIONS` answers the same on an upload's URL as on `/api/uploads`
/// (one handler serves both); utoipa takes one path a handler, so the
/// second is copied here with its `id` parameter.
struct UploadOptions;

impl Modify for UploadOptions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let base = doc
            .paths
            .paths
            .get(tus::BASE)
            .and_then(|p| p.options.clone());
        let item = doc.paths.paths.get_mut(&format!("{}/{{id}}", tus::BASE));
        if let (Some(mut op), Some(item)) = (base, item) {
            op.operation_id = Some("tusOptionsUpload".into());
            op.parameters.get_or_insert_with(Vec::new).push(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(Some("Any upload id"))
                    // Any id: the answer is about the server, not the upload.
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::String),
                    ))
                    .build(),
            );
            item.options = Some(op);
        }
    }
}

/// Links from what creates a video or an upload to what uses its id, for
/// readers and for clients (and fuzzers) that follow them. Added to the
/// JSON rather than through utoipa, whose `Link` (5.4) writes its fields in
/// snake case (`operation_id`), which OpenAPI does not know.
fn add_links(doc: &mut serde_json::Value) {
    let video_ops = [
        "getVideo",
        "patchVideo",
        "deleteVideo",
        "uploadSubtitles",
        "videoQoe",
    ];
    let upload_ops = ["tusHead", "tusPatch", "tusTerminate", "getVideo"];
    for (pointer, value, targets) in [
        (
            "/paths/~1api~1videos/post/responses/202",
            "$response.body#/id",
            &video_ops[..],
        ),
        (
            "/paths/~1api~1uploads/post/responses/201",
            "$response.header.Reel-Video-Id",
            &upload_ops[..],
        ),
    ] {
        let Some(resp) = doc.pointer_mut(pointer).and_then(|r| r.as_object_mut()) else {
            continue;
        };
        let links: serde_json::Map<String, serde_json::Value> = targets
            .iter()
            .map(|t| {
                let link = serde_json::json!({"operationId": t, "parameters": {"id": value}});
                ((*t).to_string(), link)
            })
            .collect();
        resp.insert("links".into(), links.into());
    }
}

/// Every API error with status 423 or 503 carries `Retry-After` (see
/// `ApiError::unavailable` and the tus lock), so it is stated once here
/// rather than on each of them.
fn add_retry_after(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let ops = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for op in ops {
        for status in ["423", "503"] {
            let Some(resp) = op.pointer_mut(&format!("/responses/{status}")) else {
                continue;
            };
            let is_api_error = resp
                .pointer("/content/application~1json/schema/$ref")
                .and_then(|r| r.as_str())
                .is_some_and(|r| r.ends_with("/ErrorBody"));
            if let (true, Some(resp)) = (is_api_error, resp.as_object_mut()) {
                resp.insert(
                    "headers".into(),
                    serde_json::json!({"Retry-After": {
                        "description": "Seconds to wait before trying again",
                        "required": true,
                        "schema": {"type": "integer", "minimum": 0},
                    }}),
                );
            }
        }
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        add_links(&mut doc);
        add_retry_after(&mut doc);
        serde_json::to_string_pretty(&doc).expect("the document serializes")
    })
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "reference",
    operation_id = "openapi",
    responses(
        (status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json",
            body = Object),
        (status = 503, description = "Busy; see Retry-After", body = super::error::ErrorBody),
    ),
    security(()),
)]
pub async fn spec() -> Response {
    let mut r = json().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Changes with the binary only; revalidated like the static assets.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /api/docs`: the reference page (Swagger UI, embedded, reading
/// `/api/openapi.json`). It runs under the pages' usual policy: the bundle
/// and its start script are our own files, and it injects no inline
/// scripts or style elements.
#[utoipa::path(
    get, path = "/api/docs", tag = "reference",
    operation_id = "apiDocs",
    responses(
        (status = 200, description = "The API reference page", content_type = "text/html"),
        (status = 500, description = "The page failed to render (a bug)", content_type = "text/plain"),
        (status = 503, description = "Busy; see Retry-After", body = super::error::ErrorBody),
    ),
    security(()),
)]
pub async fn docs() -> Response {
    templates::page("api-docs.html", context! {})
}
