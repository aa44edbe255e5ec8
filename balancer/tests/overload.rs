//! Shedding: excess load gets a fast 503 with Retry-After, never a queue.

mod common;

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use common::*;

const PER_BACKEND: usize = 5;
const SLOW_MS: u64 = 4000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_requests_are_shed_fast() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let mut setup = Setup::new(&[&a, &b]);
    setup.per_backend = PER_BACKEND;
    let bal = Balancer::start("overload", &setup);
    let capacity = 2 * PER_BACKEND;
    let total = capacity + 50;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let requests = (0..total).map(|i| {
        let c = c.clone();
        let url = bal.url(&format!("/slow?ms={SLOW_MS}&n={i}"));
        async move {
            let r = c.get(url).send().await.expect("request failed");
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").cloned();
            let elapsed = started.elapsed();
            let _ = r.bytes().await;
            (status, retry_after, elapsed)
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(60), join_all(requests))
        .await
        .expect("requests hung");
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let shed: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    eprintln!("{ok} served, {} shed of {total}", shed.len());
    assert_eq!(ok + shed.len(), total, "unexpected statuses: {results:?}");
    assert!(ok <= capacity, "more than the limit were admitted: {ok}");
    assert!(shed.len() >= 50, "only {} shed", shed.len());
    for (_, retry_after, elapsed) in &shed {
        assert_eq!(retry_after.as_ref().unwrap(), "1");
        // Shed answers come back while the admitted requests still run.
        assert!(
            *elapsed < Duration::from_millis(SLOW_MS),
            "503 was not fast: {elapsed:?}"
        );
    }
    let m = metrics_text(&c, &bal).await;
    let samples = parse_prometheus(&m);
    let shed_metric: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "reel_balancer_shed_total")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(shed_metric as usize, shed.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_limit_then_panic_routing_when_no_node_is_ready() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let mut setup = Setup::new(&[&a, &b]);
    setup.total = 2;
    setup.interval_ms = 100;
    let bal = Balancer::start("total", &setup);
    let c = client();
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(c.get(bal.url("/slow?ms=1500")).send()))
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = c.get(bal.url("/api/videos/v1")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "overloaded");
    assert!(v["error"]["message"].is_string());
    let r = c.get(bal.url("/watch/v1")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains("<html"), "{page}");
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");
    for s in slow {
        assert_eq!(s.await.unwrap().unwrap().status(), 200);
    }

    // Every node fails readiness at once (say, a shared database blinked):
    // the panic threshold keeps traffic flowing to them.
    for node in [&a, &b] {
        c.post(format!("http://{}/control/unready", node.addr))
            .send()
            .await
            .unwrap();
    }
    for node in [&a, &b] {
        for _ in 0..200 {
            if is_healthy(&c, &bal, node.addr).await == Some(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(is_healthy(&c, &bal, node.addr).await, Some(false));
    }
    for i in 0..4 {
        let r = c.get(bal.url(&format!("/p{i}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i} refused with no node ready");
    }
    let m = metrics_text(&c, &bal).await;
    let panicked: f64 = parse_prometheus(&m)
        .iter()
        .filter(|(n, _, _)| n == "reel_balancer_panic_routed_total")
        .map(|(_, _, v)| v)
        .sum();
    assert!(panicked >= 4.0, "{panicked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_then_exits() {
    let a = Backend::start("a");
    let mut bal = Balancer::start("sigterm", &Setup::new(&[&a]));
    let c = client();
    let slow = tokio::spawn(c.get(bal.url("/slow?ms=1000")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    bal.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        std::net::TcpStream::connect(bal.listen).is_err(),
        "still accepting after SIGTERM"
    );
    let r = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("in-flight request hung")
        .unwrap()
        .expect("in-flight request was cut");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow done");
    let mut status = None;
    for _ in 0..200 {
        status = bal.try_wait();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = status.expect("balancer did not exit after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", bal.log());
}

/// The session budget: two viewers are admitted and watch, a third new one
/// gets the fast 503 at the watch page, and an admitted viewer coming back
/// (or fetching media with its cookie) still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_budget_turns_away_new_sessions_only() {
    let a = Backend::start("a");
    let mut setup = Setup::new(&[&a]);
    setup.tables = "\n[admission]\nmax_sessions = 2\n".into();
    let bal = Balancer::start("budget", &setup);
    let c = client();
    let mut cookies = Vec::new();
    for i in 0..2 {
        let r = c
            .get(bal.url(&format!("/watch/v{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.starts_with("reel_admit="), "{set}");
        let cookie = set.split(';').next().unwrap().to_string();
        // A session counts once it fetches media with its cookie.
        let r = c
            .get(bal.url(&format!("/media/v{i}/v0123456789ab/720p/seg_1.m4s")))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        cookies.push(cookie);
    }
    let r = c.get(bal.url("/watch/v9")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(!r.headers().contains_key("set-cookie"));
    // A forged cookie does not count as a session.
    let r = c
        .get(bal.url("/watch/v9"))
        .header(
            "cookie",
            "reel_admit=99999999999.0000000000000001.00000000000000000000000000000000",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = c
        .get(bal.url("/watch/v0"))
        .header("cookie", &cookies[0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an admitted viewer was turned away");
    let r = c
        .get(bal.url("/media/v1/v0123456789ab/720p/seg_1.m4s"))
        .header("cookie", &cookies[1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = metrics_text(&c, &bal).await;
    assert!(
        m.contains("reel_balancer_shed_total{reason=\"new_sessions_paused\"} 2"),
        "{m}"
    );
}
