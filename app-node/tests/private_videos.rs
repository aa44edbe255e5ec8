//! A private video through the node's router, over a clip encoded by real
//! ffmpeg: its plain media is refused and every file of its tree plays
//! under a signed prefix; missing, expired, tampered, foreign and
//! retired-key tokens are refused (403); the API, the pages and oEmbed
//! show it only to those who may see it.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::fixtures::add_video;
use common::playback::{code, json, node, send, unix_now, uploader, walk, K1, K2};
use reel_node::catalog::Role;

#[tokio::test]
async fn a_private_video_plays_only_through_a_valid_token() {
    let node = node(&[]).await;
    let app = &node.app;
    let v = node.publish_clip(320, 180, 6, true).await;
    let id = v["id"].as_str().unwrap().to_string();
    // A subtitle track too, so the tree has every kind of file.
    let track = "--b\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\nen\r\n--b\r\n\
                 Content-Disposition: form-data; name=\"file\"; filename=\"s.srt\"\r\n\r\n\
                 1\n00:00:00,500 --> 00:00:03,000\nhello\n\r\n--b--\r\n";
    let req = Request::post(format!("/api/videos/{id}/subtitles"))
        .header(header::AUTHORIZATION, format!("Bearer {}", node.token))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(Body::from(track))
        .unwrap();
    let (s, _, b) = node.call(req).await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
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
    assert!(
        signed_files.iter().any(|f| f.ends_with(".vtt")),
        "subtitles: {signed_files:?}"
    );
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

    // The owner, signed in: the watch page mints a token of its own.
    let owner = node
        .state
        .catalog
        .accounts
        .user("tester")
        .await
        .unwrap()
        .unwrap();
    let sid = reel_node::auth::new_secret();
    node.state
        .catalog
        .accounts
        .add_session(
            &reel_node::auth::digest(&sid),
            owner.id,
            "csrf",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    let req = Request::get(format!("/watch/{id}"))
        .header(header::COOKIE, format!("reel_session={sid}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = node.call(req).await;
    let page = String::from_utf8_lossy(&b).replace("&#x2f;", "/");
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("data-src=\"/v/k1."),
        "a signed player for its owner"
    );
    assert!(page.contains("Private:"), "with a note saying so");
}
