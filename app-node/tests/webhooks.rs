//! Webhooks end to end: a real receiver on loopback, events raised by the
//! worker and the delete API, signatures checked by the test itself, retries
//! with backoff, timeouts, the SSRF guard and the admin-only deliveries list.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use common::{make_clip, source_server, TestNode};
use hmac::{Hmac, Mac};
use reel_node::auth::{digest, hash_password, new_secret};
use reel_node::catalog::{DeliveryState, Role, WebhookEvent};
use reel_node::webhooks::Sender;
use sha2::Sha256;

const SECRET: &str = "test-webhook-secret-0123456789";

/// How the receiver answers one request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Sleeps this long before answering 204 (past the sender's timeout).
    Hang(Duration),
}

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

#[derive(Default)]
struct Receiver {
    /// Answers in order; the last one repeats.
    script: Vec<Answer>,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(
    axum::extract::State(r): axum::extract::State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let answer = {
        let r = r.lock().unwrap();
        let i = r.seen.len().min(r.script.len() - 1);
        r.script[i]
    };
    let code = match answer {
        Answer::Status(s) => s,
        Answer::Hang(_) => 204,
    };
    r.lock().unwrap().seen.push(Seen {
        at: Instant::now(),
        headers,
        body,
        answered: code,
    });
    if let Answer::Hang(d) = answer {
        tokio::time::sleep(d).await;
    }
    StatusCode::from_u16(code).unwrap()
}

/// Starts a receiver answering `script`; its URL and its record.
async fn receiver(script: Vec<Answer>) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Receiver {
        script,
        seen: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), shared)
}

/// A node whose webhooks go to `url`, retrying after 1 s, then 2 s, ….
async fn node_for(url: &str, extra: &[(&str, &str)]) -> TestNode {
    let mut pairs = vec![
        ("webhooks.urls", url),
        ("webhooks.retry_backoff_s", "1"),
        ("webhooks.timeout_s", "2"),
        ("webhooks.connect_timeout_s", "1"),
        // The receivers listen on loopback.
        ("webhooks.allow_private_networks", "true"),
    ];
    pairs.extend_from_slice(extra);
    TestNode::new(&pairs).await
}

fn sender(node: &TestNode) -> Sender {
    let cfg = &node.state.config;
    Sender::new(
        &cfg.webhooks,
        cfg.webhooks.allow_private_networks,
        SECRET.as_bytes(),
    )
    .unwrap()
}

/// Runs delivery rounds, as the node's background task does, until `done`.
async fn deliver_until(node: &TestNode, limit: Duration, mut done: impl FnMut() -> bool) {
    let s = sender(node);
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not delivered within {limit:?}");
        s.deliver_due(&node.state.catalog).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks a request's signature the way a receiver would, with its own
/// HMAC over `"{timestamp}.{body}"`.
fn assert_signed(s: &Seen) {
    let ts = s.headers["reel-webhook-timestamp"].to_str().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now - ts.parse::<i64>().unwrap()).abs() < 60,
        "stale timestamp {ts}"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&s.body);
    let want = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(s.headers["reel-webhook-signature"], want.as_str());
    assert_eq!(s.headers["content-type"], "application/json");
}

fn json(s: &Seen) -> serde_json::Value {
    serde_json::from_slice(&s.body).unwrap()
}

/// Adds an admin with a token.
async fn admin_token(node: &TestNode) -> String {
    let hash = hash_password("admin-password").unwrap();
    let accounts = &node.state.catalog.accounts;
    accounts.add_user("boss", &hash, Role::Admin).await.unwrap();
    let token = new_secret();
    accounts.add_token("boss", &digest(&token)).await.unwrap();
    token
}

async fn get_deliveries(node: &TestNode, token: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get("/api/webhooks/deliveries");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let (s, _, b) = node.call(req.body(Body::empty()).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or_default())
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_one_accepted_signed_delivery() {
    let (url, rx) = receiver(vec![
        Answer::Status(500),
        Answer::Status(500),
        Answer::Status(204),
    ])
    .await;
    let node = node_for(&url, &[]).await;
    let v = node.publish_clip(160, 90, 1, false).await;
    let id = v["id"].as_str().unwrap();
    let three = || rx.lock().unwrap().seen.len() >= 3;
    deliver_until(&node, Duration::from_secs(30), three).await;
    // More rounds send nothing more: the accepted delivery is done.
    for _ in 0..5 {
        sender(&node)
            .deliver_due(&node.state.catalog)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = rx.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen.iter().map(|s| s.answered).collect::<Vec<_>>(),
        vec![500, 500, 204]
    );
    let event_id = seen[0].headers["reel-webhook-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(event_id.len(), 32);
    for s in &seen {
        assert_signed(s);
        assert_eq!(
            s.headers["reel-webhook-id"],
            event_id.as_str(),
            "same event id"
        );
        assert_eq!(s.body, seen[0].body, "same body on every attempt");
        let j = json(s);
        assert_eq!(j["id"], event_id.as_str());
        assert_eq!(j["type"], "video.ready");
        assert_eq!(j["video"]["id"], id);
        assert_eq!(j["video"]["status"], "ready");
        assert!(j["created_at"].as_str().unwrap().ends_with('Z'));
    }
    // Backed off: 1 s after the first failure, 2 s after the second.
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(900),
        "{seen:?}"
    );
    assert!(
        seen[2].at - seen[1].at >= Duration::from_millis(1900),
        "{seen:?}"
    );
    let accepted = seen.iter().filter(|s| s.answered < 300).count();
    assert_eq!(accepted, 1);

    // The deliveries list: admins only.
    assert_eq!(
        get_deliveries(&node, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, body) = get_deliveries(&node, Some(&node.token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let admin = admin_token(&node).await;
    let (s, body) = get_deliveries(&node, Some(&admin)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let list = body["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    let d = &list[0];
    assert_eq!(d["event_id"], event_id.as_str());
    assert_eq!(d["type"], "video.ready");
    assert_eq!(d["video_id"], id);
    assert_eq!(d["state"], "delivered");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status"], 204);
    assert!(d["last_error"].is_null());
}

#[tokio::test]
async fn failed_and_deleted_videos_are_announced() {
    let (url, rx) = receiver(vec![Answer::Status(200)]).await;
    // A frame-rate limit under the clip's fails it at once, for good.
    let node = node_for(&url, &[("media.max_fps", "25")]).await;
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("c.mp4"), 160, 90, 1, false, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let body = format!(r#"{{"title":"doomed","source_url":"http://{addr}/c.mp4"}}"#);
    let (s, v) = node.post_json("/api/videos", &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let v = node
        .process_until_settled(&id, Duration::from_secs(60))
        .await;
    assert_eq!(v["status"], "failed", "{v}");
    deliver_until(&node, Duration::from_secs(20), || {
        !rx.lock().unwrap().seen.is_empty()
    })
    .await;

    let before = node.state.catalog.videos.get(&id).await.unwrap().unwrap();
    let req = Request::delete(format!("/api/videos/{id}"))
        .header("authorization", format!("Bearer {}", node.token))
        .body(Body::empty())
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::NO_CONTENT);
    let queued = || async {
        node.state
            .catalog
            .webhooks
            .deliveries(10)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(queued().await, 2, "the delete queued its event");
    // Queued again (a retried delete): nothing new.
    queue(&node, reel_node::webhooks::EventType::Deleted, &before).await;
    assert_eq!(queued().await, 2);
    deliver_until(&node, Duration::from_secs(20), || {
        rx.lock().unwrap().seen.len() >= 2
    })
    .await;

    let seen = rx.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (failed, deleted) = (json(&seen[0]), json(&seen[1]));
    seen.iter().for_each(assert_signed);
    assert_eq!(failed["type"], "video.failed");
    assert_eq!(failed["video"]["id"], id.as_str());
    assert_eq!(failed["video"]["status"], "failed");
    assert!(failed["video"]["error"]
        .as_str()
        .unwrap()
        .contains("media.max_fps"));
    assert_eq!(deleted["type"], "video.deleted");
    assert_eq!(deleted["video"]["id"], id.as_str());
    assert_eq!(deleted["video"]["title"], "doomed");
    assert_eq!(deleted["video"]["status"], "deleted");
    assert_ne!(failed["id"], deleted["id"], "each event has its own id");
}

#[tokio::test]
async fn a_receiver_that_never_answers_in_time_is_retried_then_failed() {
    let (url, rx) = receiver(vec![Answer::Hang(Duration::from_secs(30))]).await;
    let node = node_for(
        &url,
        &[
            ("webhooks.timeout_s", "1"),
            ("webhooks.retry_backoff_s", "0"),
            ("webhooks.max_attempts", "3"),
        ],
    )
    .await;
    let v = add_ready_video(&node).await;
    queue(&node, reel_node::webhooks::EventType::Ready, &v).await;
    let hooks = node.state.catalog.webhooks.clone();
    let start = Instant::now();
    let settled = || async {
        let d = hooks.deliveries(1).await.unwrap().remove(0);
        (d.state != DeliveryState::Pending).then_some(d)
    };
    let s = sender(&node);
    let d = loop {
        if let Some(d) = settled().await {
            break d;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never settled");
        s.deliver_due(&node.state.catalog).await.unwrap();
    };
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 3);
    assert_eq!(d.last_status, None);
    assert!(d.last_error.unwrap().starts_with("webhook-timeout"));
    assert_eq!(rx.lock().unwrap().seen.len(), 3);
    // Three attempts of about a second each: each was cut at the timeout.
    assert!(start.elapsed() >= Duration::from_millis(2900));
    assert!(start.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn endpoints_on_private_addresses_are_refused_unless_allowed() {
    let (url, rx) = receiver(vec![Answer::Status(204)]).await;
    // At load: a loopback endpoint with private networks not allowed.
    let dir = tempfile::tempdir().unwrap();
    let pairs = reel_node::config::Overrides {
        pairs: vec![
            ("data_dir".into(), dir.path().display().to_string()),
            ("webhooks.urls".into(), url.clone()),
        ],
    };
    let err = reel_node::config::load(None, Vec::new(), &pairs).unwrap_err();
    assert!(err.to_string().contains("webhooks.urls"), "{err}");
    // Imports from private networks being allowed does not let events go
    // there.
    let mut with_imports = pairs.pairs.clone();
    with_imports.push(("ingest.allow_private_networks".into(), "true".into()));
    let pairs = reel_node::config::Overrides {
        pairs: with_imports,
    };
    let err = reel_node::config::load(None, Vec::new(), &pairs).unwrap_err();
    assert!(
        err.to_string().contains("webhooks.allow_private_networks"),
        "{err}"
    );

    // At send: an outbox row for a loopback address (literal, or a name
    // that resolves to one) and a sender that does not allow private
    // networks. Nothing reaches the receiver, and the refusal is final.
    let node = node_for(&url, &[]).await;
    let port = url.split(':').nth(2).unwrap().trim_end_matches("/hook");
    let by_name = format!("http://localhost:{port}/hook");
    let ev = WebhookEvent {
        event_id: "ab".repeat(16),
        event_type: "video.ready".into(),
        video_id: "0123456789abcdef".into(),
        payload: "{}".into(),
    };
    let hooks = &node.state.catalog.webhooks;
    hooks
        .enqueue_webhook(&ev, &[url.clone(), by_name])
        .await
        .unwrap();
    let strict = Sender::new(&node.state.config.webhooks, false, SECRET.as_bytes()).unwrap();
    assert_eq!(strict.deliver_due(&node.state.catalog).await.unwrap(), 2);
    for d in hooks.deliveries(10).await.unwrap() {
        assert_eq!(d.state, DeliveryState::Failed, "{d:?}");
        assert_eq!(d.attempts, 1);
        assert!(d.last_error.unwrap().starts_with("webhook-forbidden"));
    }
    assert!(rx.lock().unwrap().seen.is_empty());
}

#[tokio::test]
async fn a_failed_attempt_keeps_the_endpoint_url_out_of_its_error() {
    // A port nobody listens on, and a URL with a secret in its query.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook?key=do-not-log-me");
    let node = node_for(&url, &[]).await;
    let ev = WebhookEvent {
        event_id: "cd".repeat(16),
        event_type: "video.ready".into(),
        video_id: "0123456789abcdef".into(),
        payload: "{}".into(),
    };
    let hooks = &node.state.catalog.webhooks;
    hooks.enqueue_webhook(&ev, &[url]).await.unwrap();
    assert_eq!(
        sender(&node)
            .deliver_due(&node.state.catalog)
            .await
            .unwrap(),
        1
    );
    let d = hooks.deliveries(1).await.unwrap().remove(0);
    let why = d.last_error.unwrap();
    assert!(why.starts_with("webhook-network"), "{why}");
    assert!(!why.contains("do-not-log-me"), "{why}");
    // What failed is still said.
    assert!(why.to_lowercase().contains("connect"), "{why}");
}

/// Puts an event about `v` into the outbox for every endpoint.
async fn queue(
    node: &TestNode,
    kind: reel_node::webhooks::EventType,
    v: &reel_node::catalog::Video,
) {
    let a = reel_node::webhooks::announcement(&node.state, kind, v).unwrap();
    let hooks = &node.state.catalog.webhooks;
    hooks.enqueue_webhook(&a.event, &a.urls).await.unwrap();
}

/// A ready video straight in the catalog (no transcode), read back.
async fn add_ready_video(node: &TestNode) -> reel_node::catalog::Video {
    let c = &node.state.catalog;
    let id = common::fixtures::add_video(c, "quick").await;
    common::fixtures::publish(c, &id, &reel_node::catalog::new_version()).await;
    c.videos.get(&id).await.unwrap().unwrap()
}

#[tokio::test]
async fn the_background_task_signs_with_the_secret_from_the_environment() {
    let (url, rx) = receiver(vec![Answer::Status(202)]).await;
    let node = node_for(&url, &[("webhooks.poll_ms", "50")]).await;
    // Only this test reads the variable (the others build their sender).
    std::env::set_var(reel_node::webhooks::SECRET_ENV, SECRET);
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(reel_node::webhooks::run_sender(
        node.state.clone(),
        stop.clone(),
    ));
    let v = add_ready_video(&node).await;
    queue(&node, reel_node::webhooks::EventType::Ready, &v).await;
    let start = Instant::now();
    while rx.lock().unwrap().seen.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "nothing sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops on shutdown")
        .unwrap();
    let seen = rx.lock().unwrap().seen.clone();
    assert_signed(&seen[0]);
    assert_eq!(json(&seen[0])["video"]["id"], v.id.as_str());
}

#[tokio::test]
async fn a_delete_finished_by_the_sweeper_is_announced_once() {
    let (url, rx) = receiver(vec![Answer::Status(204)]).await;
    let node = node_for(&url, &[("worker.lease_s", "2")]).await;
    let v = add_ready_video(&node).await;
    // The node that began the delete died right after its tombstone, with
    // the event queued in the same step.
    let event =
        reel_node::webhooks::announcement(&node.state, reel_node::webhooks::EventType::Deleted, &v);
    let videos = &node.state.catalog.videos;
    videos.begin_delete(&v.id, event.as_ref()).await.unwrap();
    // A retried delete queues nothing new.
    videos.begin_delete(&v.id, event.as_ref()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut sweeper = reel_node::housekeeping::Sweeper::default();
    let r = reel_node::housekeeping::sweep_once(&node.state, &mut sweeper)
        .await
        .unwrap();
    assert_eq!(r.deletes_finished, 1);
    deliver_until(&node, Duration::from_secs(20), || {
        !rx.lock().unwrap().seen.is_empty()
    })
    .await;
    let seen = rx.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 1);
    assert_signed(&seen[0]);
    let j = json(&seen[0]);
    assert_eq!(j["type"], "video.deleted");
    assert_eq!(j["video"]["id"], v.id.as_str());
}
