//! Client limits over real processes: slow request heads and idle
//! keep-alive connections are cut off, connection caps per address and in
//! total, and the per-address request rate, each while other viewers are
//! still served.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::*;

/// Reads one response head and its `Content-Length` body, or what the
/// server sent before closing. Returns the head text and the body.
async fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Duration::from_secs(10);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut body = buf[end + 4..].to_vec();
            while body.len() < len {
                let n = tokio::time::timeout(deadline, s.read(&mut chunk))
                    .await
                    .expect("body timed out")
                    .unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return (head, body);
        }
        let n = tokio::time::timeout(deadline, s.read(&mut chunk))
            .await
            .expect("response timed out")
            .unwrap_or(0);
        if n == 0 {
            return (String::from_utf8_lossy(&buf).into_owned(), Vec::new());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One GET on a kept-alive connection; returns the status (0 if closed).
async fn get_on(s: &mut TcpStream, path: &str) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: reel\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return 0;
    }
    let (head, _) = read_response(s).await;
    status_of(&head)
}

fn status_of(head: &str) -> u16 {
    head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Whether the server closes `s` (EOF or reset) within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 1024];
    match tokio::time::timeout(within, s.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("unexpected data on an idle connection"),
        Err(_) => false,
    }
}

async fn shed_count(c: &reqwest::Client, bal: &Balancer, reason: &str) -> f64 {
    let text = metrics_text(c, bal).await;
    parse_prometheus(&text)
        .into_iter()
        .filter(|(n, l, _)| {
            n == "reel_balancer_shed_total" && l.iter().any(|(k, v)| k == "reason" && v == reason)
        })
        .map(|(_, _, v)| v)
        .sum()
}

fn limits(setup: &mut Setup, lines: &str) {
    setup.tables.push_str("\n[limits]\n");
    setup.tables.push_str(lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_cut_off() {
    let a = Backend::start("a");
    let mut setup = Setup::new(&[&a]);
    limits(
        &mut setup,
        "header_read_timeout_ms = 300\nheader_timeout_ms = 3000\nkeepalive_timeout_s = 1\n",
    );
    let bal = Balancer::start("limits-slow", &setup);
    let started = Instant::now();

    // Trickles its head a header line at a time, every read in time.
    let trickler = tokio::spawn({
        let to = bal.listen;
        async move {
            let mut s = connect_from("127.0.0.1", to).await;
            s.write_all(b"GET /page HTTP/1.1\r\nHost: reel\r\n")
                .await
                .unwrap();
            // Reads while writing, so the answer is seen even if later
            // writes hit the closed connection.
            let mut answer = Vec::new();
            let mut chunk = [0u8; 4096];
            let mut sent = 0;
            while started.elapsed() < Duration::from_secs(20) {
                tokio::select! {
                    n = s.read(&mut chunk) => match n {
                        Ok(0) | Err(_) => break,
                        Ok(n) => answer.extend_from_slice(&chunk[..n]),
                    },
                    () = tokio::time::sleep(Duration::from_millis(100)) => {
                        let line = format!("X-Pad-{sent}: x\r\n");
                        let _ = s.write_all(line.as_bytes()).await;
                        sent += 1;
                    }
                }
            }
            (
                String::from_utf8_lossy(&answer).into_owned(),
                started.elapsed(),
            )
        }
    });
    // Starts a head and stalls.
    let staller = tokio::spawn({
        let to = bal.listen;
        async move {
            let mut s = connect_from("127.0.0.1", to).await;
            s.write_all(b"GET /page HTTP/1.1\r\nHost: re")
                .await
                .unwrap();
            let (head, body) = read_response(&mut s).await;
            (head, body, started.elapsed())
        }
    });

    // Meanwhile an ordinary viewer is served on its own connection.
    let c = client();
    for i in 0..5 {
        let r = c.get(bal.url(&format!("/page/{i}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (head, body, stalled_for) = staller.await.unwrap();
    assert_eq!(status_of(&head), 408, "{head}");
    assert!(String::from_utf8_lossy(&body).contains("too long"));
    // Cut by the per-read timeout (300 ms), well before the whole-head one.
    assert!(stalled_for < Duration::from_millis(2500), "{stalled_for:?}");

    let (head, trickled_for) = trickler.await.unwrap();
    assert_eq!(status_of(&head), 408, "{head}");
    assert!(trickled_for < Duration::from_secs(15), "{trickled_for:?}");

    // A kept-alive connection that goes quiet is closed after the idle limit.
    let mut s = connect_from("127.0.0.1", bal.listen).await;
    assert_eq!(get_on(&mut s, "/page").await, 200);
    assert!(
        closed_within(&mut s, Duration::from_secs(8)).await,
        "idle keep-alive connection was kept open"
    );
    assert!(shed_count(&c, &bal, "header_timeout").await >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_per_address_and_in_total() {
    let a = Backend::start("a");
    let mut setup = Setup::new(&[&a]);
    setup.extra_top = "trusted_proxies = [\"127.0.0.5\"]\n".into();
    limits(
        &mut setup,
        "max_connections_per_ip = 3\nmax_connections = 5\n",
    );
    let bal = Balancer::start("limits-conns", &setup);

    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from("127.0.0.2", bal.listen).await;
        assert_eq!(get_on(&mut s, "/page").await, 200);
        held.push(s);
    }
    // The fourth from the same address is refused, fast and in words.
    let mut s = connect_from("127.0.0.2", bal.listen).await;
    s.write_all(b"GET /page HTTP/1.1\r\nHost: reel\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = read_response(&mut s).await;
    assert_eq!(status_of(&head), 429, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(String::from_utf8_lossy(&body).contains("too many connections"));
    // Another address still gets in.
    let mut other = connect_from("127.0.0.3", bal.listen).await;
    assert_eq!(get_on(&mut other, "/page").await, 200);

    // With 4 of 5 open, a trusted proxy is not held to the per-address cap
    // but to the total: one more fits, then the service is full for all.
    let mut proxy = connect_from("127.0.0.5", bal.listen).await;
    assert_eq!(get_on(&mut proxy, "/page").await, 200);
    let mut s = connect_from("127.0.0.4", bal.listen).await;
    s.write_all(b"GET /page HTTP/1.1\r\nHost: reel\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut s).await;
    assert_eq!(status_of(&head), 503, "{head}");

    // Closing connections frees their places.
    held.clear();
    drop(other);
    let mut proxy_conns = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy_conns.len() < 3 {
        let mut s = connect_from("127.0.0.5", bal.listen).await;
        match get_on(&mut s, "/page").await {
            200 => proxy_conns.push(s),
            503 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("trusted proxy connection answered {other}"),
        }
    }
    // The proxy now holds 4 connections, beyond the per-address cap of 3.
    let c = client();
    assert!(shed_count(&c, &bal, "connections_per_ip").await >= 1.0);
    assert!(shed_count(&c, &bal, "connections_total").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_per_address() {
    let a = Backend::start("a");
    let mut setup = Setup::new(&[&a]);
    limits(&mut setup, "requests_per_ip_per_s = 20\n");
    let bal = Balancer::start("limits-rate", &setup);
    let flooder = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let viewer = reqwest::Client::builder()
        .local_address("127.0.0.3".parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut served = 0;
    let mut refused = 0;
    for i in 0..100 {
        let r = flooder
            .get(bal.url(&format!("/api/videos?n={i}")))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => served += 1,
            429 => {
                refused += 1;
                assert_eq!(r.headers()["retry-after"], "1");
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["error"]["code"], "rate_limited", "{v}");
            }
            other => panic!("unexpected status {other}"),
        }
        // A playing viewer on another address keeps getting its segments.
        if i % 10 == 0 {
            let r = viewer
                .get(bal.url(&format!("/media/v1/seg_{i}.m4s")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "viewer starved at {i}");
        }
    }
    eprintln!("{served} served, {refused} refused");
    assert!(served >= 20, "{served} served");
    assert!(refused >= 30, "{refused} refused");
    assert_eq!(
        shed_count(&client(), &bal, "rate_limited").await,
        f64::from(refused)
    );
}
