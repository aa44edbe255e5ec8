//! Calls to a node's router for the private-video tests: a node with
//! playback keys, requests with a bearer token, and their JSON.

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use reel_node::auth::{digest, new_secret};
use reel_node::catalog::Role;
use serde_json::Value;
use tower::ServiceExt;

use super::TestNode;

/// A playback key (32 bytes).
pub const K1: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// Another playback key, for rotations.
pub const K2: &str = "k2:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA";

/// A node whose playback keys are [`K1`], with `extra` settings.
pub async fn node(extra: &[(&str, &str)]) -> TestNode {
    let mut pairs = vec![("playback.keys", K1)];
    pairs.extend_from_slice(extra);
    TestNode::new(&pairs).await
}

/// A request, optionally with a bearer token and a JSON body; status,
/// headers, body.
pub async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    bearer: Option<&str>,
    json: Option<Value>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match json {
        Some(j) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(j.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

/// The body as JSON (null when it is not).
pub fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

/// The `error.code` of a JSON error body.
pub fn code(b: &[u8]) -> String {
    json(b)["error"]["code"].as_str().unwrap_or("").to_string()
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Adds a user and returns an API token of theirs.
pub async fn uploader(node: &TestNode, name: &str, role: Role) -> String {
    let a = &node.state.catalog.accounts;
    a.add_user(name, "unused-hash", role).await.unwrap();
    let token = new_secret();
    a.add_token(name, &digest(&token)).await.unwrap();
    token
}

/// Every file a player fetches from a master playlist URL: the rung and
/// subtitle playlists it names, and their init segments and segments, all
/// resolved against the URL they came from, as players do.
pub async fn walk(app: &axum::Router, master: &str) -> Vec<String> {
    let (s, _, b) = send(app, "GET", master, None, None).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "{master}: {}",
        String::from_utf8_lossy(&b)
    );
    let dir = |u: &str| {
        u.split('?')
            .next()
            .unwrap()
            .rsplit_once('/')
            .unwrap()
            .0
            .to_string()
    };
    let text = String::from_utf8(b).unwrap();
    let mut playlists: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| format!("{}/{l}", dir(master)))
        .collect();
    for l in text.lines().filter_map(|l| l.split("URI=\"").nth(1)) {
        playlists.push(format!("{}/{}", dir(master), l.split('"').next().unwrap()));
    }
    let mut files = playlists.clone();
    for p in &playlists {
        let (s, _, b) = send(app, "GET", p, None, None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let text = String::from_utf8(b).unwrap();
        for l in text.lines() {
            let uri = l
                .split("URI=\"")
                .nth(1)
                .map(|r| r.split('"').next().unwrap())
                .or((!l.starts_with('#') && !l.is_empty()).then_some(l));
            if let Some(u) = uri {
                files.push(format!("{}/{u}", dir(p)));
            }
        }
    }
    files
}
