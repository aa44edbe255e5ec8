//! Live reload: a backend added with SIGHUP takes traffic, a download in
//! flight across the reload completes intact, invalid configs are refused
//! (by SIGHUP and by `POST /reload` with the admin token).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use common::*;

const DOWNLOAD: u64 = 32 * 1024 * 1024;
const TOKEN: &str = "reload-test-token-0123456789";

async fn spread(c: &reqwest::Client, bal: &Balancer, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for i in 0..n {
        let r = c.get(bal.url(&format!("/p/{i}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let node = r.headers()["x-reel-node"].to_str().unwrap().to_string();
        *counts.entry(node).or_insert(0) += 1;
    }
    counts
}

async fn member_count(c: &reqwest::Client, bal: &Balancer) -> usize {
    backends(c, bal).await["backends"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_a_node_without_breaking_downloads() {
    let (a, b, third) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let setup = Setup::new(&[&a, &b]);
    let bal = Balancer::start_env("reload", &setup, &[("REEL_ADMIN__TOKEN", TOKEN)]);
    let c = client();

    // ~5 s download: 512 chunks of 64 KiB, 10 ms apart.
    let url = bal.url(&format!("/large?bytes={DOWNLOAD}&delay_ms=10"));
    let resp = c.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let download = tokio::spawn(async move {
        let mut stream = resp.bytes_stream();
        let mut hash = Sha256::new();
        let mut len = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("download broke");
            len += chunk.len() as u64;
            hash.update(&chunk);
        }
        (len, hash.finalize().to_vec())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut grown = setup.clone();
    grown.backends.push((third.addr, 1));
    bal.write_config(&grown);
    bal.signal(libc::SIGHUP);
    for _ in 0..100 {
        if member_count(&c, &bal).await == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        member_count(&c, &bal).await,
        3,
        "reload not applied:\n{}",
        bal.log()
    );
    let counts = spread(&c, &bal, 30).await;
    assert_eq!(counts.get("c"), Some(&10), "{counts:?}");

    // Invalid file: SIGHUP keeps the old config …
    std::fs::write(
        &bal.config_path,
        grown
            .render(bal.listen, bal.admin)
            .replace(&third.addr.to_string(), "not-an-address"),
    )
    .unwrap();
    bal.signal(libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(member_count(&c, &bal).await, 3);
    assert_eq!(spread(&c, &bal, 30).await.get("c"), Some(&10));
    // … and POST /reload explains why.
    let r = c
        .post(bal.admin_url("/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "config_invalid");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("backends[2].address") && msg.contains("not-an-address"),
        "{msg}"
    );

    // A valid file again via POST /reload, back to two nodes.
    bal.write_config(&setup);
    let r = c
        .post(bal.admin_url("/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(member_count(&c, &bal).await, 2);

    let (len, hash) = tokio::time::timeout(Duration::from_secs(60), download)
        .await
        .expect("download hung")
        .unwrap();
    assert_eq!(len, DOWNLOAD);
    assert_eq!(hash, pattern_sha256(DOWNLOAD), "download corrupted");
    assert!(bal.log().contains("reload refused"));
}
