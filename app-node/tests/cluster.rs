//! The whole stack on loopback: the real `reel-balancer` in front of two real
//! `reel-node` processes sharing one data directory. Needs the workspace's
//! binaries built together (`cargo test --workspace`, as `make test` does).

mod common;

use common::procs::{import_clip, start, Balancer};

#[tokio::test]
async fn the_balancer_spreads_viewers_over_real_nodes_and_survives_one_dying() {
    let data = tempfile::tempdir().unwrap();
    let id = import_clip(data.path(), 320, 180, 8, true, "Clustered");

    let a = start(data.path(), "node-a", &[]);
    let b = start(data.path(), "node-b", &[]);
    let balancer = Balancer::start(&[&a.base, &b.base]);
    let lb = balancer.base.clone();
    let http = reqwest::Client::new();

    let mut names = Vec::new();
    for _ in 0..10 {
        let r = http.get(format!("{lb}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        names.push(r.headers()["x-reel-node"].to_str().unwrap().to_string());
        assert!(r.text().await.unwrap().contains("Clustered"));
    }
    assert_eq!(
        names.iter().filter(|n| *n == "node-a").count(),
        5,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| *n == "node-b").count(),
        5,
        "{names:?}"
    );

    let master = http
        .get(format!("{lb}/media/{id}/master.m3u8"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rung = master
        .lines()
        .find(|l| l.ends_with("index.m3u8") && !l.starts_with('#'))
        .unwrap()
        .to_string();
    let dir = rung.rsplit_once('/').unwrap().0.to_string();
    let pl = http
        .get(format!("{lb}/media/{id}/{rung}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let segs: Vec<String> = pl
        .lines()
        .filter(|l| l.ends_with(".m4s"))
        .map(String::from)
        .collect();
    assert!(segs.len() >= 2);

    // One node dies without warning; viewers keep getting every segment.
    drop(a);
    let mut failed = 0;
    for i in 0..60 {
        let seg = &segs[i % segs.len()];
        match http
            .get(format!("{lb}/media/{id}/{dir}/{seg}"))
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => assert_eq!(r.headers()["x-reel-node"], "node-b"),
            _ => failed += 1,
        }
    }
    assert_eq!(failed, 0, "viewers saw failures after a node died");
    drop(b);
}
