//! The JSON API and pages against a real SQLite catalog, driven through the
//! router with `oneshot`; media work uses real ffmpeg.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{files_under, make_clip, source_server, TestNode};

fn multipart(title: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let b = "reelboundary7d9f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{title}\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: video/mp4\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn error_code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn create_refuses_bad_requests_with_precise_errors() {
    let node = TestNode::new(&[]).await;
    // No token at all.
    let req = Request::post("/api/videos")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"title":"a","source_url":"http://127.0.0.1/x.mp4"}"#,
        ))
        .unwrap();
    let (s, h, b) = node.call(req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.contains_key("www-authenticate"));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(error_code(&v), "unauthorized");
    // A wrong token.
    let req = Request::post("/api/videos")
        .header("authorization", "Bearer reel_nope")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::UNAUTHORIZED);

    let (s, v) = node.post_json("/api/videos", "{not json").await;
    assert_eq!((s, error_code(&v)), (StatusCode::BAD_REQUEST, "bad-json"));
    let (s, v) = node
        .post_json("/api/videos", r#"{"source_url":"http://127.0.0.1/x.mp4"}"#)
        .await;
    assert_eq!(
        (s, error_code(&v)),
        (StatusCode::BAD_REQUEST, "missing-title")
    );
    let (s, v) = node
        .post_json(
            "/api/videos",
            r#"{"title":"  ","source_url":"http://127.0.0.1/x.mp4"}"#,
        )
        .await;
    assert_eq!(
        (s, error_code(&v)),
        (StatusCode::BAD_REQUEST, "missing-title")
    );
    let (s, v) = node
        .post_json(
            "/api/videos",
            r#"{"title":"t","source_url":"ftp://example.com/x.mp4"}"#,
        )
        .await;
    assert_eq!((s, error_code(&v)), (StatusCode::BAD_REQUEST, "bad-url"));
    assert!(v["error"]["message"].as_str().unwrap().contains("ftp"));
    let (s, v) = node.post_json("/api/videos", r#"{"title":"t"}"#).await;
    assert_eq!(
        (s, error_code(&v)),
        (StatusCode::BAD_REQUEST, "missing-source-url")
    );

    let req = Request::post("/api/videos")
        .header("authorization", format!("Bearer {}", node.token))
        .header("content-type", "text/plain")
        .body(Body::from("hello"))
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = format!(
        r#"{{"title":"{}","source_url":"http://127.0.0.1/x.mp4"}}"#,
        "a".repeat(100_000)
    );
    let (s, v) = node.post_json("/api/videos", &huge).await;
    assert_eq!(
        (s, error_code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large")
    );

    // Nothing was queued by any of these.
    let (_, list) = node.get("/api/videos").await;
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn ssrf_guard_refuses_private_addresses_by_default() {
    let node = TestNode::new(&[("ingest.allow_private_networks", "false")]).await;
    for url in [
        "http://127.0.0.1:9/x.mp4",
        "http://[::1]/x.mp4",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/a",
    ] {
        let (s, v) = node
            .post_json(
                "/api/videos",
                &format!(r#"{{"title":"t","source_url":"{url}"}}"#),
            )
            .await;
        assert_eq!(
            (s, error_code(&v)),
            (StatusCode::BAD_REQUEST, "url-forbidden"),
            "{url}"
        );
    }
    // A host name that resolves to loopback is refused when the job runs.
    let (s, v) = node
        .post_json(
            "/api/videos",
            r#"{"title":"t","source_url":"http://localhost:9/x.mp4"}"#,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id = v["id"].as_str().unwrap().to_string();
    let v = node
        .process_until_settled(&id, Duration::from_secs(30))
        .await;
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().unwrap().contains("not allowed"), "{v}");
}

#[tokio::test]
async fn unreadable_query_strings_get_the_json_error() {
    let node = TestNode::new(&[]).await;
    for uri in [
        "/api/videos?page=two",
        "/api/videos?per_page=-1",
        "/api/videos?page=1&page=2",
    ] {
        let (s, body) = node.get(uri).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad-query")),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let node = TestNode::new(&[]).await;
    for uri in [
        "/api/videos/0123456789abcdef",
        "/api/videos/..%2f..%2fetc",
        "/media/0123456789abcdef/master.m3u8",
    ] {
        let (s, body) = node.get(uri).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"]["code"].is_string(), "{uri}: {body}");
    }
    let req = Request::delete("/api/videos/0123456789abcdef")
        .header("authorization", format!("Bearer {}", node.token))
        .body(Body::empty())
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_text_file_named_mp4_fails_clearly_and_leaves_no_temp_files() {
    let node = TestNode::new(&[]).await;
    let (ctype, body) = multipart("not a video", "notes.mp4", b"just some text, not a video\n");
    let req = Request::post("/api/videos")
        .header("authorization", format!("Bearer {}", node.token))
        .header("content-type", ctype)
        .body(Body::from(body))
        .unwrap();
    let (s, _, b) = node.call(req).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["status"], "queued");
    let id = v["id"].as_str().unwrap().to_string();
    let v = node
        .process_until_settled(&id, Duration::from_secs(60))
        .await;
    assert_eq!(v["status"], "failed");
    let reason = v["error"].as_str().unwrap();
    assert!(reason.contains("not a video"), "unclear reason: {reason}");
    assert!(!reason.contains('/'), "reason leaks a path: {reason}");
    let tmp = files_under(&node.dir.path().join("tmp"));
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    let media: Vec<_> = files_under(&node.dir.path().join("media"));
    assert!(media.is_empty(), "media left: {media:?}");
    let (s, _) = node.get(&format!("/media/{id}/master.m3u8")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_delete_and_catalog_page() {
    let node = TestNode::new(&[]).await;
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("clip.mp4"), 320, 180, 3, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let title = r#"<script>alert(1)</script> Sunset"#;
    let body = serde_json::json!({"title": title, "source_url": format!("http://{addr}/clip.mp4")});
    let (s, v) = node.post_json("/api/videos", &body.to_string()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    // While queued, the catalog page shows it as processing.
    let (_, html) = node.get("/").await;
    assert!(html.contains("queued"), "processing section missing");

    let v = node
        .process_until_settled(&id, Duration::from_secs(120))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
    // Published under a version folder, so every media URL is immutable.
    let hls = v["hls_url"].as_str().unwrap();
    let ver = hls
        .strip_prefix(&format!("/media/{id}/"))
        .and_then(|r| r.strip_suffix("/master.m3u8"))
        .unwrap_or_else(|| panic!("unexpected hls_url {hls}"));
    assert!(reel_node::catalog::valid_version(ver), "{hls}");
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));

    let (s, html) = node.get("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("<script>alert(1)"), "title not escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"));
    assert!(html.contains(&format!("href=\"/watch/{id}\"")));
    // Attribute values come out entity-encoded (`/` as `&#x2f;`).
    assert!(html
        .replace("&#x2f;", "/")
        .contains(&format!("src=\"/media/{id}/{ver}/poster.jpg\"")));
    let (_, found) = node.get("/?q=sunset").await;
    assert!(found.contains(&format!("/watch/{id}")));
    let (_, missing) = node.get("/?q=nothing-like-this").await;
    assert!(!missing.contains(&format!("/watch/{id}")));

    let (s, h, _) = node
        .call(
            Request::get(format!("/watch/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(h["x-reel-node"], "test-node");

    // Rename.
    let req = Request::patch(format!("/api/videos/{id}"))
        .header("authorization", format!("Bearer {}", node.token))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"title":"Renamed"}"#))
        .unwrap();
    let (s, _, b) = node.call(req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&b).unwrap()["title"],
        "Renamed"
    );

    // Delete removes the files too.
    let media_dir = node.dir.path().join("media").join(&id);
    assert!(!files_under(&media_dir).is_empty());
    assert!(media_dir.join(ver).join("master.m3u8").exists());
    let req = Request::delete(format!("/api/videos/{id}"))
        .header("authorization", format!("Bearer {}", node.token))
        .body(Body::empty())
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::NO_CONTENT);
    assert!(!media_dir.exists(), "media left after delete");
    assert_eq!(
        node.get(&format!("/api/videos/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.get(&format!("/media/{id}/master.m3u8")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn health_and_metrics() {
    let node = TestNode::new(&[]).await;
    assert_eq!(node.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(node.get("/readyz").await.0, StatusCode::OK);
    let _ = node.get("/api/videos").await;
    let (s, text) = node.get("/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        text.contains(
            "reel_http_requests_total{method=\"GET\",route=\"/api/videos\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("reel_jobs{state=\"queued\"} 0"));
    node.state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(node.get("/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn catalog_page_lists_24_ready_videos_newest_first_then_pages() {
    use common::fixtures::{add_video, publish};
    use reel_node::catalog::{new_version, FinishOutcome};
    let node = TestNode::new(&[]).await;
    let c = &node.state.catalog;
    let mut ids = Vec::new();
    for i in 0..25 {
        let id = add_video(c, &format!("Clip {i:02}")).await;
        assert_eq!(
            publish(c, &id, &new_version()).await,
            FinishOutcome::Published
        );
        ids.push(id);
        // Distinct upload times so "newest first" has one right answer.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let links = |html: &str| -> Vec<String> {
        ids.iter()
            .filter(|id| html.contains(&format!("/watch/{id}")))
            .cloned()
            .collect()
    };
    let (_, first) = node.get("/").await;
    let on_first = links(&first);
    assert_eq!(on_first.len(), 24);
    assert!(!on_first.contains(&ids[0]), "the oldest belongs on page 2");
    assert!(
        first.find("Clip 24").unwrap() < first.find("Clip 23").unwrap(),
        "not newest first"
    );
    assert!(first.contains("href=\"/?page=2\""));
    let (_, second) = node.get("/?page=2").await;
    assert_eq!(links(&second), vec![ids[0].clone()]);
    assert!(second.contains("href=\"/?page=1\""));
}
