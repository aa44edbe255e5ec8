//! Slow and hostile clients against a node served by its own accept loop
//! over real loopback sockets: trickled bodies, slowloris headers, floods of
//! sign-ins and connection floods must never starve a viewer.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{serve, TestNode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Imports and processes a short clip; returns the URLs of its segments.
async fn published_segments(node: &TestNode) -> Vec<String> {
    let v = node.publish_clip(320, 240, 6, true).await;
    let master_url = final_url(node, v["hls_url"].as_str().unwrap()).await;
    let (s, master) = node.get(&master_url).await;
    assert_eq!(s, 200);
    let rendition = master
        .lines()
        .find(|l| !l.starts_with('#') && l.ends_with(".m3u8"))
        .unwrap()
        .to_string();
    let base = |url: &str| url[..url.rfind('/').unwrap() + 1].to_string();
    let rendition_url = format!("{}{rendition}", base(&master_url));
    let (s, playlist) = node.get(&rendition_url).await;
    assert_eq!(s, 200, "{rendition_url}");
    let segments: Vec<String> = playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("{}{l}", base(&rendition_url)))
        .collect();
    assert!(!segments.is_empty());
    segments
}

/// Where the node's own redirects (unversioned media paths) lead.
async fn final_url(node: &TestNode, url: &str) -> String {
    let (_, headers, _) = node
        .call(
            axum::http::Request::get(url)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    headers
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or(url)
        .to_string()
}

/// One raw HTTP/1.1 exchange; returns the whole response text.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens `n` connections that each get one answer and stay open.
async fn kept_alive(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        out.push(s);
    }
    out
}

/// Opens `n` sign-ins that announce `len` body bytes and send only one.
async fn started_sign_ins(addr: SocketAddr, n: usize, len: usize) -> Vec<TcpStream> {
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: node\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\nn"
    );
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        out.push(s);
    }
    out
}

/// A sign-in body whose double-submit CSRF token matches its cookie.
fn login_request(name: &str, password: &str, extra_headers: &str) -> Vec<u8> {
    let body = format!("name={name}&password={password}&csrf=tok");
    format!(
        "POST /login HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Cookie: reel_login_csrf=tok\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trickled_bodies_slow_headers_and_a_login_flood_never_starve_a_viewer() {
    // A small handler pool: were trickling requests counted against it, 600
    // of them would shed every segment request with 503.
    let node = TestNode::new(&[
        ("http.max_concurrency", "64"),
        ("http.body_timeout_s", "60"),
        ("http.header_read_timeout_s", "60"),
    ])
    .await;
    let segments = published_segments(&node).await;
    let addr = serve(&node).await;

    // 600 sign-ins that announce 1,000 bytes and send one per second.
    let mut trickles = started_sign_ins(addr, 600, 1000).await;
    // 200 slowloris connections that never finish their headers.
    let mut loris = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: node\r\n")
            .await
            .unwrap();
        loris.push(s);
    }
    let keep_trickling = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for s in trickles.iter_mut() {
                let _ = s.write_all(b"x").await;
            }
            for s in loris.iter_mut() {
                let _ = s.write_all(b"X-Slow: 1\r\n").await;
            }
        }
    });
    // A flood of complete sign-ins with wrong passwords.
    let flood = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for i in 0..300 {
            tasks.push(tokio::spawn(async move {
                status_of(&raw(addr, &login_request(&format!("user{i}"), "wrong-pass", "")).await)
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses
    });

    // A paced viewer: every segment, in order, again and again.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut served = 0;
    for i in 0..24 {
        let url = format!("http://{addr}{}", segments[i % segments.len()]);
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "segment {i} ({url}) under attack");
        assert!(!r.bytes().await.unwrap().is_empty());
        served += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(served, 24);

    let statuses = flood.await.unwrap();
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429 | 503)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "the flood was never limited");
    keep_trickling.abort();
    // No segment request was ever shed.
    let metrics = node.state.metrics.render();
    assert!(
        !metrics.contains("reel_http_shed_total{reason=\"media\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_trickled_sign_in_body_gets_408_when_its_time_is_up() {
    let node = TestNode::new(&[("http.body_timeout_s", "1")]).await;
    let addr = serve(&node).await;
    let started = Instant::now();
    let resp = raw(
        addr,
        b"POST /login HTTP/1.1\r\nHost: node\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=a",
    )
    .await;
    assert_eq!(status_of(&resp), 408, "{resp}");
    assert!(resp.contains("\"body-timeout\""), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn json_bodies_have_a_deadline_too() {
    let node = TestNode::new(&[("http.body_timeout_s", "1")]).await;
    let addr = serve(&node).await;
    let req = format!(
        "POST /api/videos HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\":",
        node.token
    );
    let resp = raw(addr, req.as_bytes()).await;
    assert_eq!(status_of(&resp), 408, "{resp}");
    assert!(resp.contains("\"body-timeout\""), "{resp}");
}

#[tokio::test]
async fn slow_small_bodies_share_one_byte_budget() {
    let node = TestNode::new(&[("http.body_budget_mib", "1"), ("http.body_timeout_s", "30")]).await;
    let addr = serve(&node).await;
    // Each announces 60 KiB and sends one byte: 17 of them fit in 1 MiB.
    let held = started_sign_ins(addr, 17, 61440).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = raw(
        addr,
        b"POST /login HTTP/1.1\r\nHost: node\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 61440\r\nConnection: close\r\n\r\nn",
    )
    .await;
    assert_eq!(status_of(&resp), 503, "{resp}");
    assert!(resp.contains("\"overloaded\""), "{resp}");
    // Viewers are not affected, and room comes back when senders go.
    let ok = raw(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&ok), 200);
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = raw(
        addr,
        b"POST /login HTTP/1.1\r\nHost: node\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nConnection: close\r\n\r\nn=1",
    )
    .await;
    assert_ne!(status_of(&resp), 503, "{resp}");
}

#[tokio::test]
async fn headers_that_never_finish_are_cut_off() {
    let node = TestNode::new(&[("http.header_read_timeout_s", "1")]).await;
    let addr = serve(&node).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: node\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    // The node closes the connection (EOF or reset) well before our limit.
    let read = tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf)).await;
    match read {
        Ok(Ok(n)) => assert!(
            n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Ok(Err(_)) => {}
        Err(_) => panic!("a connection with unfinished headers stayed open"),
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_speaks_http2_is_closed() {
    let node = TestNode::new(&[("http.header_read_timeout_s", "1")]).await;
    let addr = serve(&node).await;
    for first in [&b""[..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(first).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "a connection that sent {first:?} stayed open past the header timeout"
        );
    }
}

#[tokio::test]
async fn one_client_cannot_take_every_connection() {
    let node = TestNode::new(&[
        ("http.max_connections_per_client", "4"),
        // Loopback is not a trusted proxy here, so it counts as one client.
        ("http.trusted_proxies", "[\"192.0.2.1\"]"),
    ])
    .await;
    let addr = serve(&node).await;
    let _held = kept_alive(addr, 4).await;
    let extra = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n").await;
    assert!(extra.is_empty(), "a fifth connection was served: {extra}");
    let metrics = node.state.metrics.render();
    assert!(
        metrics.contains("reel_http_shed_total{reason=\"client-connections\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unauthenticated_subtitle_upload_is_refused_before_its_body() {
    let node = TestNode::new(&[]).await;
    let addr = serve(&node).await;
    // A 2 MB body announced, a few bytes sent: the answer must not wait.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /api/videos/0123456789abcdef/subtitles HTTP/1.1\r\nHost: node\r\n\
          Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 2000000\r\n\r\n--b",
    )
    .await
    .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered before the body")
        .unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_room_comes_back() {
    let node = TestNode::new(&[("http.max_connections", "8")]).await;
    let addr = serve(&node).await;
    // Kept alive after their answer, so still counted.
    let held = kept_alive(addr, 8).await;
    let extra = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n").await;
    assert!(extra.is_empty(), "a ninth connection was served: {extra}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = raw(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n",
        )
        .await;
        if status_of(&r) == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no room after closing: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("reel_http_shed_total{reason=\"connections\"}"));
}
