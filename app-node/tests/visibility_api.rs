//! Visibility through the node's router: unlisted videos are in no
//! listing but play by link; a video can start private or unlisted; only
//! the owner or an admin changes the visibility; other nodes refuse a video
//! made private within `http.visibility_cache_ms`; without keys a private
//! video plays nowhere.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::fixtures::{add_owned_video, publish};
use common::playback::{code, json, node, send, uploader, walk};
use common::TestNode;
use reel_node::catalog::{new_version, Role};

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

    // A resumable (tus) upload asks in its metadata.
    let b64 = |t: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(t)
    };
    let req = Request::post("/api/uploads")
        .header(header::AUTHORIZATION, format!("Bearer {}", node.token))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10")
        .header(
            "upload-metadata",
            format!("title {},visibility {}", b64("Tus private"), b64("private")),
        )
        .body(Body::empty())
        .unwrap();
    let (s, h, b) = node.call(req).await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let location = h["location"].to_str().unwrap();
    let tus_id = location.rsplit('/').next().unwrap();
    let v = node
        .state
        .catalog
        .videos
        .get(tus_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.visibility.as_str(), "private");

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
