//! Private and unlisted videos through the node's router, over a clip
//! encoded by real ffmpeg: a private video's plain media is refused and
//! every file of its tree plays under a signed prefix; missing, expired,
//! tampered, foreign and retired-key tokens are refused (403); the API,
//! the pages and oEmbed show it only to those who may see it; unlisted
//! videos are in no listing but play by link; only the owner or an admin
//! changes the visibility.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use common::fixtures::{add_owned_video, add_video, publish};
use common::TestNode;
use reel_node::auth::{digest, new_secret};
use reel_node::catalog::{new_version, Role};
use serde_json::Value;
use tower::ServiceExt;

const K1: &str = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const K2: &str = "k2:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA";

async fn node(extra: &[(&str, &str)]) -> TestNode {
    let mut pairs = vec![("playback.keys", K1)];
    pairs.extend_from_slice(extra);
    TestNode::new(&pairs).await
}

/// A request, optionally with a bearer token; status, headers, body.
async fn send(
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

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

fn code(b: &[u8]) -> String {
    json(b)["error"]["code"].as_str().unwrap_or("").to_string()
}

/// Every file a player fetches from a master playlist URL: the rung and
/// subtitle playlists it names, and their init segments and segments,
/// all resolved against the URL they came from, as players do.
async fn walk(app: &axum::Router, master: &str) -> Vec<String> {
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

#[tokio::test]
async fn a_private_video_plays_only_through_a_valid_token() {
    let node = node(&[]).await;
    let app = &node.app;
    let v = node.publish_clip(320, 180, 6, true).await;
    let id = v["id"].as_str().unwrap().to_string();
    let plain_master = v["hls_url"].as_str().unwrap().to_string();
    let plain_poster = v["poster_url"].as_str().unwrap().to_string();
    let plain_files = walk(app, &plain_master).await;
    let seg = plain_files
        .iter()
        .find(|f| f.ends_with(".m4s"))
        .unwrap()
        .clone();
    let me = Some(node.token.as_str());

    let (s, _, b) = send(
        app,
        "PATCH",
        &format!("/api/videos/{id}"),
        me,
        Some(serde_json::json!({"visibility": "private"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let j = json(&b);
    assert_eq!(j["visibility"], "private");
    let signed_master = j["hls_url"].as_str().unwrap().to_string();
    assert!(signed_master.starts_with("/v/k1."), "{signed_master}");
    assert!(j["poster_url"].as_str().unwrap().starts_with("/v/"));

    // The plain URLs of every kind of file: refused, and never kept.
    for plain in [
        &plain_master,
        &seg,
        &plain_poster,
        &format!("/media/{id}/master.m3u8"),
    ] {
        let (s, h, b) = send(app, "GET", plain, None, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{plain}");
        assert_eq!(code(&b), "private-video");
        assert_eq!(h[header::CACHE_CONTROL], "private, no-store");
    }

    // The owner gets a token; its URL plays every file of the tree.
    let (s, h, b) = send(
        app,
        "POST",
        &format!("/api/videos/{id}/playback-token"),
        me,
        Some(serde_json::json!({"ttl_s": 600})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    let t = json(&b);
    let token = t["token"].as_str().unwrap().to_string();
    let url = t["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("/v/{token}/{id}/v")) && url.ends_with("/master.m3u8"));
    assert!(t["expires_at"].as_str().unwrap().len() >= 20, "{t}");
    let signed_files = walk(app, &url).await;
    assert_eq!(signed_files.len(), plain_files.len());
    assert!(signed_files.iter().any(|f| f.ends_with(".m4s")));
    assert!(signed_files
        .iter()
        .any(|f| f.ends_with("init.mp4") || f.contains("init")));
    for f in &signed_files {
        let (s, h, _) = send(app, "GET", f, None, None).await;
        assert_eq!(s, StatusCode::OK, "{f}");
        let cc = h[header::CACHE_CONTROL].to_str().unwrap();
        let max_age: u64 = cc
            .split("max-age=")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(cc.starts_with("private, ") && max_age <= 600, "{f}: {cc}");
    }
    let prefix = url.rsplit_once('/').unwrap().0;
    for extra in ["poster.jpg", "storyboard.vtt", "storyboard.jpg"] {
        let (s, _, _) = send(app, "GET", &format!("{prefix}/{extra}"), None, None).await;
        assert_eq!(s, StatusCode::OK, "{extra}");
    }
    // The unversioned master redirects within the signed prefix.
    let (s, h, _) = send(
        app,
        "GET",
        &format!("/v/{token}/{id}/master.m3u8"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FOUND);
    assert!(h[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with(&format!("/v/{token}/{id}/v")));

    // Refusals: no token at all, malformed, expired, tampered, another
    // video's, and signed with a key that is no longer listed.
    let rest = url.split_once(&format!("/{id}/")).unwrap().1;
    let at = |tok: &str| format!("/v/{tok}/{id}/{rest}");
    let keys = reel_playback::Keys::parse(K1).unwrap();
    let now = unix_now();
    let expired = keys.sign(&id, now - 5).unwrap();
    let other = add_video(&node.state.catalog, "Other").await;
    let foreign = keys.sign(&other, now + 600).unwrap();
    let mut tampered: Vec<char> = token.chars().collect();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == 'x' { 'y' } else { 'x' };
    let tampered: String = tampered.into_iter().collect();
    let later = token.replacen(
        &format!(".{}.", token.split('.').nth(1).unwrap()),
        &format!(".{}.", now + 99_999),
        1,
    );
    for (tok, want) in [
        ("not-a-token", "token-malformed"),
        (expired.as_str(), "token-expired"),
        (tampered.as_str(), "token-invalid"),
        (later.as_str(), "token-invalid"),
        (foreign.as_str(), "token-invalid"),
    ] {
        let (s, h, b) = send(app, "GET", &at(tok), None, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{tok}");
        assert_eq!(code(&b), want, "{tok}");
        assert_eq!(h[header::CACHE_CONTROL], "private, no-store");
    }
    let (s, _, _) = send(app, "GET", &format!("/v//{id}/{rest}"), None, None).await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );

    // Rotation: k2 signs now, k1 still verifies while listed…
    let mut rotated = node.state.clone();
    rotated.playback = Arc::new(reel_playback::Keys::parse(&format!("{K2},{K1}")).unwrap());
    let rotated_app = reel_node::http::app(rotated.clone());
    assert_eq!(
        send(&rotated_app, "GET", &url, None, None).await.0,
        StatusCode::OK
    );
    let (_, _, b) = send(
        &rotated_app,
        "POST",
        &format!("/api/videos/{id}/playback-token"),
        me,
        None,
    )
    .await;
    let new_url = json(&b)["url"].as_str().unwrap().to_string();
    assert!(new_url.starts_with("/v/k2."), "{new_url}");
    // …and is refused once removed.
    let mut retired = node.state.clone();
    retired.playback = Arc::new(reel_playback::Keys::parse(K2).unwrap());
    let retired_app = reel_node::http::app(retired);
    let (s, _, b) = send(&retired_app, "GET", &url, None, None).await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::FORBIDDEN, "token-unknown-key")
    );
    assert_eq!(
        send(&retired_app, "GET", &new_url, None, None).await.0,
        StatusCode::OK
    );

    // The API: 404 for anyone but the owner or an admin.
    let (s, _, b) = send(app, "GET", &format!("/api/videos/{id}"), None, None).await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::NOT_FOUND, "video-not-found")
    );
    let stranger = uploader(&node, "mallory", Role::Uploader).await;
    let (s, _, _) = send(
        app,
        "GET",
        &format!("/api/videos/{id}"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, b) = send(app, "GET", &format!("/api/videos/{id}"), me, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(json(&b)["hls_url"].as_str().unwrap().starts_with("/v/"));
    let (s, _, _) = send(
        app,
        "POST",
        &format!("/api/videos/{id}/playback-token"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only the owner mints tokens");
    let (s, _, _) = send(
        app,
        "POST",
        &format!("/api/videos/{id}/playback-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, b) = send(
        app,
        "POST",
        &format!("/api/videos/{id}/playback-token"),
        me,
        Some(serde_json::json!({"ttl_s": 10_000_000})),
    )
    .await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::BAD_REQUEST, "bad-ttl"));

    // Listings: absent, even for its owner unless asking for their own.
    for uri in [
        "/api/videos",
        "/api/videos?q=clip",
        "/api/videos?status=ready",
    ] {
        let (_, _, b) = send(app, "GET", uri, None, None).await;
        let listed = json(&b)["videos"].as_array().unwrap().clone();
        assert!(listed.iter().all(|v| v["id"] != id.as_str()), "{uri}");
    }
    let (_, home) = node.get("/?q=clip").await;
    assert!(!home.contains(&id), "catalog page");
    let (_, _, b) = send(app, "GET", "/api/videos?mine=1", me, None).await;
    let mine = json(&b);
    assert_eq!(mine["videos"][0]["id"], id.as_str());
    assert!(mine["videos"][0]["hls_url"]
        .as_str()
        .unwrap()
        .starts_with("/v/"));

    // Pages: a clear 403 for a visitor, the player with a valid token.
    let (s, page) = node.get(&format!("/watch/{id}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("This video is private"), "{page}");
    assert!(!page.contains("data-src"), "no broken player");
    let (s, page) = node.get(&format!("/watch/{id}?token={expired}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("has expired or is not valid"));
    // Attribute values come HTML-escaped (`/` as `&#x2f;`).
    let unescape = |p: String| p.replace("&#x2f;", "/");
    let (s, page) = node.get(&format!("/watch/{id}?token={token}")).await;
    let page = unescape(page);
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains(&format!("data-src=\"/v/{token}/{id}/")),
        "{page}"
    );
    assert!(!page.contains("application/json+oembed"), "no oEmbed link");
    let (s, page) = node.get(&format!("/embed/{id}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("This video is private"));
    let (s, page) = node.get(&format!("/embed/{id}?token={token}")).await;
    let page = unescape(page);
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&format!("/v/{token}/{id}/")));
    let req = Request::get(format!("/oembed?url=http%3A%2F%2Freel.test%2Fwatch%2F{id}"))
        .header(header::HOST, "reel.test")
        .body(Body::empty())
        .unwrap();
    let (s, _, _) = node.call(req).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "oEmbed refuses private videos");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Adds a user and returns an API token of theirs.
async fn uploader(node: &TestNode, name: &str, role: Role) -> String {
    let a = &node.state.catalog.accounts;
    a.add_user(name, "unused-hash", role).await.unwrap();
    let token = new_secret();
    a.add_token(name, &digest(&token)).await.unwrap();
    token
}

#[tokio::test]
async fn unlisted_videos_are_in_no_listing_but_play_by_link() {
    // Listings kept for a minute: only the clear after a change through
    // this node can make the change visible.
    let node = node(&[("http.listing_cache_ms", "60000")]).await;
    let app = &node.app;
    let v = node.publish_clip(320, 180, 4, false).await;
    let id = v["id"].as_str().unwrap().to_string();
    let master = v["hls_url"].as_str().unwrap().to_string();
    let listed = |b: &[u8]| {
        json(b)["videos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == id.as_str())
    };
    // Kept while public.
    let (_, _, b) = send(app, "GET", "/api/videos", None, None).await;
    assert!(listed(&b));
    let (_, home) = node.get("/?q=clip").await;
    assert!(home.contains(&id));

    let (s, _, b) = send(
        app,
        "PATCH",
        &format!("/api/videos/{id}"),
        Some(&node.token),
        Some(serde_json::json!({"visibility": "unlisted"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json(&b)["hls_url"], master.as_str(), "plain URLs still");
    for uri in [
        "/api/videos",
        "/api/videos?q=clip",
        "/api/videos?status=ready",
    ] {
        let (_, _, b) = send(app, "GET", uri, None, None).await;
        assert!(!listed(&b), "{uri}");
    }
    for page in ["/", "/?q=clip"] {
        let (_, html) = node.get(page).await;
        assert!(!html.contains(&id), "{page}");
    }
    // By link: the API, the watch page and every media file.
    let (s, _, b) = send(app, "GET", &format!("/api/videos/{id}"), None, None).await;
    assert_eq!(
        (s, json(&b)["visibility"].as_str()),
        (StatusCode::OK, Some("unlisted"))
    );
    let (s, page) = node.get(&format!("/watch/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Unlisted"));
    for f in walk(app, &master).await {
        assert_eq!(
            send(app, "GET", &f, None, None).await.0,
            StatusCode::OK,
            "{f}"
        );
    }
    let (_, _, b) = send(app, "GET", "/api/videos?mine=1", Some(&node.token), None).await;
    assert!(listed(&b), "the owner's own listing has it");
}

#[tokio::test]
async fn only_the_owner_or_an_admin_changes_the_visibility() {
    let node = node(&[]).await;
    let app = &node.app;
    let owner = node
        .state
        .catalog
        .accounts
        .user("tester")
        .await
        .unwrap()
        .unwrap();
    let id = add_owned_video(&node.state.catalog, "Mine", Some(owner.id)).await;
    publish(&node.state.catalog, &id, &new_version()).await;
    let other = uploader(&node, "mallory", Role::Uploader).await;
    let admin = uploader(&node, "root", Role::Admin).await;
    let patch = |vis: &str| Some(serde_json::json!({ "visibility": vis }));
    let uri = format!("/api/videos/{id}");
    let vis = || async {
        node.state
            .catalog
            .videos
            .get(&id)
            .await
            .unwrap()
            .unwrap()
            .visibility
            .as_str()
    };

    let (s, _, b) = send(app, "PATCH", &uri, Some(&other), patch("private")).await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, _, _) = send(app, "PATCH", &uri, None, patch("private")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(vis().await, "public", "left as it was");
    let (s, _, b) = send(app, "PATCH", &uri, Some(&node.token), patch("friends")).await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::BAD_REQUEST, "bad-visibility")
    );
    let (s, _, b) = send(
        app,
        "PATCH",
        &uri,
        Some(&node.token),
        Some(serde_json::json!({"visibility": "private", "title": ""})),
    )
    .await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::BAD_REQUEST, "missing-title")
    );
    assert_eq!(vis().await, "public", "nothing changed on a refusal");

    let (s, _, _) = send(app, "PATCH", &uri, Some(&node.token), patch("private")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(vis().await, "private");
    let (s, _, b) = send(app, "PATCH", &uri, Some(&admin), patch("unlisted")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json(&b)["visibility"], "unlisted");
    // A title-only change still works as before.
    let (s, _, b) = send(
        app,
        "PATCH",
        &uri,
        Some(&node.token),
        Some(serde_json::json!({"title": "Renamed"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (json(&b)["title"].as_str(), json(&b)["visibility"].as_str()),
        (Some("Renamed"), Some("unlisted"))
    );
}

#[tokio::test]
async fn without_keys_private_videos_cannot_be_played() {
    let node = TestNode::new(&[]).await;
    let owner = node
        .state
        .catalog
        .accounts
        .user("tester")
        .await
        .unwrap()
        .unwrap();
    let id = add_owned_video(&node.state.catalog, "Locked", Some(owner.id)).await;
    publish(&node.state.catalog, &id, &new_version()).await;
    node.state
        .catalog
        .videos
        .set_visibility(&id, reel_node::catalog::Visibility::Private)
        .await
        .unwrap();
    let (s, _, b) = send(
        &node.app,
        "POST",
        &format!("/api/videos/{id}/playback-token"),
        Some(&node.token),
        None,
    )
    .await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::NOT_IMPLEMENTED, "signed-playback-off")
    );
    let (s, _, b) = send(
        &node.app,
        "GET",
        &format!("/v/k1.1.AAAA/{id}/master.m3u8"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::FORBIDDEN, "signed-playback-off")
    );
}

#[tokio::test]
async fn other_nodes_refuse_a_video_made_private_within_the_visibility_cache_time() {
    let node = node(&[("http.visibility_cache_ms", "400")]).await;
    let owner = node
        .state
        .catalog
        .accounts
        .user("tester")
        .await
        .unwrap()
        .unwrap();
    let id = add_owned_video(&node.state.catalog, "Soon private", Some(owner.id)).await;
    let version = new_version();
    publish(&node.state.catalog, &id, &version).await;
    // A second node: the same catalog, its own kept visibilities.
    let other = reel_node::http::app(node.state.clone());
    let plain = format!("/media/{id}/{version}/poster.jpg");
    // Both nodes have read it (and keep it) while public.
    for app in [&node.app, &other] {
        let (s, _, _) = send(app, "GET", &plain, None, None).await;
        assert_ne!(s, StatusCode::FORBIDDEN, "public: not refused");
    }
    let (s, _, _) = send(
        &node.app,
        "PATCH",
        &format!("/api/videos/{id}"),
        Some(&node.token),
        Some(serde_json::json!({"visibility": "private"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = send(&node.app, "GET", &plain, None, None).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "at once on the node it changed on"
    );
    let (s, _, _) = send(&other, "GET", &plain, None, None).await;
    assert_ne!(
        s,
        StatusCode::FORBIDDEN,
        "the other node still has its copy"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (s, _, b) = send(&other, "GET", &plain, None, None).await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::FORBIDDEN, "private-video")
    );
}

#[tokio::test]
async fn a_video_can_start_private_or_unlisted() {
    let node = node(&[]).await;
    let app = &node.app;
    let me = Some(node.token.as_str());
    let (s, _, b) = send(
        app,
        "POST",
        "/api/videos",
        me,
        Some(serde_json::json!({
            "title": "Born private",
            "source_url": "http://127.0.0.1:9/x.mp4",
            "visibility": "private",
        })),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));
    let private = json(&b)["id"].as_str().unwrap().to_string();
    assert_eq!(json(&b)["visibility"], "private");
    // Never listed, not even while it is processing.
    let (_, _, b) = send(app, "GET", "/api/videos?status=processing", None, None).await;
    assert_eq!(json(&b)["total"], 0);
    let (_, home) = node.get("/").await;
    assert!(!home.contains(&private));

    let body = "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nUnlisted upload\r\n\
                --b\r\nContent-Disposition: form-data; name=\"visibility\"\r\n\r\nunlisted\r\n\
                --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n\
                not really a video\r\n--b--\r\n";
    let req = Request::post("/api/videos")
        .header(header::AUTHORIZATION, format!("Bearer {}", node.token))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(Body::from(body))
        .unwrap();
    let (s, _, b) = node.call(req).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json(&b)["visibility"], "unlisted");

    let (s, _, b) = send(
        app,
        "POST",
        "/api/videos",
        me,
        Some(serde_json::json!({
            "title": "x",
            "source_url": "http://127.0.0.1:9/x.mp4",
            "visibility": "secret",
        })),
    )
    .await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::BAD_REQUEST, "bad-visibility")
    );
}
