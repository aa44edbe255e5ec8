//! `POST /api/qoe` and `GET /api/videos/{id}/qoe` through the node's router:
//! CMCD event reports become a per-video summary and metrics; bad bodies,
//! floods and unknown videos get clear errors and change nothing.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::fixtures::{add_owned_video, add_video};
use common::TestNode;

/// A video owned by the node's test uploader.
async fn owned_video(node: &TestNode, title: &str) -> String {
    let me = node
        .state
        .catalog
        .accounts
        .user("tester")
        .await
        .unwrap()
        .unwrap();
    add_owned_video(&node.state.catalog, title, Some(me.id)).await
}

const SID: &str = "5f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0";

fn report(video: &str, sid: &str, rest: &str) -> String {
    format!("br=(1800),cid=\"{video}\",sid=\"{sid}\",v=2,{rest}")
}

async fn post(
    node: &TestNode,
    body: impl Into<Body>,
    content_type: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::post("/api/qoe")
        .header("content-type", content_type)
        .body(body.into())
        .unwrap();
    let (s, _, b) = node.call(req).await;
    (
        s,
        serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
    )
}

async fn summary(
    node: &TestNode,
    id: &str,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get(format!("/api/videos/{id}/qoe"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let (s, _, b) = node.call(req.body(Body::empty()).unwrap()).await;
    (
        s,
        serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
    )
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[tokio::test]
async fn reports_become_a_summary_and_metrics() {
    let node = TestNode::new(&[]).await;
    let id = owned_video(&node, "watched").await;
    // Two viewers: one starts in 400 ms, plays 4 s with one 0.5 s stall; the
    // other starts in 200 ms, plays 4 s, seeks (a wait that is not a stall)
    // and leaves. (A node credits no more time than passes on its own
    // clock, plus 5 s, so each request stays within that.)
    let a = [
        "e=ps,sn=0,sta=s,ts=10000",
        "e=ps,sn=1,sta=p,ts=10400",
        "e=ps,sn=2,sta=r,ts=12400",
        "e=ps,sn=3,sta=p,ts=12900",
        "e=t,sn=4,sta=p,ts=14900",
    ]
    .map(|l| report(&id, SID, l))
    .join("\n");
    assert_eq!(
        post(&node, a, "application/cmcd").await.0,
        StatusCode::NO_CONTENT
    );
    let other = "0f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0";
    let leave = "e=ce,sn=5,sta=p,ts=55300,cen=\"leave\"";
    for (i, l) in [
        "e=ps,sn=0,sta=s,ts=50000",
        "e=ps,sn=1,sta=p,ts=50200",
        "e=ps,sn=2,sta=k,ts=52200",
        "e=ps,sn=3,sta=r,ts=52300",
        "e=ps,sn=4,sta=p,ts=53300",
        leave,
        // After leaving (a page restored from the browser's cache), the gap
        // is not viewing.
        "e=t,sn=6,sta=p,ts=56300",
    ]
    .iter()
    .enumerate()
    {
        // One report per request, as the player sends them.
        let (s, b) = post(&node, report(&id, other, l), "application/cmcd").await;
        assert_eq!(s, StatusCode::NO_CONTENT, "report {i}: {b}");
    }

    let (s, _) = summary(&node, &id, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the summary is for uploaders");
    // Another uploader's video: its numbers are not theirs to see.
    let theirs = add_video(&node.state.catalog, "not mine").await;
    let (s, j) = summary(&node, &theirs, Some(&node.token)).await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (s, j) = summary(&node, &id, Some(&node.token)).await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["video_id"], id.as_str());
    assert_eq!(
        (j["sessions"].as_u64(), j["plays"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(j["failures"], 0);
    assert_eq!(j["startup_s"]["p50"], 0.2);
    assert_eq!(j["startup_s"]["p95"], 0.4);
    assert!((j["startup_s"]["mean"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert_eq!(j["played_s"], 8.0);
    assert_eq!(
        (j["rebuffers"].as_i64(), j["rebuffer_s"].as_f64()),
        (Some(1), Some(0.5))
    );
    assert_eq!(j["rebuffers_per_minute"], 7.5);
    assert_eq!(j["average_bitrate_kbps"], 1800.0);

    let (_, m) = node.get("/metrics").await;
    assert_eq!(metric(&m, "reel_qoe_sessions_total"), 2.0);
    assert_eq!(metric(&m, "reel_qoe_startup_seconds_count"), 2.0);
    assert!((metric(&m, "reel_qoe_startup_seconds_sum") - 0.6).abs() < 1e-9);
    assert_eq!(metric(&m, "reel_qoe_rebuffers_total"), 1.0);
    assert_eq!(metric(&m, "reel_qoe_rebuffer_seconds_total"), 0.5);
    assert_eq!(metric(&m, "reel_qoe_played_seconds_total"), 8.0);
    assert_eq!(metric(&m, "reel_qoe_played_bits_total"), 8.0 * 1_800_000.0);
    assert_eq!(
        metric(&m, "reel_qoe_reports_total{outcome=\"applied\"}"),
        12.0
    );

    // A retried send counts nowhere twice.
    assert_eq!(
        post(&node, report(&id, other, leave), "application/cmcd")
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, m) = node.get("/metrics").await;
    assert_eq!(metric(&m, "reel_qoe_played_seconds_total"), 8.0);
    assert_eq!(metric(&m, "reel_qoe_reports_total{outcome=\"stale\"}"), 1.0);
    assert_eq!(
        summary(&node, &id, Some(&node.token)).await.1["played_s"],
        8.0
    );

    let (s, j) = summary(&node, "ffffffffffffffff", Some(&node.token)).await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("video-not-found"))
    );
}

#[tokio::test]
async fn bad_reports_are_refused_whole_with_clear_errors() {
    let node = TestNode::new(&[]).await;
    let id = add_video(&node.state.catalog, "target").await;
    let good = report(&id, SID, "e=ps,sn=0,sta=s,ts=1000");

    // `text/plain` would let any site make its visitors report without a
    // preflight.
    for ct in ["application/json", "text/plain"] {
        let (s, j) = post(&node, good.clone(), ct).await;
        assert_eq!(
            (s, j["error"]["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported-media-type")
            ),
            "{ct}"
        );
    }
    let req = Request::post("/api/qoe")
        .header("content-type", "application/cmcd")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(good.clone()))
        .unwrap();
    let (s, _, b) = node.call(req).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));

    let half_bad = format!("{good}\n{}", report(&id, SID, "e=ps,sn=1,sta=p"));
    let (s, j) = post(&node, half_bad, "application/cmcd").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(j["error"]["code"], "bad-cmcd");
    assert_eq!(j["error"]["message"], "line 2: `ts` is missing");
    assert!(
        node.state
            .catalog
            .qoe
            .qoe_session(SID)
            .await
            .unwrap()
            .is_none(),
        "the good line of a refused body is not kept"
    );

    let two = format!(
        "{good}\n{}",
        report(&id, "another-session", "e=t,sn=0,ts=5")
    );
    let (s, j) = post(&node, two, "application/cmcd").await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("one-session-per-request"))
    );

    let (s, j) = post(&node, "sid=\"a\",cid=(", "application/cmcd").await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad-cmcd"))
    );

    let many = (0..=20)
        .map(|n| report(&id, SID, &format!("e=t,sn={n},ts={}", 1000 + n)))
        .collect::<Vec<_>>()
        .join("\n");
    let (s, j) = post(&node, many, "application/cmcd").await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too-many-reports"))
    );

    // An unknown (or deleted) video: 410 tells the player to stop.
    let (s, j) = post(
        &node,
        report("ffffffffffffffff", SID, "e=t,sn=0,ts=5"),
        "application/cmcd",
    )
    .await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::GONE, Some("video-gone"))
    );

    let huge = format!("{good}\n{}", " ".repeat(70 * 1024));
    let (s, j) = post(&node, huge, "application/cmcd").await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{j}");

    let (s, _) = post(&node, vec![0xff_u8, 0xfe], "application/cmcd").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    assert!(node
        .state
        .catalog
        .qoe
        .qoe_sessions_of(&id, 10)
        .await
        .unwrap()
        .is_empty());
    // The same report, sent properly, is taken.
    assert_eq!(
        post(&node, good, "application/cmcd; charset=utf-8").await.0,
        StatusCode::NO_CONTENT
    );
    let (_, m) = node.get("/metrics").await;
    assert_eq!(
        metric(&m, "reel_qoe_refused_total{reason=\"media-type\"}"),
        2.0
    );
    assert_eq!(
        metric(&m, "reel_qoe_refused_total{reason=\"cross-site\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "reel_qoe_refused_total{reason=\"unknown-video\"}"),
        1.0
    );
}

#[tokio::test]
async fn made_up_reports_gain_no_more_time_than_passes() {
    let node = TestNode::new(&[]).await;
    let id = owned_video(&node, "inflated").await;
    // One request claiming ten minutes of playing.
    let body = [
        "e=ps,sn=0,sta=s,ts=1000",
        "e=ps,sn=1,sta=p,ts=1100",
        "e=t,sn=2,sta=p,ts=61100",
        "e=t,sn=3,sta=p,ts=121100",
        "e=t,sn=4,sta=p,ts=601100",
    ]
    .map(|l| report(&id, SID, l))
    .join("\n");
    assert_eq!(
        post(&node, body, "application/cmcd").await.0,
        StatusCode::NO_CONTENT
    );
    let j = summary(&node, &id, Some(&node.token)).await.1;
    let played = j["played_s"].as_f64().unwrap();
    assert!((4.9..=6.0).contains(&played), "credited {played} s");
}

#[tokio::test]
async fn one_address_opens_a_bounded_number_of_sessions() {
    let node = TestNode::new(&[("qoe.sessions_per_ip_per_min", "5")]).await;
    let id = add_video(&node.state.catalog, "popular").await;
    for n in 0..5 {
        let b = report(&id, &format!("viewer-{n}"), "e=t,sn=0,ts=5");
        assert_eq!(
            post(&node, b, "application/cmcd").await.0,
            StatusCode::NO_CONTENT,
            "session {n}"
        );
    }
    let (s, j) = post(
        &node,
        report(&id, "one-too-many", "e=t,sn=0,ts=5"),
        "application/cmcd",
    )
    .await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate-limited"))
    );
    assert!(node
        .state
        .catalog
        .qoe
        .qoe_session("one-too-many")
        .await
        .unwrap()
        .is_none());
    // Sessions already open go on reporting.
    let b = report(&id, "viewer-0", "e=ps,sn=1,sta=s,ts=6");
    assert_eq!(
        post(&node, b, "application/cmcd").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        node.state
            .catalog
            .qoe
            .qoe_session("viewer-0")
            .await
            .unwrap()
            .unwrap()
            .last_sn,
        1
    );
}

#[tokio::test]
async fn a_flood_from_one_address_is_limited() {
    let node = TestNode::new(&[("qoe.reports_per_ip_per_min", "3")]).await;
    let id = add_video(&node.state.catalog, "flooded").await;
    for sn in 0..3 {
        let b = report(&id, SID, &format!("e=t,sn={sn},ts={}", 1000 + sn));
        assert_eq!(
            post(&node, b, "application/cmcd").await.0,
            StatusCode::NO_CONTENT
        );
    }
    let req = Request::post("/api/qoe")
        .header("content-type", "application/cmcd")
        .body(Body::from(report(&id, SID, "e=t,sn=9,ts=9000")))
        .unwrap();
    let (s, h, b) = node.call(req).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(h.get("retry-after").is_some());
    let sess = node
        .state
        .catalog
        .qoe
        .qoe_session(SID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sess.last_sn, 0,
        "later reports of a paused player are not written, the refused one not folded"
    );
}

#[tokio::test]
async fn a_node_with_reports_off_says_gone_and_the_page_sends_none() {
    let off = TestNode::new(&[("qoe.enabled", "false")]).await;
    let (s, j) = post(
        &off,
        report("0123456789abcdef", SID, "e=t,sn=0,ts=5"),
        "application/cmcd",
    )
    .await;
    assert_eq!(
        (s, j["error"]["code"].as_str()),
        (StatusCode::GONE, Some("qoe-off"))
    );

    let on = TestNode::new(&[]).await;
    let v = on.publish_clip(320, 240, 2, false).await;
    let id = v["id"].as_str().unwrap();
    let (_, page) = on.get(&format!("/watch/{id}")).await;
    assert!(page.contains("data-qoe=\"/api/qoe\""), "{page}");
    let v = off.publish_clip(320, 240, 2, false).await;
    let (_, page) = off
        .get(&format!("/watch/{}", v["id"].as_str().unwrap()))
        .await;
    assert!(page.contains("id=\"player\"") && !page.contains("data-qoe"));
}
