//! The client edge over real processes: forwarding headers with and
//! without a trusted proxy, node names instead of addresses, and the access
//! log (format, hostile input, reopen on reload).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;

/// A client whose connections come from `ip` (any 127/8 address works on
/// Linux loopback), so one test can be several viewers.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Sends raw request bytes and returns the whole answer (connection close).
async fn raw_exchange(from: &str, to: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect_from(from, to).await;
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answer timed out")
        .unwrap();
    out
}

/// One access log line split into its fields.
#[derive(Debug)]
struct Line {
    ip: String,
    request: String,
    status: u16,
    bytes: String,
    referer: String,
    agent: String,
    extras: Vec<(String, String)>,
}

impl Line {
    fn extra(&self, key: &str) -> &str {
        &self
            .extras
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{key} missing in {self:?}"))
            .1
    }
}

/// Parses the Combined Log Format with key=value extras, strictly: quotes
/// appear only as field delimiters and nothing is a control character.
fn parse_line(line: &str) -> Line {
    assert!(
        line.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "raw control or non-ASCII byte in {line:?}"
    );
    assert_eq!(line.matches('"').count(), 6, "quotes in {line:?}");
    let (ip, rest) = line.split_once(" - - [").unwrap();
    let (time, rest) = rest.split_once("] \"").unwrap();
    assert_eq!(time.len(), "10/Oct/2000:13:55:36 +0000".len(), "{time}");
    let (request, rest) = rest.split_once("\" ").unwrap();
    let (status, rest) = rest.split_once(' ').unwrap();
    let (bytes, rest) = rest.split_once(" \"").unwrap();
    let (referer, rest) = rest.split_once("\" \"").unwrap();
    let (agent, rest) = rest.split_once("\" ").unwrap();
    let extras = rest
        .split(' ')
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("{kv} in {line}"));
            (k.to_string(), v.to_string())
        })
        .collect();
    Line {
        ip: ip.into(),
        request: request.into(),
        status: status.parse().unwrap(),
        bytes: bytes.into(),
        referer: referer.into(),
        agent: agent.into(),
        extras,
    }
}

/// The log's lines once it holds at least `n` (the writer is a thread).
async fn log_lines(path: &Path, n: usize) -> Vec<Line> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            assert!(text.ends_with('\n'));
            return text.lines().map(parse_line).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "access log has fewer than {n} lines:\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_trust_only_configured_proxies() {
    let a = Backend::start("a");
    let dir = scratch("edge-fwd");
    let log = dir.join("access.log");
    let mut setup = Setup::new(&[&a]);
    setup.extra_top = "trusted_proxies = [\"127.0.0.2/32\"]\n".into();
    setup.tables = format!("\n[access_log]\npath = \"{}\"\n", log.display());
    let bal = Balancer::start("edge-fwd", &setup);

    // A viewer that claims to be forwarding is not believed.
    let r = client_from("127.0.0.3")
        .get(bal.url("/echo"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["x-forwarded-for"], "127.0.0.3");
    assert_eq!(v["x-forwarded-proto"], "http");
    assert_eq!(v["x-forwarded-host"], bal.listen.to_string());

    // The trusted proxy's chain is kept and extended, its proto and host kept.
    let r = client_from("127.0.0.2")
        .get(bal.url("/echo"))
        .header("x-forwarded-for", "203.0.113.1, 198.51.100.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "reel.example")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["x-forwarded-for"], "203.0.113.1, 198.51.100.7, 127.0.0.2");
    assert_eq!(v["x-forwarded-proto"], "https");
    assert_eq!(v["x-forwarded-host"], "reel.example");

    // The balancer's own idea of the client: the peer, or the right-most
    // untrusted hop behind the trusted proxy.
    let lines = log_lines(&log, 2).await;
    assert_eq!(lines[0].ip, "127.0.0.3");
    assert_eq!(lines[1].ip, "198.51.100.7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_names_replace_addresses() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let mut setup = Setup::new(&[&a, &b]);
    setup.backend_names = vec!["edge-a".into()];
    let bal = Balancer::start("edge-names", &setup);
    let c = client();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = c.get(bal.url("/no-node-header")).send().await.unwrap();
        seen.push(r.headers()["x-reel-node"].to_str().unwrap().to_string());
    }
    seen.sort();
    assert_eq!(seen, ["edge-a", "node-2"]);

    let v = backends(&c, &bal).await;
    let list = v["backends"].as_array().unwrap();
    assert_eq!(list[0]["name"], "edge-a");
    assert_eq!(list[0]["address"], a.addr.to_string());
    assert_eq!(list[1]["name"], "node-2");

    let text = metrics_text(&c, &bal).await;
    let addresses = [a.addr.to_string(), b.addr.to_string()];
    for (name, labels, _) in parse_prometheus(&text) {
        for (k, v) in labels {
            assert!(
                !addresses.contains(&v),
                "{name} has an address label {k}={v}"
            );
        }
    }
    assert!(text.contains("reel_balancer_requests_total{backend=\"edge-a\",status=\"200\"} 1"));
    assert!(text.contains("reel_balancer_backend_healthy{backend=\"node-2\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_is_standard_escaped_and_reopened_on_reload() {
    let a = Backend::start("a");
    let dir = scratch("edge-log");
    let log = dir.join("access.log");
    let mut setup = Setup::new(&[&a]);
    setup.tables = format!("\n[access_log]\npath = \"{}\"\n", log.display());
    let bal = Balancer::start("edge-log", &setup);

    let answer = raw_exchange(
        "127.0.0.1",
        bal.listen,
        b"GET /media/v1/seg_1.m4s?q=\\y HTTP/1.1\r\nHost: reel\r\n\
          User-Agent: evil\" \\ \t\xc3\xa9\xff\r\nReferer: http://r/\"quoted\"\r\n\
          X-Request-Id: req-1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Control characters in the target are not valid HTTP; whatever the
    // parser makes of them, the log must stay one clean line. (A raw quote
    // in the target is refused by pingora's parser before any logging.)
    raw_exchange(
        "127.0.0.1",
        bal.listen,
        b"GET /watch/\x1b[2J\x07 HTTP/1.1\r\nHost: reel\r\nX-Request-Id: req-2\r\nConnection: close\r\n\r\n",
    )
    .await;
    client().get(bal.url("/page")).send().await.unwrap();

    let lines = log_lines(&log, 3).await;
    let first = &lines[0];
    assert_eq!(first.ip, "127.0.0.1");
    assert_eq!(first.request, "GET /media/v1/seg_1.m4s?q=\\x5Cy HTTP/1.1");
    assert_eq!(first.status, 200);
    assert!(first.bytes.parse::<usize>().unwrap() > 1000);
    assert_eq!(first.referer, "http://r/\\x22quoted\\x22");
    assert_eq!(
        first.agent,
        "evil\\x22 \\x5C \\x09\\xC3\\xA9\\xEF\\xBF\\xBD"
    );
    assert_eq!(first.extra("upstream"), "node-1");
    assert!(first.extra("upstream_ms").parse::<u64>().is_ok());
    assert!(first.extra("total_ms").parse::<u64>().is_ok());
    assert_eq!(first.extra("request_id"), "req-1");
    assert_eq!(first.extra("cache"), "-");
    assert!(
        lines[1].request.starts_with("GET /watch/"),
        "{:?}",
        lines[1]
    );
    assert_eq!(lines[2].request, "GET /page HTTP/1.1");
    assert_eq!(lines[2].referer, "-");

    // Rotation: move the file away, reload, and new lines go to a new file.
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    // SIGHUP, the way log rotation tools usually signal.
    bal.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !bal.log().contains("config reloaded") {
        assert!(
            std::time::Instant::now() < deadline,
            "no reload:\n{}",
            bal.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client()
        .get(bal.url("/after-rotation"))
        .send()
        .await
        .unwrap();
    let fresh = log_lines(&log, 1).await;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].request, "GET /after-rotation HTTP/1.1");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert_eq!(old.lines().count(), 3, "{old}");
}
