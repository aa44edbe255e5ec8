//! Draining a real `reel-node serve` on SIGTERM: readiness turns 503 while
//! the node keeps serving for the grace period, then the listener closes,
//! then in-flight requests finish (up to the deadline) before exit.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::procs::{start_with, token, Node};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(node: &Node) -> SocketAddr {
    node.base.trim_start_matches("http://").parse().unwrap()
}

fn term(node: &Node) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
}

/// Waits for the process to exit, up to `limit`.
fn exit_code(node: &mut Node, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(st) = node.child.try_wait().unwrap() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Starts a PATCH whose body is held back; returns the stream to finish it.
async fn held_patch(at: SocketAddr, token: &str, id: &str, body: &str) -> TcpStream {
    let mut s = TcpStream::connect(at).await.unwrap();
    let head = format!(
        "PATCH /api/videos/{id} HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body.as_bytes()[..5]).await.unwrap();
    s
}

async fn an_id(base: &str, token: &str) -> String {
    common::procs::create(
        &reqwest::Client::new(),
        base,
        token,
        "drain",
        "http://127.0.0.1:9/none.mp4",
    )
    .await
}

#[tokio::test]
async fn sigterm_drains_readiness_first_then_the_listener_then_in_flight_requests() {
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path());
    let mut node = start_with(
        data.path(),
        "drain",
        &[
            ("REEL_HTTP__SHUTDOWN_GRACE_S", "3"),
            ("REEL_HTTP__SHUTDOWN_DEADLINE_S", "20"),
            ("REEL_HTTP__BODY_TIMEOUT_S", "60"),
            ("REEL_WORKER__ENABLED", "false"),
        ],
        &[],
    );
    let at = addr(&node);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let id = an_id(&node.base, &token).await;
    let body = r#"{"title":"renamed while draining"}"#;
    let mut in_flight = held_patch(at, &token, &id, body).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    term(&node);
    // During the grace period new requests are still served, and readiness
    // says 503 so the balancer stops sending viewers here.
    let mut saw_ready_503 = false;
    let mut saw_healthz_200 = false;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !(saw_ready_503 && saw_healthz_200) {
        if let Ok(r) = http.get(format!("{}/readyz", node.base)).send().await {
            saw_ready_503 |= r.status() == 503;
        }
        if let Ok(r) = http.get(format!("{}/healthz", node.base)).send().await {
            saw_healthz_200 |= r.status() == 200;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_ready_503, "readiness never turned 503 after SIGTERM");
    assert!(
        saw_healthz_200,
        "the node stopped serving during its grace period"
    );
    // After the grace the listener is closed: new connections are refused.
    let refused_by = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(at).await.is_err() {
            break;
        }
        assert!(Instant::now() < refused_by, "the listener never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node exited with a request in flight"
    );
    // The request that was in flight when the signal came is answered.
    in_flight.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(10), in_flight.read_to_string(&mut resp))
        .await
        .expect("in-flight request answered")
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("renamed while draining"), "{resp}");
    assert_eq!(exit_code(&mut node, Duration::from_secs(20)), Some(0));
}

#[tokio::test]
async fn a_request_that_never_finishes_does_not_hold_shutdown_past_the_deadline() {
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path());
    let mut node = start_with(
        data.path(),
        "deadline",
        &[
            ("REEL_HTTP__SHUTDOWN_GRACE_S", "0"),
            ("REEL_HTTP__SHUTDOWN_DEADLINE_S", "2"),
            ("REEL_HTTP__BODY_TIMEOUT_S", "600"),
            ("REEL_INGEST__READ_TIMEOUT_S", "600"),
            ("REEL_WORKER__ENABLED", "false"),
        ],
        &[],
    );
    let id = an_id(&node.base, &token).await;
    let _stuck = held_patch(addr(&node), &token, &id, r#"{"title":"never sent"}"#).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    term(&node);
    // Generous bound: deadline 2 s, the held body would take 600 s.
    assert_eq!(exit_code(&mut node, Duration::from_secs(30)), Some(0));
}
