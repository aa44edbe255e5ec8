//! A database that goes away: readiness and requests answer 503 with
//! Retry-After while it is gone, and the node recovers by itself when it
//! is back. The database is cut with a TCP proxy between node and server,
//! so the real server keeps running for other tests.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::db::{Engine, TestDb};
use common::tcp_proxy::TcpProxy;
use common::TestNode;

async fn outage_and_recovery(engine: Engine) {
    let db = TestDb::new(engine).await;
    let proxy = TcpProxy::start(db.server_addr()).await;
    let url = db.url_via(proxy.addr);
    let node = TestNode::new(&[
        ("catalog.url", url.as_str()),
        ("catalog.acquire_timeout_s", "1"),
    ])
    .await;
    assert_eq!(node.get("/readyz").await.0, StatusCode::OK);
    assert_eq!(node.get("/api/videos").await.0, StatusCode::OK);

    proxy.cut();
    let started = Instant::now();
    let (s, body) = node.get("/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("catalog"), "{body}");
    let (s, h, b) = node
        .call(Request::get("/api/videos").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.contains_key("retry-after"), "{h:?}");
    let err: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(err["error"]["code"], "catalog-unavailable", "{err}");
    // Bounded by the acquire timeout, not hanging.
    assert!(started.elapsed() < Duration::from_secs(20));
    // Pages too (with the same status).
    assert_eq!(node.get("/").await.0, StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if node.get("/readyz").await.0 == StatusCode::OK
            && node.get("/api/videos").await.0 == StatusCode::OK
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn postgres_outage_gives_503_and_recovers() {
    outage_and_recovery(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_outage_gives_503_and_recovers() {
    outage_and_recovery(Engine::Mariadb).await;
}
