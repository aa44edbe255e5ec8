//! Deleting a video empties the balancers' edge caches of it: the node
//! calls the balancer's `POST /purge/{id}` with the shared admin token, and
//! a segment that was a cache hit a moment before is a 404 afterwards.
//! Without the purge (no `edge.purge_urls`), the cache would go on serving
//! the deleted file, which the second half of the test shows.

mod common;

use std::time::{Duration, Instant};

use common::procs::{free_port, import_clip_owned, start_with, token, Balancer};

const ADMIN_TOKEN: &str = "edge-purge-test-token-0123";

/// A segment URL of the video, learnt through the balancer.
async fn segment_url(http: &reqwest::Client, lb: &str, id: &str) -> String {
    let r = http
        .get(format!("{lb}/media/{id}/master.m3u8"))
        .send()
        .await
        .unwrap();
    let master_url = r.url().clone();
    let master = r.text().await.unwrap();
    let rung = master
        .lines()
        .find(|l| l.ends_with(".m3u8") && !l.starts_with('#'))
        .unwrap();
    let rung_url = master_url.join(rung).unwrap();
    let pl = http
        .get(rung_url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seg = pl.lines().find(|l| l.ends_with(".m4s")).unwrap();
    rung_url.join(seg).unwrap().to_string()
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    let cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), cache)
}

/// Imports a clip, caches one of its segments through a fresh balancer,
/// deletes the video through the API, and returns the segment's answer
/// after the delete.
async fn cached_then_deleted(purge: bool) -> (u16, String) {
    let data = tempfile::tempdir().unwrap();
    // The uploader's own video, so their token may delete it.
    let api_token = token(data.path());
    let id = import_clip_owned(data.path(), 320, 180, 4, false, "Purged", Some("tester"));

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // The node is told the balancer's admin URL at start, so that port is
    // reserved first.
    let admin = free_port();
    let purge_url = format!("http://127.0.0.1:{admin}");
    let mut env = vec![("REEL_EDGE__PURGE_TOKEN", ADMIN_TOKEN)];
    if purge {
        env.push(("REEL_EDGE__PURGE_URLS", purge_url.as_str()));
    }
    let node = start_with(data.path(), "node-a", &env, &[]);
    let (bal, _) = Balancer::start_on(&[&node.base], &[("REEL_ADMIN__TOKEN", ADMIN_TOKEN)], admin);

    let seg = segment_url(&http, &bal.base, &id).await;
    assert_eq!(get(&http, &seg).await, (200, "MISS".into()));
    assert_eq!(get(&http, &seg).await, (200, "HIT".into()));

    let r = http
        .delete(format!("{}/api/videos/{id}", bal.base))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // The purge is sent off the request path; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = get(&http, &seg).await;
        if got.0 != 200 || Instant::now() > deadline {
            drop(bal);
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn deleting_a_video_purges_it_from_the_edge_cache() {
    let (status, cache) = cached_then_deleted(true).await;
    assert_eq!(status, 404, "deleted video still served ({cache})");
    assert_ne!(cache, "HIT");
}

#[tokio::test]
async fn without_the_purge_the_cache_would_serve_the_deleted_file() {
    // The control: shows the purge above is what makes the difference.
    let (status, cache) = cached_then_deleted(false).await;
    assert_eq!((status, cache.as_str()), (200, "HIT"));
}
