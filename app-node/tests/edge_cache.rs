//! The balancer's edge cache in front of real nodes on loopback: a crowd on
//! one segment costs the nodes one request, ranges and query strings are
//! answered from one stored object, and nothing but versioned media is
//! ever served from the cache. Node requests are counted per exact path
//! from each node's access log, balancer-side from its `/metrics`.
//! Needs the workspace's binaries (`cargo build --workspace --bins`).

mod common;

use std::time::Duration;

use common::make_clip;
use common::procs::{cli, metric, metric_sum, start_logged, Balancer, LoggedNode};
use sha2::{Digest, Sha256};

/// Two logged nodes over one imported clip, behind one balancer.
struct Cluster {
    _data: tempfile::TempDir,
    nodes: Vec<LoggedNode>,
    lb: Balancer,
    admin: String,
    id: String,
    /// Versioned paths of the clip's media segments, e.g.
    /// `/media/{id}/v…/180p/seg_00001.m4s`.
    segments: Vec<String>,
    /// Versioned path of the master playlist.
    master: String,
    http: reqwest::Client,
}

impl Cluster {
    async fn start(balancer_env: &[(&str, &str)]) -> Cluster {
        let data = tempfile::tempdir().unwrap();
        let clip = data.path().join("in.mp4");
        // 32 s at 4 s per segment: enough distinct, never-fetched segments
        // for every case below.
        make_clip(&clip, 320, 180, 32, true, &[]);
        let (code, out, err) = cli(
            data.path(),
            &["import", clip.to_str().unwrap(), "--title", "Edge"],
            "",
        );
        assert_eq!(code, 0, "{err}");
        let id = out.trim().to_string();
        let nodes = vec![
            start_logged(data.path(), "node-a", &[]),
            start_logged(data.path(), "node-b", &[]),
        ];
        let bases: Vec<&str> = nodes.iter().map(|n| n.base()).collect();
        let (lb, admin) = Balancer::start_with(&bases, balancer_env);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut c = Cluster {
            _data: data,
            nodes,
            lb,
            admin,
            id,
            segments: Vec::new(),
            master: String::new(),
            http,
        };
        c.learn_segments().await;
        c
    }

    /// Reads the master and rung playlists (as a player would) to find the
    /// versioned segment paths, without touching any segment.
    async fn learn_segments(&mut self) {
        let r = self
            .http
            .get(format!("{}/media/{}/master.m3u8", self.lb.base, self.id))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        self.master = r.url().path().to_string();
        let dir = self.master.rsplit_once('/').unwrap().0.to_string();
        assert!(dir.contains("/v"), "master not versioned: {}", self.master);
        let text = r.text().await.unwrap();
        for rung in text
            .lines()
            .filter(|l| l.ends_with(".m3u8") && !l.starts_with('#'))
        {
            let rung_path = format!("{dir}/{rung}");
            let rung_dir = rung_path.rsplit_once('/').unwrap().0.to_string();
            let pl = self.get(&rung_path, &[]).await.2;
            let pl = String::from_utf8(pl).unwrap();
            self.segments.extend(
                pl.lines()
                    .filter(|l| l.ends_with(".m4s"))
                    .map(|s| format!("{rung_dir}/{s}")),
            );
        }
        assert!(self.segments.len() >= 8, "{:?}", self.segments);
    }

    /// GET through the balancer: status, `X-Cache`, body, and headers.
    async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, Vec<u8>, reqwest::header::HeaderMap) {
        let mut req = self.http.get(format!("{}{path}", self.lb.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let cache = r
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let h = r.headers().clone();
        (status, cache, r.bytes().await.unwrap().to_vec(), h)
    }

    /// Requests for exactly `path` that reached any node, once the nodes'
    /// logs have caught up with the responses already received.
    async fn node_requests(&self, path: &str) -> usize {
        // A node logs a response before its body is sent, so by the time the
        // client has the body the line is written; the pause covers the
        // pipe to the reader thread.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.nodes.iter().map(|n| n.requests_for(path)).sum()
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn sha(body: &[u8]) -> String {
    format!("{:x}", Sha256::digest(body))
}

fn cache_count(metrics: &str, result: &str) -> f64 {
    metric(
        metrics,
        &format!("reel_balancer_cache_requests_total{{result=\"{result}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_costs_the_nodes_one_request_per_file_and_only_media_is_cached() {
    let c = Cluster::start(&[]).await;
    let seg = c.segments[0].clone();
    assert_eq!(c.node_requests(&seg).await, 0);

    // 200 connections opened beforehand, so the 200 segment requests
    // arrive together rather than as fast as connections can be made.
    let warm: Vec<_> = (0..200)
        .map(|_| {
            let (http, url) = (c.http.clone(), format!("{}/healthz", c.lb.base));
            tokio::spawn(async move { http.get(url).send().await.unwrap().status() })
        })
        .collect();
    for w in warm {
        assert_eq!(w.await.unwrap(), 200);
    }
    let before = c.metrics().await;
    let crowd: Vec<_> = (0..200)
        .map(|_| {
            let (http, url) = (c.http.clone(), format!("{}{seg}", c.lb.base));
            tokio::spawn(async move {
                let r = http.get(url).send().await.unwrap();
                let status = r.status().as_u16();
                (status, sha(&r.bytes().await.unwrap()))
            })
        })
        .collect();
    let mut hashes = std::collections::HashSet::new();
    for t in crowd {
        let (status, hash) = t.await.unwrap();
        assert_eq!(status, 200);
        hashes.insert(hash);
    }
    assert_eq!(hashes.len(), 1, "the crowd got different bodies");
    assert_eq!(c.node_requests(&seg).await, 1, "node requests for {seg}");
    let after = c.metrics().await;
    let delta = |f: &dyn Fn(&str) -> f64| f(&after) - f(&before);
    let upstream = |m: &str| metric_sum(m, "reel_balancer_upstream_requests_total", &[]);
    assert_eq!(delta(&upstream), 1.0, "balancer attempts for the crowd");
    assert_eq!(delta(&|m| cache_count(m, "miss")), 1.0);
    assert_eq!(
        delta(&|m| cache_count(m, "hit") + cache_count(m, "coalesced")),
        199.0
    );
    let (status, cache, body, _) = c.get(&seg, &[]).await;
    assert_eq!((status, cache.as_str()), (200, "HIT"));
    let full = body;
    assert!(hashes.contains(&sha(&full)));

    // A range of the cached object is cut from the cache.
    let (status, cache, part, h) = c.get(&seg, &[("range", "bytes=100-199")]).await;
    assert_eq!((status, cache.as_str()), (206, "HIT"));
    assert_eq!(part, full[100..200]);
    assert_eq!(
        h["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{}", full.len())
    );
    assert_eq!(c.node_requests(&seg).await, 1);

    // A range of an object not yet cached goes to the node as it is (the
    // viewer gets exactly its range), and the next full GET, on the same
    // kept-alive connection, fills the cache; a HEAD the same. Had the range
    // filled the cache, the viewer would have its answer while the balancer
    // still read the rest of the file, and a next request sent at once on
    // the same connection could be dropped with it. That was a race, so it
    // is run on several files.
    let one_conn = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for seg2 in &c.segments[3..8] {
        let url = format!("{}{seg2}", c.lb.base);
        let r = one_conn
            .get(&url)
            .header("range", "bytes=100-199")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        let range = r.headers()["content-range"].to_str().unwrap().to_string();
        let part = r.bytes().await.unwrap();
        assert_eq!(part.len(), 100);
        let total: usize = range
            .strip_prefix("bytes 100-199/")
            .expect("content-range of the asked range")
            .parse()
            .unwrap();
        let head =
            one_conn.head(&url).send().await.unwrap_or_else(|e| {
                panic!("request after a range of an uncached file failed: {e:?}")
            });
        assert_eq!(head.status(), 200);
        let r =
            one_conn.get(&url).send().await.unwrap_or_else(|e| {
                panic!("request after a HEAD of an uncached file failed: {e:?}")
            });
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-cache"], "MISS", "{seg2}");
        let whole = r.bytes().await.unwrap();
        assert_eq!(whole.len(), total);
        assert_eq!(part, whole[100..200]);
        let r = one_conn.get(&url).send().await.unwrap();
        assert_eq!(r.headers()["x-cache"], "HIT", "{seg2} not stored whole");
        assert_eq!(r.bytes().await.unwrap(), whole);
        // The range, the HEAD and the filling GET: three node requests,
        // none after that.
        assert_eq!(c.node_requests(seg2).await, 3, "{seg2}");
    }

    // Query strings do not split the cache.
    let seg3 = c.segments[2].clone();
    let (s1, _, b1, _) = c.get(&format!("{seg3}?x=1"), &[]).await;
    let (s2, cache2, b2, _) = c.get(&format!("{seg3}?x=2"), &[]).await;
    assert_eq!((s1, s2, cache2.as_str()), (200, 200, "HIT"));
    assert_eq!(b1, b2);
    assert_eq!(c.node_requests(&seg3).await, 1);

    // Pages, the API and the unversioned master (a redirect) are never hits.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let unversioned = format!("/media/{}/master.m3u8", c.id);
    for path in ["/", "/api/videos", unversioned.as_str()] {
        let before = c.node_requests(path).await;
        for _ in 0..3 {
            let r = no_redirect
                .get(format!("{}{path}", c.lb.base))
                .send()
                .await
                .unwrap();
            let want = if path == unversioned { 302 } else { 200 };
            assert_eq!(r.status(), want, "{path}");
            assert_eq!(r.headers()["x-cache"], "MISS", "{path}");
        }
        assert_eq!(c.node_requests(path).await - before, 3, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_off_every_get_reaches_a_node() {
    let c = Cluster::start(&[("REEL_CACHE__ENABLED", "false")]).await;
    let seg = c.segments[0].clone();
    let mut hashes = std::collections::HashSet::new();
    for _ in 0..20 {
        let (status, cache, body, _) = c.get(&seg, &[]).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"));
        hashes.insert(sha(&body));
    }
    assert_eq!(hashes.len(), 1);
    assert_eq!(c.node_requests(&seg).await, 20);
    let m = c.metrics().await;
    assert_eq!(cache_count(&m, "hit") + cache_count(&m, "coalesced"), 0.0);
}

/// Players on other sites read media through the balancer: the node's
/// CORS headers survive the edge cache (a stored answer keeps them on every
/// hit), and a preflight (OPTIONS, never cached) reaches a node and comes
/// back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_survive_the_cache_and_preflights_reach_a_node() {
    let c = Cluster::start(&[]).await;
    let seg = c.segments[0].clone();
    let origin = [("origin", "http://other.example")];
    for want in ["MISS", "HIT", "HIT"] {
        let (status, cache, _, h) = c.get(&seg, &origin).await;
        assert_eq!((status, cache.as_str()), (200, want), "{seg}");
        assert_eq!(h["access-control-allow-origin"], "*", "{want}");
        assert_eq!(
            h["access-control-expose-headers"],
            "Content-Length, Content-Range, Accept-Ranges"
        );
    }
    // A range answered from the stored object keeps them too.
    let (status, cache, body, h) = c.get(&seg, &[("range", "bytes=0-99"), origin[0]]).await;
    assert_eq!((status, cache.as_str(), body.len()), (206, "HIT", 100));
    assert_eq!(h["access-control-allow-origin"], "*");
    // The master playlist, which carries the admission cookie.
    let (status, _, _, h) = c.get(&c.master, &origin).await;
    assert_eq!(status, 200);
    assert_eq!(h["access-control-allow-origin"], "*");

    let before = c.node_requests(&seg).await;
    for _ in 0..2 {
        let r = c
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{seg}", c.lb.base))
            .header("origin", "http://other.example")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "range")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let h = r.headers();
        assert_eq!(h["x-cache"], "MISS", "a preflight is never a cache hit");
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(h["access-control-allow-methods"], "GET, HEAD, OPTIONS");
        assert_eq!(h["access-control-allow-headers"], "Range");
        assert_eq!(h["access-control-max-age"], "600");
    }
    assert_eq!(
        c.node_requests(&seg).await - before,
        2,
        "both preflights reached a node"
    );
}
