//! Embedding and CORS through the router: the embed page's framing policy,
//! the oEmbed answer (fields, escaping, errors), the watch page's share box
//! and discovery link, and CORS on `/media` (and nowhere else).

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::fixtures::{add_video, publish};
use common::TestNode;

const VERSION: &str = "v0123456789ab";
const HOSTILE: &str = "\"><script>alert(1)</script><img src=x onerror=alert(2)>'&";

/// A node with one published video (catalog rows and a segment file on
/// disk; no ffmpeg) titled `title`.
async fn node_with_video(extra: &[(&str, &str)], title: &str) -> (TestNode, String) {
    let node = TestNode::new(extra).await;
    let c = &node.state.catalog;
    let id = add_video(c, title).await;
    publish(c, &id, VERSION).await;
    let dir = node.state.config.storage_path().join(&id).join(VERSION);
    std::fs::create_dir_all(dir.join("720p")).unwrap();
    std::fs::write(dir.join("720p/seg_00001.m4s"), vec![7u8; 1000]).unwrap();
    std::fs::write(dir.join("poster.jpg"), b"jpeg").unwrap();
    (node, id)
}

async fn send(
    node: &TestNode,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (s, h, b) = node.call(req.body(Body::empty()).unwrap()).await;
    (s, h, String::from_utf8_lossy(&b).into_owned())
}

/// The page text with minijinja's attribute escapes undone (it writes `/`
/// as `&#x2f;`), as a browser reads attribute values.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/").replace("&amp;", "&")
}

fn csp(h: &HeaderMap) -> &str {
    h["content-security-policy"].to_str().unwrap()
}

#[tokio::test]
async fn the_embed_page_is_framable_as_configured_and_nothing_else_is() {
    let (node, id) = node_with_video(&[], "Framed").await;
    let (s, h, body) = send(&node, "GET", &format!("/embed/{id}?t=5"), &[]).await;
    let body = unescape(&body);
    assert_eq!(s, StatusCode::OK);
    assert!(csp(&h).contains("frame-ancestors *;"), "{}", csp(&h));
    assert!(!csp(&h).contains("frame-ancestors 'none'"));
    assert!(
        csp(&h).contains("script-src 'self';"),
        "the rest of the policy stays"
    );
    assert!(h.get("x-frame-options").is_none());
    assert!(body.contains(r#"id="player""#) && body.contains("/static/player.js"));
    assert!(body.contains(&format!("/media/{id}/{VERSION}/master.m3u8")));
    assert!(
        !body.contains("class=\"top\""),
        "no site header in an embed"
    );
    assert!(
        h.get("access-control-allow-origin").is_none(),
        "pages get no CORS"
    );
    // The watch page keeps refusing every frame.
    let (s, h, _) = send(&node, "GET", &format!("/watch/{id}"), &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(csp(&h).contains("frame-ancestors 'none'"));

    let sites = r#"["https://blog.example", "'self'"]"#;
    let (node, id) = node_with_video(&[("embed.frame_ancestors", sites)], "Framed").await;
    let (_, h, _) = send(&node, "GET", &format!("/embed/{id}"), &[]).await;
    assert!(
        csp(&h).contains("frame-ancestors https://blog.example 'self';"),
        "{}",
        csp(&h)
    );
}

#[tokio::test]
async fn unknown_and_unready_videos_get_a_404_page() {
    let (node, _) = node_with_video(&[], "Ready").await;
    let queued = add_video(&node.state.catalog, "Still queued").await;
    for path in [
        "/embed/0123456789abcdef".to_string(),
        "/embed/not-an-id".to_string(),
        format!("/embed/{queued}"),
    ] {
        let (s, h, body) = send(&node, "GET", &path, &[]).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(
            body.contains("This video is not available"),
            "{path}: {body}"
        );
        assert!(!body.contains("Still queued"), "{path}");
        assert!(csp(&h).contains("frame-ancestors *"), "{path}");
    }
}

#[tokio::test]
async fn oembed_describes_a_video_with_an_escaped_iframe() {
    let (node, id) = node_with_video(&[], HOSTILE).await;
    let watch = format!("https://lb.example:8443/watch/{id}?t=12");
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("url", &watch)
        .append_pair("maxwidth", "320")
        .finish();
    // Another site's name for the video is refused: the answer would
    // point frames there under our name.
    let (s, _, body) = send(
        &node,
        "GET",
        &format!("/oembed?{q}"),
        &[("host", "evil.example")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, h, body) = send(
        &node,
        "GET",
        &format!("/oembed?{q}"),
        &[("host", "lb.example:8443")],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(h["access-control-allow-origin"], "*");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["version"], "1.0");
    assert_eq!(j["type"], "video");
    assert_eq!(j["title"], HOSTILE, "JSON carries the title as it is");
    assert_eq!(j["provider_name"], "Reel");
    assert_eq!(j["provider_url"], "https://lb.example:8443/");
    // 1280x720 in a 320-wide bound.
    assert_eq!(
        (j["width"].as_u64(), j["height"].as_u64()),
        (Some(320), Some(180))
    );
    assert_eq!(
        j["thumbnail_url"],
        format!("https://lb.example:8443/media/{id}/{VERSION}/poster.jpg")
    );
    let html = j["html"].as_str().unwrap();
    assert!(
        html.starts_with(&format!(
            r#"<iframe src="https://lb.example:8443/embed/{id}?t=12" width="320" height="180" title=""#
        )),
        "{html}"
    );
    assert!(html.ends_with("></iframe>"), "{html}");
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert_eq!(html.matches('"').count() % 2, 0);
    // An embed URL is ours too; maxheight bounds the height.
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("url", &format!("http://127.0.0.1:1/embed/{id}"))
        .append_pair("maxheight", "90")
        .append_pair("format", "json")
        .finish();
    let (s, _, body) = send(
        &node,
        "GET",
        &format!("/oembed?{q}"),
        &[("host", "127.0.0.1:1")],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (j["width"].as_u64(), j["height"].as_u64()),
        (Some(160), Some(90))
    );
}

#[tokio::test]
async fn oembed_refuses_what_it_cannot_answer() {
    let (node, id) = node_with_video(&[], "Clip").await;
    let ask = |url: String, extra: &'static str| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("url", &url)
            .finish();
        format!("/oembed?{q}{extra}")
    };
    let cases = [
        (
            ask(format!("http://x/watch/{id}"), "&format=xml"),
            501,
            "format-unsupported",
        ),
        (
            ask("http://x/watch/0123456789abcdef".into(), ""),
            404,
            "not-found",
        ),
        (
            ask(format!("http://x/api/videos/{id}"), ""),
            400,
            "not-ours",
        ),
        (
            ask(format!("javascript:alert(1)//watch/{id}"), ""),
            400,
            "not-ours",
        ),
        (ask("http://x/".into(), ""), 400, "not-ours"),
        // An empty format is the default (JSON), not an unsupported one.
        (
            ask(
                "http://x/watch/0123456789abcdef".into(),
                "&format=&maxwidth=",
            ),
            404,
            "not-found",
        ),
        ("/oembed".to_string(), 400, "not-ours"),
        (
            ask(format!("http://x/watch/{id}"), "&maxwidth=-5"),
            400,
            "bad-size",
        ),
    ];
    for (uri, status, code) in cases {
        let (s, _, body) = send(&node, "GET", &uri, &[("host", "x")]).await;
        assert_eq!(s.as_u16(), status, "{uri}: {body}");
        let j: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(j["error"]["code"], code, "{uri}: {body}");
        assert!(j["error"]["message"].is_string(), "{uri}: {body}");
    }
}

#[tokio::test]
async fn the_watch_page_has_a_share_box_and_an_oembed_link() {
    let (node, id) = node_with_video(&[], "Shared & <b>bold</b>").await;
    let (s, _, body) = send(
        &node,
        "GET",
        &format!("/watch/{id}"),
        &[("host", "lb.example")],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!body.contains("<b>bold</b>"), "the title is escaped");
    let body = unescape(&body);
    let watch =
        url::form_urlencoded::byte_serialize(format!("http://lb.example/watch/{id}").as_bytes())
            .collect::<String>();
    let link = format!(
        r#"<link rel="alternate" type="application/json+oembed" href="http://lb.example/oembed?url={watch}&format=json""#
    );
    assert!(body.contains(&link), "{body}");
    assert!(body.contains(r#"id="share""#) && body.contains("/static/share.js"));
    for id in ["share-link", "share-time", "share-embed"] {
        assert!(
            body.contains(&format!(r#"<label for="{id}">"#)),
            "{id} unlabelled"
        );
    }
    assert!(body.contains(r#"data-width="640" data-height="360""#));
    assert!(!body.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn media_answers_cors_and_preflights_but_pages_and_the_api_do_not() {
    let (node, id) = node_with_video(&[], "Clip").await;
    let seg = format!("/media/{id}/{VERSION}/720p/seg_00001.m4s");
    let origin = [("origin", "http://other.example")];
    let (s, h, body) = send(&node, "GET", &seg, &origin).await;
    assert_eq!((s, body.len()), (StatusCode::OK, 1000));
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(
        h["access-control-expose-headers"],
        "Content-Length, Content-Range, Accept-Ranges"
    );
    assert!(h.get("vary").is_none(), "one answer for every origin");
    let (s, h, _) = send(&node, "GET", &seg, &[("range", "bytes=10-19"), origin[0]]).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["content-range"], "bytes 10-19/1000");
    let (s, h, _) = send(&node, "HEAD", &seg, &origin).await;
    assert_eq!(
        (s, &h["access-control-allow-origin"]),
        (StatusCode::OK, &"*".parse().unwrap())
    );
    // Errors and redirects too, so a player can tell what went wrong.
    let (s, h, _) = send(
        &node,
        "GET",
        &format!("/media/{id}/{VERSION}/720p/nope.m4s"),
        &origin,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(h["access-control-allow-origin"], "*");
    let (s, h, _) = send(&node, "GET", &format!("/media/{id}/master.m3u8"), &origin).await;
    assert_eq!(s, StatusCode::FOUND);
    assert_eq!(h["access-control-allow-origin"], "*");

    // The preflight of a Range request.
    let pre = [
        origin[0],
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "range"),
    ];
    let (s, h, body) = send(&node, "OPTIONS", &seg, &pre).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-allow-methods"], "GET, HEAD, OPTIONS");
    assert_eq!(h["access-control-allow-headers"], "Range");
    assert_eq!(h["access-control-max-age"], "600");

    // Pages and the API stay same-origin.
    for path in [
        "/".to_string(),
        format!("/watch/{id}"),
        "/api/videos".into(),
        format!("/api/videos/{id}"),
    ] {
        let (s, h, _) = send(&node, "GET", &path, &origin).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(h.get("access-control-allow-origin").is_none(), "{path}");
        let (_, h, _) = send(&node, "OPTIONS", &path, &pre).await;
        assert!(h.get("access-control-allow-origin").is_none(), "{path}");
    }
}

#[tokio::test]
async fn the_allowed_origin_comes_from_the_config() {
    let one = [
        ("cors.allow_origin", "https://blog.example"),
        ("cors.preflight_max_age_s", "60"),
    ];
    let (node, id) = node_with_video(&one, "Clip").await;
    let seg = format!("/media/{id}/{VERSION}/720p/seg_00001.m4s");
    let (_, h, _) = send(&node, "GET", &seg, &[("origin", "https://blog.example")]).await;
    assert_eq!(h["access-control-allow-origin"], "https://blog.example");
    let (_, h, _) = send(&node, "OPTIONS", &seg, &[]).await;
    assert_eq!(h["access-control-max-age"], "60");

    let (node, id) = node_with_video(&[("cors.allow_origin", "")], "Clip").await;
    let seg = format!("/media/{id}/{VERSION}/720p/seg_00001.m4s");
    let (s, h, _) = send(&node, "GET", &seg, &[("origin", "https://blog.example")]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("access-control-allow-origin").is_none());
    let (s, h, _) = send(&node, "OPTIONS", &seg, &[]).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(h.get("access-control-allow-methods").is_none());
}
