//! Range requests and HEAD against a node with one real published video
//! (real ffmpeg, SQLite, local store), driven through the router.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::TestNode;
use reel_node::storage::{ByteStream, MediaStore, ObjectInfo, Result as StoreResult};

/// One published video and where its files are.
struct Published {
    node: TestNode,
    id: String,
    /// `/media/{id}/{version}/`.
    base: String,
    /// The version directory on disk.
    dir: PathBuf,
}

async fn publish() -> Published {
    let node = TestNode::new(&[]).await;
    let v = node.publish_clip(320, 240, 2, true).await;
    let id = v["id"].as_str().unwrap().to_string();
    let base = v["hls_url"]
        .as_str()
        .unwrap()
        .trim_end_matches("master.m3u8")
        .to_string();
    let ver = base.trim_end_matches('/').rsplit('/').next().unwrap();
    let dir = node.dir.path().join("media").join(&id).join(ver);
    Published {
        node,
        id,
        base,
        dir,
    }
}

async fn send(
    node: &TestNode,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    node.call(req.body(Body::empty()).unwrap()).await
}

/// A segment of the published video and its bytes on disk.
fn segment(p: &Published) -> (String, Vec<u8>) {
    let rung = std::fs::read_dir(&p.dir)
        .unwrap()
        .flatten()
        .find(|e| e.path().join("index.m3u8").exists())
        .expect("a rung directory")
        .file_name()
        .into_string()
        .unwrap();
    let playlist = std::fs::read_to_string(p.dir.join(&rung).join("index.m3u8")).unwrap();
    let name = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a segment line");
    let bytes = std::fs::read(p.dir.join(&rung).join(name)).unwrap();
    assert!(bytes.len() > 1000, "segment too small to slice");
    (format!("{}{rung}/{name}", p.base), bytes)
}

#[tokio::test]
async fn ranges_on_a_stored_segment() {
    let p = publish().await;
    let (uri, file) = segment(&p);
    let len = file.len();
    let get = |range: String| {
        let (node, uri) = (&p.node, uri.clone());
        async move { send(node, "GET", &uri, &[("range", range.as_str())]).await }
    };
    let partial = |h: &HeaderMap, b: &[u8], start: usize, end: usize| {
        assert_eq!(h["content-range"], format!("bytes {start}-{end}/{len}"));
        assert_eq!(h["content-length"], (end - start + 1).to_string());
        assert_eq!(b, &file[start..=end]);
    };
    let refused = |s: StatusCode, h: &HeaderMap, b: &[u8]| {
        assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(h["content-range"], format!("bytes */{len}"));
        assert!(b.is_empty());
    };

    let (s, h, b) = send(&p.node, "GET", &uri, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(b, file);

    let (s, h, b) = get("bytes=0-99".into()).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    partial(&h, &b, 0, 99);
    let (_, h, b) = get("bytes=-10".into()).await;
    partial(&h, &b, len - 10, len - 1);
    let (_, h, b) = get(format!("bytes={}-", len - 3)).await;
    partial(&h, &b, len - 3, len - 1);
    // Several ranges: the first satisfiable one, as a single part.
    let (s, h, b) = get(format!("bytes={len}-,50-59,0-9")).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h["content-type"], "video/mp4");
    partial(&h, &b, 50, 59);
    // Overlapping repeats never send the bytes twice.
    let (_, h, b) = get(format!("bytes={}", vec!["0-"; 16].join(","))).await;
    partial(&h, &b, 0, len - 1);
    // Past u64: a last position clamps, a first position is past the end.
    let (_, h, b) = get("bytes=100-99999999999999999999999".into()).await;
    partial(&h, &b, 100, len - 1);
    let (s, h, b) = get("bytes=99999999999999999999999-".into()).await;
    refused(s, &h, &b);

    for bad in [
        format!("bytes={len}-"),
        "bytes=-0".into(),
        "bytes=9-2".into(),
        "bytes=abc".into(),
        format!("bytes={}", vec!["0-0"; 17].join(",")),
        format!("bytes={}", vec!["0-0"; 30_000].join(",")),
    ] {
        let (s, h, b) = get(bad).await;
        refused(s, &h, &b);
    }
    // Another unit is ignored: the whole file.
    let (s, _, b) = get("items=0-1".into()).await;
    assert_eq!((s, b.len()), (StatusCode::OK, len));
}

/// Counts reads of object bodies; everything else goes to the real store.
struct CountingStore {
    inner: Arc<dyn MediaStore>,
    reads: AtomicUsize,
}

#[async_trait]
impl MediaStore for CountingStore {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn put_dir(&self, prefix: &str, dir: &std::path::Path) -> StoreResult<()> {
        self.inner.put_dir(prefix, dir).await
    }
    async fn put_file(&self, key: &str, src: &std::path::Path) -> StoreResult<()> {
        self.inner.put_file(key, src).await
    }
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> StoreResult<()> {
        self.inner.put_bytes(key, bytes).await
    }
    async fn get_bytes(&self, key: &str) -> StoreResult<Vec<u8>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_bytes(key).await
    }
    async fn fetch_to_file(&self, key: &str, dest: &std::path::Path) -> StoreResult<()> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch_to_file(key, dest).await
    }
    async fn size(&self, key: &str) -> StoreResult<Option<u64>> {
        self.inner.size(key).await
    }
    async fn read(&self, key: &str, start: u64, len: u64) -> StoreResult<ByteStream> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(key, start, len).await
    }
    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.inner.delete(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> StoreResult<()> {
        self.inner.delete_prefix(prefix).await
    }
    async fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
        self.inner.list(prefix).await
    }
    async fn presign_get(&self, key: &str, expires: Duration) -> StoreResult<Option<String>> {
        self.inner.presign_get(key, expires).await
    }
}

/// Headers a HEAD must repeat from the GET.
const COMPARED: &[&str] = &[
    "content-length",
    "content-type",
    "etag",
    "accept-ranges",
    "content-range",
    "cache-control",
    "location",
];

#[tokio::test]
async fn head_matches_get_on_every_get_route() {
    let mut p = publish().await;
    let counting = Arc::new(CountingStore {
        inner: p.node.state.store.clone(),
        reads: AtomicUsize::new(0),
    });
    p.node.replace_store(counting.clone());
    let (seg, _) = segment(&p);
    let rung_playlist = format!("{}index.m3u8", seg.rsplit_once('/').unwrap().0);
    let id = &p.id;
    let media = [
        format!("{}master.m3u8", p.base),
        rung_playlist,
        seg.clone(),
        format!("{}poster.jpg", p.base),
        format!("{}nope.m4s", p.base),
    ];
    let mut cases: Vec<(String, Vec<(&str, &str)>)> = [
        "/".to_string(),
        "/?q=Ranges".into(),
        format!("/watch/{id}"),
        "/watch/0123456789abcdef".into(),
        "/login".into(),
        "/upload".into(),
        "/api/videos".into(),
        format!("/api/videos/{id}"),
        "/api/videos/0123456789abcdef".into(),
        // Unversioned: answered with a redirect to the current version.
        format!("/media/{id}/master.m3u8"),
        "/static/style.css".into(),
        "/static/hls.min.js".into(),
        "/static/nope.js".into(),
        "/healthz".into(),
        "/readyz".into(),
        "/metrics".into(),
        "/no/such/route".into(),
    ]
    .into_iter()
    .chain(media.iter().cloned())
    .map(|u| (u, vec![]))
    .collect();
    cases.push((seg.clone(), vec![("range", "bytes=10-19")]));
    cases.push((seg.clone(), vec![("range", "bytes=99999999-")]));

    for (uri, headers) in &cases {
        let (gs, gh, gb) = send(&p.node, "GET", uri, headers).await;
        let reads_before = counting.reads.load(Ordering::SeqCst);
        let (hs, hh, hb) = send(&p.node, "HEAD", uri, headers).await;
        let what = format!("HEAD {uri} {headers:?}");
        assert_eq!(hs, gs, "{what}: status");
        assert!(hb.is_empty(), "{what}: HEAD sent a body");
        // Playlists are small and read whole: the current master is
        // completed from the catalog, and a media playlist's cache policy
        // depends on whether it has ended.
        if uri.starts_with("/media/") && !uri.ends_with(".m3u8") {
            assert_eq!(
                counting.reads.load(Ordering::SeqCst),
                reads_before,
                "{what}: HEAD read the object"
            );
        }
        for name in COMPARED {
            // Metrics count every request, this HEAD included: the text
            // (and so its length) changes between any two scrapes.
            if uri == "/metrics" && *name == "content-length" {
                assert!(hh.contains_key(*name), "{what}: no content-length");
                continue;
            }
            assert_eq!(hh.get(*name), gh.get(*name), "{what}: {name}");
        }
        if gs.is_success() {
            assert!(
                gh.contains_key("content-type"),
                "GET {uri}: no content-type"
            );
            if let Some(n) = gh.get("content-length") {
                assert_eq!(n.to_str().unwrap(), gb.len().to_string(), "GET {uri}");
            }
        }
    }
    assert!(
        counting.reads.load(Ordering::SeqCst) > 0,
        "GETs read objects"
    );

    // A conditional request for an asset gets the same 304 either way.
    let (_, h, _) = send(&p.node, "GET", "/static/style.css", &[]).await;
    let tag = h["etag"].to_str().unwrap().to_string();
    for m in ["GET", "HEAD"] {
        let (s, h, b) = send(&p.node, m, "/static/style.css", &[("if-none-match", &tag)]).await;
        assert_eq!((s, b.len()), (StatusCode::NOT_MODIFIED, 0), "{m}");
        assert_eq!(h["etag"], tag.as_str(), "{m}: a 304 repeats the validator");
    }
}

#[tokio::test]
async fn head_of_assets_served_from_web_dir() {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    let node = TestNode::new(&[("web_dir", web.to_str().unwrap())]).await;
    for uri in ["/static/style.css", "/static/hls.min.js", "/static/nope.js"] {
        let (gs, gh, gb) = send(&node, "GET", uri, &[]).await;
        let (hs, hh, hb) = send(&node, "HEAD", uri, &[]).await;
        assert_eq!(hs, gs, "{uri}");
        assert!(hb.is_empty(), "{uri}");
        for name in COMPARED {
            assert_eq!(hh.get(*name), gh.get(*name), "{uri}: {name}");
        }
        if gs == StatusCode::OK {
            assert_eq!(gh["content-length"], gb.len().to_string(), "{uri}");
        }
    }
}
