//! Node selection and retries of the real balancer over real nodes on
//! loopback: an even spread over the nodes left when one dies, a full
//! node's 503 moved to another node, and the retry budget capping how much
//! retries add when every node is full. Needs the workspace's binaries
//! (`cargo build --workspace --bins`).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::procs::{metric, metric_sum, start, start_with, token, Balancer, Node};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// Waits until the balancer's `/backends` lists `unhealthy` backends.
async fn wait_unhealthy(http: &reqwest::Client, admin: &str, unhealthy: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let b: serde_json::Value = http
            .get(format!("{admin}/backends"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let n = b["backends"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["healthy"] == false)
            .count();
        if n == unhealthy {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "backends: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `count` GETs of `path` from `workers` concurrent clients; the answering
/// node's name (`X-Reel-Node`) per status.
async fn spread(lb: &str, path: &str, count: usize, workers: usize) -> HashMap<String, usize> {
    let per = count / workers;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (http, url) = (client(), format!("{lb}{path}"));
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..per {
                    let r = http.get(&url).send().await.unwrap();
                    let node = r
                        .headers()
                        .get("x-reel-node")
                        .map_or("none".into(), |v| v.to_str().unwrap().to_string());
                    seen.push(format!("{}:{node}", r.status().as_u16()));
                    let _ = r.bytes().await;
                }
                seen
            })
        })
        .collect();
    let mut counts = HashMap::new();
    for t in tasks {
        for k in t.await.unwrap() {
            *counts.entry(k).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_of_three_nodes_down_pages_spread_evenly_over_the_other_two() {
    let data = tempfile::tempdir().unwrap();
    let a = start(data.path(), "node-a", &[]);
    let b = start(data.path(), "node-b", &[]);
    let c = start(data.path(), "node-c", &[]);
    let bases = [a.base.as_str(), b.base.as_str(), c.base.as_str()];
    let balancers: Vec<(&str, (Balancer, String))> = ["round_robin", "least_in_flight"]
        .into_iter()
        .map(|mode| {
            (
                mode,
                Balancer::start_with(&bases, &[("REEL_SELECTION", mode)]),
            )
        })
        .collect();
    let http = client();
    drop(c);
    for (mode, (lb, admin)) in &balancers {
        wait_unhealthy(&http, admin, 1).await;
        let counts = spread(&lb.base, "/", 300, 10).await;
        let a_n = counts.get("200:node-a").copied().unwrap_or(0);
        let b_n = counts.get("200:node-b").copied().unwrap_or(0);
        assert_eq!(a_n + b_n, 300, "{mode}: {counts:?}");
        eprintln!("{mode}: {counts:?}");
        for n in [a_n, b_n] {
            assert!((135..=165).contains(&n), "{mode}: uneven {counts:?}");
        }
    }
}

/// A node with one page slot; its 503s are expected, so not logged.
const FULL: [(&str, &str); 2] = [("REEL_HTTP__MAX_CONCURRENCY", "1"), ("REEL_LOG", "warn")];

/// Holds one of a node's `http.max_concurrency` slots with an upload whose
/// body never ends, until the returned sender is dropped.
async fn hold_slot(
    node: &Node,
    token: &str,
) -> tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(
        b"--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nslow\r\n".to_vec(),
    ))
    .await
    .unwrap();
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let (http, base, token) = (client(), node.base.clone(), token.to_string());
    tokio::spawn(async move {
        http.post(format!("{base}/api/videos"))
            .bearer_auth(token)
            .header("content-type", "multipart/form-data; boundary=b")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
    });
    // Held once the node sheds pages itself.
    let http = client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while http
        .get(format!("{}/", node.base))
        .send()
        .await
        .unwrap()
        .status()
        != 503
    {
        assert!(tokio::time::Instant::now() < deadline, "node never full");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tx
}

/// Node attempts that were refused as overloaded, over `nodes`.
async fn shed(http: &reqwest::Client, nodes: &[&Node]) -> f64 {
    let mut total = 0.0;
    for n in nodes {
        let m = text(http, &format!("{}/metrics", n.base)).await;
        total += metric(&m, "reel_http_shed_total{reason=\"concurrency\"}");
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_nodes_503_is_retried_on_another_node() {
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path());
    let full = start_with(data.path(), "node-full", &FULL, &[]);
    let ok = start(data.path(), "node-ok", &[]);
    let (lb, admin) = Balancer::start_with(&[&full.base, &ok.base], &[]);
    let _held = hold_slot(&full, &token).await;
    let http = client();
    let shed_before = shed(&http, &[&full]).await;
    let counts = spread(&lb.base, "/", 20, 1).await;
    assert_eq!(counts.get("200:node-ok"), Some(&20), "{counts:?}");
    let m = text(&http, &format!("{admin}/metrics")).await;
    let retried = metric(&m, "reel_balancer_retries_total{reason=\"node_503\"}");
    // Round robin sends every other request to the full node first.
    assert!(retried >= 5.0, "retries: {retried}");
    assert_eq!(shed(&http, &[&full]).await - shed_before, retried);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_budget_caps_what_retries_add_when_every_node_is_full() {
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path());
    let a = start_with(data.path(), "node-a", &FULL, &[]);
    let b = start_with(data.path(), "node-b", &FULL, &[]);
    let _held = (hold_slot(&a, &token).await, hold_slot(&b, &token).await);
    let http = client();
    const N: usize = 100;
    // One retry per request at most: two nodes, and `proxy.retries` is 1.
    let mut attempts = HashMap::new();
    for pct in ["20", "100"] {
        let (lb, admin) = Balancer::start_with(
            &[&a.base, &b.base],
            &[
                ("REEL_PROXY__RETRY_BUDGET_PCT", pct),
                ("REEL_PROXY__RETRY_BUDGET_MIN_PER_S", "1"),
            ],
        );
        let before = shed(&http, &[&a, &b]).await;
        let counts = spread(&lb.base, "/", N, 1).await;
        let refused: usize = counts
            .iter()
            .filter(|(k, _)| k.starts_with("503:"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(refused, N, "{counts:?}");
        let sent = shed(&http, &[&a, &b]).await - before;
        let m = text(&http, &format!("{admin}/metrics")).await;
        let upstream = metric_sum(&m, "reel_balancer_upstream_requests_total", &[]);
        attempts.insert(pct, (sent, upstream, m));
    }
    let (capped, capped_lb, m) = &attempts["20"];
    // N requests, 20 % of them as retries, plus the floor of 1/s over the
    // ten-second window.
    let bound = (N + N * 20 / 100 + 10) as f64;
    assert!(*capped <= bound, "{capped} node attempts > {bound}");
    assert!(*capped >= N as f64);
    assert!(
        *capped_lb >= *capped,
        "balancer counted {capped_lb} attempts, nodes {capped}"
    );
    assert!(metric(m, "reel_balancer_retry_budget_exhausted_total") > 0.0);
    // The same load with the whole budget: every request is retried, so
    // the cap above is what held the first run back.
    let (open, _, _) = &attempts["100"];
    eprintln!("node attempts for {N} requests: budget 20 %: {capped}, budget 100 %: {open}");
    assert_eq!(*open, (2 * N) as f64);
}
