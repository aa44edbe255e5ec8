//! `/api/openapi.json` describes every route of the router that belongs to
//! the API, and the reference page at `/api/docs` is served with its
//! embedded assets.
//!
//! The route list is read from the router's definition
//! (`src/http/mod.rs`), so a route added there without a description
//! fails here.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::TestNode;

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// The value of `pub const NAME: &str = "...";` anywhere under `src/http`.
fn resolve_const(name: &str) -> String {
    let needle = format!("const {name}: &str = \"");
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            if let Some(at) = text.find(&needle) {
                let rest = &text[at + needle.len()..];
                return rest[..rest.find('"').unwrap()].to_string();
            }
        }
    }
    panic!("route constant {name} not found under src/http")
}

/// The text of a call's arguments: from just after `(` to its closing `)`.
fn arguments(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced route call")
}

/// Every `.route(path, methods)` of the router: path → explicit methods.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/mod.rs"))
            .unwrap();
    let mut routes = BTreeMap::new();
    for part in src.split(".route(").skip(1) {
        let args = arguments(part);
        let (first, rest) = args.split_once(',').expect("route(path, methods)");
        let first = first.trim();
        let path = match first.strip_prefix('"') {
            Some(lit) => lit.trim_end_matches('"').to_string(),
            None => resolve_const(first.rsplit("::").next().unwrap()),
        };
        let mut methods = BTreeSet::new();
        for m in METHODS {
            let call = format!("{m}(");
            let found = rest.match_indices(&call).any(|(i, _)| {
                i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            if found {
                methods.insert(m.to_string());
            }
        }
        assert!(!methods.is_empty(), "no method found for {path}");
        routes.insert(path, methods);
    }
    routes
}

fn described(path: &str) -> bool {
    path.starts_with("/api/") || matches!(path, "/oembed" | "/healthz" | "/readyz")
}

async fn spec(node: &TestNode) -> serde_json::Value {
    let (s, h, b) = node
        .call(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "application/json");
    serde_json::from_slice(&b).expect("the document is JSON")
}

#[test]
fn the_route_reader_finds_the_api() {
    let routes = router_routes();
    let api: Vec<_> = routes.keys().filter(|p| described(p)).collect();
    // A broken reader would find nothing and prove nothing.
    assert!(api.len() >= 10, "{api:?}");
    assert!(routes["/api/uploads"].contains("options"));
    assert_eq!(
        routes["/api/uploads/{id}"],
        ["delete", "head", "options", "patch"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        routes["/api/videos"],
        ["get", "post"].map(String::from).into()
    );
}

#[tokio::test]
async fn every_api_route_of_the_router_is_described() {
    let node = TestNode::new(&[]).await;
    let doc = spec(&node).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (path, methods) in router_routes().into_iter().filter(|(p, _)| described(p)) {
        for m in methods {
            let op = &paths.get(&path).unwrap_or(&serde_json::Value::Null)[&m];
            if !op.is_object() {
                missing.push(format!("{} {path}", m.to_uppercase()));
                continue;
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path} has no responses"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a description: {missing:?}"
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{error}");
}

/// The other way round: every described operation reaches a handler, none
/// the router's fallback or a 405.
#[tokio::test]
async fn every_described_operation_is_routed() {
    let node = TestNode::new(&[]).await;
    let doc = spec(&node).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if !item[m].is_object() {
                continue;
            }
            let uri = path.replace("{id}", "0123456789abcdef");
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let (s, _, b) = node
                .call(
                    Request::builder()
                        .method(method)
                        .uri(&uri)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
            assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            assert!(
                !String::from_utf8_lossy(&b).contains("no such route"),
                "{m} {path} is not routed"
            );
            checked += 1;
        }
    }
    assert!(checked >= 19, "only {checked} operations");
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x.as_str()) {
                    ("$ref", Some(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_resolves() {
    let node = TestNode::new(&[]).await;
    let doc = spec(&node).await;
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() >= 10, "{all:?}");
    for r in all {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[tokio::test]
async fn answers_match_the_real_types() {
    let node = TestNode::new(&[]).await;
    let doc = spec(&node).await;
    let video = &doc["components"]["schemas"]["VideoJson"]["properties"];
    for field in [
        "id",
        "title",
        "status",
        "hls_url",
        "renditions",
        "subtitles",
        "owner",
    ] {
        assert!(video[field].is_object(), "VideoJson lacks {field}");
    }
    let create = &doc["paths"]["/api/videos"]["post"];
    let content = create["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/json"));
    assert!(content.contains_key("multipart/form-data"));
    for code in ["202", "400", "401", "403", "413", "415", "503"] {
        assert!(create["responses"][code].is_object(), "create lacks {code}");
    }
    // Links name real operations.
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|i| i.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let links = create["responses"]["202"]["links"].as_object().unwrap();
    assert!(links.len() >= 5, "{links:?}");
    for l in links.values() {
        assert!(ids.contains(&l["operationId"].as_str().unwrap()), "{l}");
    }
    assert_eq!(
        create["responses"]["503"]["headers"]["Retry-After"]["required"],
        true
    );
    let qoe = &doc["paths"]["/api/qoe"]["post"]["requestBody"]["content"];
    assert!(qoe["application/cmcd"].is_object(), "{qoe}");
    let patch = &doc["paths"]["/api/uploads/{id}"]["patch"];
    let headers: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(headers.contains(&"Tus-Resumable") && headers.contains(&"Upload-Offset"));
    // A real error of the node has the documented shape.
    let (s, _, b) = node
        .call(
            Request::get("/api/videos/nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let e: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert!(e["error"]["code"].is_string() && e["error"]["message"].is_string());
}

#[tokio::test]
async fn the_reference_page_and_its_assets_are_served() {
    let node = TestNode::new(&[]).await;
    let (s, h, b) = node
        .call(Request::get("/api/docs").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert!(h.contains_key("content-security-policy"));
    let page = String::from_utf8(b).unwrap();
    assert!(page.contains("/api/openapi.json"));
    for (asset, ctype, at_least) in [
        (
            "swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
            100_000,
        ),
        ("swagger-ui.css", "text/css; charset=utf-8", 10_000),
        ("api-docs.js", "text/javascript; charset=utf-8", 100),
    ] {
        assert!(page.contains(&format!("/static/{asset}")), "{asset}");
        let (s, h, b) = node
            .call(
                Request::get(format!("/static/{asset}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{asset}");
        assert_eq!(h["content-type"], ctype, "{asset}");
        assert!(b.len() >= at_least, "{asset}: {} bytes", b.len());
    }
}
