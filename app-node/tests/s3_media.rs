//! `/media` over an S3 store: streamed through the node with Range and the
//! same headers as local files ("proxy"), or, in "redirect" mode, segments
//! sent to presigned bucket URLs while playlists stay on the node (players
//! resolve the files a playlist names against its URL).

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::s3::S3Server;
use common::{make_clip, source_server, TestNode};

/// A node storing in a fresh bucket with one published video: the node,
/// the version's URL prefix and its rung's URL prefix.
async fn node_with_video(s3: &S3Server, serve: &str) -> (TestNode, String, String) {
    let bucket = s3.bucket().await;
    let mut pairs = s3.config_pairs(&bucket);
    pairs.push(("storage.serve".into(), serve.into()));
    let extra: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let node = TestNode::new(&extra).await;
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("c.mp4"), 320, 180, 6, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let (s, v) = node
        .post_json(
            "/api/videos",
            &format!(r#"{{"title":"On S3","source_url":"http://{addr}/c.mp4"}}"#),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let v = node
        .process_until_settled(&id, Duration::from_secs(120))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
    // Published progressively to the bucket too: it was playable first.
    assert!(v["time_to_playable_s"].as_f64().is_some(), "{v}");
    let base = v["hls_url"]
        .as_str()
        .unwrap()
        .trim_end_matches("master.m3u8")
        .to_string();
    // The one rung of this small source, as a path prefix.
    let rung = format!("{base}{}/", v["renditions"][0]["name"].as_str().unwrap());
    (node, base, rung)
}

#[tokio::test]
async fn proxy_mode_streams_objects_with_range_and_media_headers() {
    let s3 = S3Server::start().await;
    let (node, base, rung) = node_with_video(&s3, "proxy").await;
    let get = |uri: String, range: Option<&str>| {
        let mut r = Request::get(uri);
        if let Some(v) = range {
            r = r.header("range", v);
        }
        node.call(r.body(Body::empty()).unwrap())
    };
    let (s, h, whole) = get(format!("{rung}seg_00000.m4s"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "video/mp4");
    assert!(h["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(h["content-length"], whole.len().to_string().as_str());
    let (s, h, part) = get(format!("{rung}seg_00000.m4s"), Some("bytes=100-199")).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, whole[100..200]);
    assert_eq!(
        h["content-range"],
        format!("bytes 100-199/{}", whole.len()).as_str()
    );
    let (s, _, _) = get(format!("{rung}seg_00000.m4s"), Some("bytes=99999999-")).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
    let (s, h, _) = get(format!("{base}master.m3u8"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "application/vnd.apple.mpegurl");
    let (s, _, _) = get(format!("{rung}seg_99999.m4s"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn redirect_mode_signs_segments_and_keeps_playlists_on_the_node() {
    let s3 = S3Server::start().await;
    let (node, base, rung) = node_with_video(&s3, "redirect").await;
    let _ = base;
    // Playlists are answered by the node itself.
    let (s, h, body) = node
        .call(
            Request::get(format!("{rung}index.m3u8"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "application/vnd.apple.mpegurl");
    assert!(String::from_utf8_lossy(&body).contains("seg_00000.m4s"));
    // Segments go to a signed URL that the bucket serves with the same headers.
    let (s, h, _) = node
        .call(
            Request::get(format!("{rung}seg_00000.m4s"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    assert_eq!(h["cache-control"], "no-store");
    let url = h["location"].to_str().unwrap().to_string();
    assert!(url.starts_with(&s3.endpoint), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert!(!r.bytes().await.unwrap().is_empty());
    // Same length, one hex digit changed.
    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &url[at..at + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{flipped}{}", &url[..at], &url[at + 1..]);
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
}

/// The bucket goes away (cut by a TCP proxy while the server keeps
/// running): readiness says 503 at once, naming storage, and recovers by
/// itself when the bucket is back.
#[tokio::test]
async fn readiness_follows_the_bucket_away_and_back() {
    let s3 = S3Server::start().await;
    let bucket = s3.bucket().await;
    let upstream: std::net::SocketAddr = s3.endpoint.trim_start_matches("http://").parse().unwrap();
    let proxy = common::tcp_proxy::TcpProxy::start(upstream).await;
    let pairs = common::s3::s3_pairs(&format!("http://{}", proxy.addr), &bucket);
    let extra: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let node = TestNode::new(&extra).await;
    assert_eq!(node.get("/readyz").await.0, StatusCode::OK);
    proxy.cut();
    let started = std::time::Instant::now();
    let (s, body) = node.get("/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("storage"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(20), "not bounded");
    proxy.restore().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while node.get("/readyz").await.0 != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
