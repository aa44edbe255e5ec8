//! A node is killed with SIGKILL while a viewer keeps fetching segments.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const INTERVAL_MS: u64 = 400;

async fn wait_health(
    c: &reqwest::Client,
    b: &Balancer,
    addr: std::net::SocketAddr,
    want: bool,
) -> Duration {
    let start = Instant::now();
    while is_healthy(c, b, addr).await != Some(want) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{addr} never became healthy={want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_is_invisible_to_viewers() {
    let mut a = Backend::start("a");
    let b = Backend::start("b");
    let mut setup = Setup::new(&[&a, &b]);
    setup.interval_ms = INTERVAL_MS;
    let bal = Balancer::start("failover", &setup);
    tokio::time::sleep(Duration::from_millis(300)).await;
    eprintln!("balancer RSS at idle: {} KiB", bal.rss_kib());

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let after_restart_on_a = Arc::new(AtomicU64::new(0));
    let restarted = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for worker in 0..2u64 {
        let (stop, ok, on_a, restarted) = (
            stop.clone(),
            ok.clone(),
            after_restart_on_a.clone(),
            restarted.clone(),
        );
        let url = bal.url("");
        loops.push(tokio::spawn(async move {
            let c = client();
            let mut failures = Vec::new();
            let mut i = 0u64;
            // Bounded in count as well as by the stop flag.
            while !stop.load(Ordering::Relaxed) && i < 200_000 {
                let path = format!("/media/video{}/seg_{i}.m4s", (i + worker) % 7);
                match c.get(format!("{url}{path}")).send().await {
                    Ok(r) if r.status() == 200 => {
                        let node = r.headers()["x-reel-node"].to_str().unwrap().to_string();
                        match r.bytes().await {
                            Ok(body) if !body.is_empty() => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                if restarted.load(Ordering::Relaxed) && node == "a" {
                                    on_a.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            other => failures.push(format!("{path}: body {other:?}")),
                        }
                    }
                    Ok(r) => failures.push(format!("{path}: status {}", r.status())),
                    Err(e) => failures.push(format!("{path}: {e}")),
                }
                i += 1;
            }
            failures
        }));
    }

    let started = Instant::now();
    let c = client();
    let mut max_rss = bal.rss_kib();
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.kill();
    let left = wait_health(&c, &bal, a.addr, false).await;
    eprintln!(
        "dead node left rotation after {left:?} (interval {INTERVAL_MS} ms, unhealthy threshold 2)"
    );
    assert!(
        left <= Duration::from_millis(3 * INTERVAL_MS),
        "took {left:?}, more than 2 health intervals plus one of slack"
    );
    max_rss = max_rss.max(bal.rss_kib());
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.restart();
    let back = wait_health(&c, &bal, a.addr, true).await;
    restarted.store(true, Ordering::Relaxed);
    eprintln!("restarted node back in rotation after {back:?} (healthy threshold 2)");
    assert!(
        back <= Duration::from_millis(3 * INTERVAL_MS + 500),
        "took {back:?}"
    );
    while started.elapsed() < Duration::from_secs(10) {
        max_rss = max_rss.max(bal.rss_kib());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for l in loops {
        failures.extend(
            tokio::time::timeout(Duration::from_secs(30), l)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    eprintln!(
        "balancer RSS during node-kill test: max {max_rss} KiB; {} segments served",
        ok.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(ok.load(Ordering::Relaxed) > 100);
    assert!(
        after_restart_on_a.load(Ordering::Relaxed) > 0,
        "restarted node got no traffic"
    );
    let metrics = metrics_text(&c, &bal).await;
    eprintln!(
        "retries: {:?}",
        metrics
            .lines()
            .filter(|l| l.starts_with("reel_balancer_retries_total"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unready_node_leaves_and_returns() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let mut setup = Setup::new(&[&a, &b]);
    setup.interval_ms = 100;
    let bal = Balancer::start("unready", &setup);
    let c = client();
    c.post(format!("http://{}/control/unready", a.addr))
        .send()
        .await
        .unwrap();
    wait_health(&c, &bal, a.addr, false).await;
    for i in 0..10 {
        let r = c.get(bal.url(&format!("/p{i}"))).send().await.unwrap();
        assert_eq!(r.headers()["x-reel-node"], "b");
    }
    c.post(format!("http://{}/control/ready", a.addr))
        .send()
        .await
        .unwrap();
    wait_health(&c, &bal, a.addr, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_retry_gets_but_never_posts() {
    let a = Backend::start_with("a", &["--reset-prefix", "/flaky"]);
    let b = Backend::start("b");
    let mut setup = Setup::new(&[&a, &b]);
    // Ejection would take the resetting node out after a few GETs, and
    // then no POST would reach it: this test is about replaying.
    setup.tables = "\n[outlier]\nconsecutive_failures = 0\n".into();
    let bal = Balancer::start("reset", &setup);
    let c = client();
    for i in 0..20 {
        let r = c.get(bal.url(&format!("/flaky/{i}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {i} not retried");
        assert_eq!(r.headers()["x-reel-node"], "b");
    }
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = c
            .post(bal.url(&format!("/flaky/{i}")))
            .body("payload")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status == 502 {
            // The failure answer has the usual shape and the request id.
            assert!(r.headers().contains_key("x-request-id"));
            // It also says the connection closes, so the client's next
            // request does not go into a closing socket.
            assert_eq!(r.headers()["connection"], "close");
            let page = r.text().await.unwrap();
            assert!(page.contains("app node failed to answer"), "{page}");
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 200, 502, 502],
        "POSTs must not be replayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeouts_move_gets_to_another_node() {
    let a = Backend::start_with("a", &["--stall-prefix", "/hang"]);
    let b = Backend::start("b");
    let mut setup = Setup::new(&[&a, &b]);
    setup.read_timeout_ms = 300;
    let bal = Balancer::start("stall", &setup);
    let c = client();
    for i in 0..4 {
        let r = c.get(bal.url(&format!("/hang/{i}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {i} not retried after a timeout");
        assert_eq!(r.headers()["x-reel-node"], "b");
    }
}
