//! Distribution, stickiness, forwarding headers, metrics and `check`.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::*;

async fn node_of(c: &reqwest::Client, url: &str) -> String {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.headers()["x-reel-node"].to_str().unwrap().to_string()
}

async fn split(c: &reqwest::Client, b: &Balancer, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for i in 0..n {
        *counts
            .entry(node_of(c, &b.url(&format!("/page/{i}"))).await)
            .or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_splits_evenly() {
    let (a, bb) = (Backend::start("a"), Backend::start("b"));
    let bal = Balancer::start("rr", &Setup::new(&[&a, &bb]));
    let c = client();
    let counts = split(&c, &bal, 100).await;
    assert_eq!(counts.get("a"), Some(&50), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&50), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_three_to_one() {
    let (a, bb) = (Backend::start("a"), Backend::start("b"));
    let mut setup = Setup::new(&[&a, &bb]);
    setup.selection = "weighted";
    setup.backends[0].1 = 3;
    // This test measures the split, not health checks: a check that times
    // out on a loaded machine must not take a node out of the draw.
    setup.unhealthy_threshold = 1000;
    let bal = Balancer::start("weighted", &setup);
    let c = client();
    let counts = split(&c, &bal, 200).await;
    let share_a = counts["a"] as f64 / 200.0;
    assert!((share_a - 0.75).abs() <= 0.10 * 0.75, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_a_video_on_one_node() {
    let (a, bb) = (Backend::start("a"), Backend::start("b"));
    let mut setup = Setup::new(&[&a, &bb]);
    setup.selection = "consistent_hash";
    let bal = Balancer::start("hash", &setup);
    let c = client();
    let mut owners = HashMap::new();
    for v in 0..16 {
        let id = format!("video{v}");
        let first = node_of(&c, &bal.url(&format!("/media/{id}/seg_0.m4s"))).await;
        for seg in 1..8 {
            let n = node_of(&c, &bal.url(&format!("/media/{id}/seg_{seg}.m4s"))).await;
            assert_eq!(n, first, "{id} segment {seg} moved");
        }
        assert_eq!(node_of(&c, &bal.url(&format!("/watch/{id}"))).await, first);
        assert_eq!(
            node_of(&c, &bal.url(&format!("/api/videos/{id}"))).await,
            first
        );
        owners.insert(id, first);
    }
    let on_a = owners.values().filter(|n| *n == "a").count();
    assert!(
        on_a > 0 && on_a < owners.len(),
        "all videos on one node: {owners:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_headers_and_tags_responses() {
    let a = Backend::start("a");
    let bal = Balancer::start("headers", &Setup::new(&[&a]));
    let c = client();
    let r = c
        .get(bal.url("/echo"))
        .header("x-request-id", "req-123")
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-reel-node"], "a");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["x-request-id"], "req-123");
    // Not from a trusted proxy: the viewer's chain is replaced.
    assert_eq!(v["x-forwarded-for"], "127.0.0.1");
    assert_eq!(v["x-forwarded-proto"], "http");
    assert_eq!(v["x-forwarded-host"], bal.listen.to_string());

    let r = c.get(bal.url("/echo")).send().await.unwrap();
    let echoed = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["x-request-id"],
        echoed.as_str(),
        "generated id must reach the node"
    );
    assert_eq!(echoed.len(), 32);
    // The access log line is written just after the response completes.
    let mut logged = false;
    for _ in 0..40 {
        logged = bal.log().contains(&echoed);
        if logged {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(logged, "request id not logged:\n{}", bal.log());

    let r = c.get(bal.url("/no-node-header")).send().await.unwrap();
    assert_eq!(r.headers()["x-reel-node"], "node-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_requests() {
    let (a, bb) = (Backend::start("a"), Backend::start("b"));
    let bal = Balancer::start("metrics", &Setup::new(&[&a, &bb]));
    let c = client();
    for i in 0..37 {
        node_of(&c, &bal.url(&format!("/media/v/seg_{i}.m4s"))).await;
    }
    let text = metrics_text(&c, &bal).await;
    let samples = parse_prometheus(&text);
    let total: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "reel_balancer_requests_total")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(total, 37.0, "{text}");
    let count: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "reel_balancer_request_duration_seconds_count")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(count, 37.0);
    for family in [
        "reel_balancer_backend_healthy",
        "reel_balancer_backend_in_flight",
        "reel_balancer_in_flight",
    ] {
        assert!(
            samples.iter().any(|(n, _, _)| n == family),
            "missing {family}"
        );
    }
    let health: serde_json::Value = c
        .get(bal.admin_url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let v = backends(&c, &bal).await;
    let served: u64 = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["served"].as_u64().unwrap())
        .sum();
    assert_eq!(served, 37);
    for b in v["backends"].as_array().unwrap() {
        for key in ["address", "weight", "health", "in_flight", "served"] {
            assert!(!b[key].is_null(), "{key} missing in {b}");
        }
    }
}

#[test]
fn check_accepts_sample_and_rejects_broken() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/balancer.toml");
    let out = Command::new(BALANCER)
        .args(["check", "--config", sample])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = scratch("check");
    let broken = dir.join("broken.toml");
    std::fs::write(
        &broken,
        "[[backends]]\naddress = \"127.0.0.1:8081\"\n[[backends]]\naddress = \"nowhere\"\n",
    )
    .unwrap();
    let out = Command::new(BALANCER)
        .args(["check", "--config"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backends[1].address"), "{err}");
    assert!(err.contains("nowhere"), "{err}");

    std::fs::write(&broken, "selection = \"fastest\"\n").unwrap();
    let out = Command::new(BALANCER)
        .args(["check", "--config"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fastest") && err.contains("selection"),
        "{err}"
    );

    let out = Command::new(BALANCER)
        .args(["check", "--config", sample, "--backend", "127.0.0.1:9=0"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a zero weight from a flag must be refused"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Another spelling of a media file would get past the edge cache: escaped
/// media paths are refused before any node sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_media_paths_are_refused() {
    let a = Backend::start("a");
    let bal = Balancer::start("escaped", &Setup::new(&[&a]));
    let c = client();
    let r = c
        .get(bal.url("/media/v1/v0123456789ab/720p/seg_%31.m4s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.headers().contains_key("x-reel-node"));
    let r = c
        .get(bal.url("/media/v1/v0123456789ab/720p/seg_1.m4s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
