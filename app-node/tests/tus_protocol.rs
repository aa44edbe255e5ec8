//! The tus 1.0 endpoints of one node over real HTTP on loopback: discovery,
//! creation (with and without bytes), HEAD, PATCH with its guards (409
//! wrong offset, 423 locked, 410 expired, 413 too large, 412 wrong version,
//! 415 wrong type), another user's upload answering 404, a PATCH cut
//! mid-body keeping what arrived, termination, the sweeper removing expired
//! uploads, and a finished upload becoming a ready video through the normal
//! ingest job.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use common::{make_clip, serve, TestNode};
use reel_node::auth::{digest, new_secret};
use reel_node::catalog::Role;
use reqwest::{Client, Response};
use tokio::io::AsyncWriteExt;

const TUS: &str = "1.0.0";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

struct Api {
    http: Client,
    base: String,
    token: String,
}

impl Api {
    fn new(addr: SocketAddr, token: &str) -> Self {
        Api {
            http: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
            token: token.to_string(),
        }
    }

    async fn create(&self, length: u64, title: &str) -> Response {
        self.http
            .post(format!("{}/api/uploads", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .header("upload-length", length)
            .header(
                "upload-metadata",
                format!("title {},filename {}", b64(title), b64("clip.mp4")),
            )
            .send()
            .await
            .unwrap()
    }

    /// Creates an upload and returns its URL path and video id.
    async fn created(&self, length: u64) -> (String, String) {
        let r = self.create(length, "Resumable").await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["tus-resumable"], TUS);
        assert!(r.headers().contains_key("upload-expires"));
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let id = r.headers()["reel-video-id"].to_str().unwrap().to_string();
        assert_eq!(loc, format!("/api/uploads/{id}"));
        (loc, id)
    }

    async fn head(&self, loc: &str) -> Response {
        self.http
            .head(format!("{}{loc}", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .send()
            .await
            .unwrap()
    }

    async fn offset(&self, loc: &str) -> u64 {
        let r = self.head(loc).await;
        assert_eq!(r.status(), 200);
        r.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    async fn patch(&self, loc: &str, offset: u64, body: Vec<u8>) -> Response {
        self.http
            .patch(format!("{}{loc}", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .header("upload-offset", offset)
            .header("content-type", "application/offset+octet-stream")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn video(&self, id: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}/api/videos/{id}", self.base))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or_default())
    }
}

async fn code_of(r: Response) -> (u16, String) {
    let s = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    (s, v["error"]["code"].as_str().unwrap_or("").to_string())
}

async fn second_user(node: &TestNode) -> String {
    let c = &node.state.catalog;
    c.accounts
        .add_user("other", "hash", Role::Uploader)
        .await
        .unwrap();
    let token = new_secret();
    c.accounts
        .add_token("other", &digest(&token))
        .await
        .unwrap();
    token
}

async fn node(extra: &[(&str, &str)]) -> (TestNode, Api) {
    let mut pairs = vec![
        ("ingest.max_bytes", "50000000"),
        ("ingest.upload_lock_s", "2"),
        ("ingest.read_timeout_s", "2"),
    ];
    pairs.extend_from_slice(extra);
    let node = TestNode::new(&pairs).await;
    let addr = serve(&node).await;
    let api = Api::new(addr, &node.token);
    (node, api)
}

#[tokio::test]
async fn discovery_creation_and_the_request_guards() {
    let (node, api) = node(&[]).await;

    // OPTIONS needs no sign-in and names what is spoken.
    let r = api
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/uploads", api.base),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["tus-version"], TUS);
    assert_eq!(r.headers()["tus-resumable"], TUS);
    assert_eq!(r.headers()["tus-max-size"], "50000000");
    let ext = r.headers()["tus-extension"].to_str().unwrap();
    for e in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{ext}");
    }

    // Sign-in is required.
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .header("tus-resumable", TUS)
        .header("upload-length", 10)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.0, 401);

    // A wrong or missing protocol version: 412 with the version we speak.
    for v in [Some("0.2.2"), None] {
        let mut req = api
            .http
            .post(format!("{}/api/uploads", api.base))
            .bearer_auth(&api.token)
            .header("upload-length", 10);
        if let Some(v) = v {
            req = req.header("tus-resumable", v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["tus-version"], TUS);
        assert_eq!(code_of(r).await, (412, "tus-version".into()));
    }

    // Over ingest.max_bytes at creation: 413, and nothing is created.
    let r = api.create(50_000_001, "Too big").await;
    assert_eq!(code_of(r).await, (413, "too-large".into()));
    // A missing length, a bad length, bad metadata, no title: 400.
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (400, "missing-length".into()));
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-length", "-5")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (400, "bad-header".into()));
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-length", 10)
        .header("upload-metadata", "title !!notbase64")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (400, "bad-metadata".into()));
    let listed = node
        .state
        .catalog
        .videos
        .list(None, reel_node::catalog::StatusFilter::All, None, 1, 10)
        .await
        .unwrap();
    assert_eq!(listed.total, 0, "refused creations leave no video");

    // Created: the video shows `uploading` until the last byte.
    let (loc, id) = api.created(1000).await;
    let (s, v) = api.video(&id).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("uploading")), "{v}");
    assert_eq!(v["title"], "Resumable");
    let r = api.head(&loc).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["upload-offset"], "0");
    assert_eq!(r.headers()["upload-length"], "1000");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers()["upload-metadata"]
        .to_str()
        .unwrap()
        .starts_with("title "));

    // PATCH guards.
    let r = api.patch(&loc, 5, vec![1; 10]).await;
    assert_eq!(code_of(r).await, (409, "offset-mismatch".into()));
    let r = api
        .http
        .patch(format!("{}{loc}", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-offset", 0)
        .header("content-type", "application/octet-stream")
        .body(vec![1; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.0, 415);
    let r = api.patch(&loc, 0, vec![1; 1001]).await;
    assert_eq!(code_of(r).await, (413, "upload-too-long".into()));
    let r = api.patch(&loc, 0, vec![7; 400]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "400");
    assert_eq!(r.headers()["tus-resumable"], TUS);
    // The old offset is now a conflict.
    let r = api.patch(&loc, 0, vec![7; 400]).await;
    assert_eq!(code_of(r).await, (409, "offset-mismatch".into()));
    assert_eq!(api.offset(&loc).await, 400);
    // A body without Content-Length that runs past the declared length:
    // 413 once it does, and none of it is kept.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![3; 300]), Ok(vec![3; 301])];
    let r = api
        .http
        .patch(format!("{}{loc}", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-offset", 400)
        .header("content-type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (413, "upload-too-long".into()));
    assert_eq!(api.offset(&loc).await, 400);

    // Another user's upload does not exist for them.
    let other = Api {
        token: second_user(&node).await,
        http: api.http.clone(),
        base: api.base.clone(),
    };
    assert_eq!(other.head(&loc).await.status(), 404);
    let r = other.patch(&loc, 400, vec![1; 10]).await;
    assert_eq!(code_of(r).await, (404, "upload-not-found".into()));
    let r = other
        .http
        .delete(format!("{}{loc}", api.base))
        .bearer_auth(&other.token)
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(api.offset(&loc).await, 400);
    assert_eq!(api.head("/api/uploads/zz").await.status(), 404);

    // Termination removes the bytes and the video.
    let chunks = node.dir.path().join("media/uploads").join(&id);
    assert!(chunks.exists(), "chunks live in the shared store");
    let r = api
        .http
        .delete(format!("{}{loc}", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(api.head(&loc).await.status(), 404);
    assert_eq!(api.video(&id).await.0, 404);
    assert!(!chunks.exists());
}

/// Opens a raw PATCH whose body is `total` bytes long and sends `sent` of
/// them, leaving the connection open.
async fn open_patch(
    api: &Api,
    addr: SocketAddr,
    loc: &str,
    offset: u64,
    total: usize,
    sent: usize,
) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {total}\r\n\r\n",
        api.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![9u8; sent]).await.unwrap();
    s.flush().await.unwrap();
    s
}

async fn until<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = std::time::Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_patch_in_progress_locks_and_a_cut_one_keeps_its_bytes() {
    let (_node, api) = node(&[]).await;
    let addr: SocketAddr = api.base.trim_start_matches("http://").parse().unwrap();
    let (loc, _) = api.created(100_000).await;

    let conn = open_patch(&api, addr, &loc, 0, 50_000, 20_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A second writer at the same offset is told to wait, not let in.
    let r = api.patch(&loc, 0, vec![1; 100]).await;
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(code_of(r).await, (423, "upload-locked".into()));
    assert_eq!(api.offset(&loc).await, 0, "nothing recorded mid-body");

    // The connection drops mid-body: what arrived is kept, and no more.
    drop(conn);
    until(
        "the cut body to be recorded",
        Duration::from_secs(10),
        || async { api.offset(&loc).await == 20_000 },
    )
    .await;
    let r = api.patch(&loc, 20_000, vec![2; 80_000]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "100000");

    // A writer that stalls past the idle limit is cut off the same way, and
    // a lock whose holder vanished frees itself.
    let (loc2, _) = api.created(1000).await;
    let stalled = open_patch(&api, addr, &loc2, 0, 1000, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(api.patch(&loc2, 0, vec![1; 10]).await.status(), 423);
    std::mem::forget(stalled); // never closes: only the idle limit ends it
    until(
        "the stalled body to be recorded",
        Duration::from_secs(15),
        || async { api.offset(&loc2).await == 10 },
    )
    .await;
    assert_eq!(api.patch(&loc2, 10, vec![1; 90]).await.status(), 204);
}

#[tokio::test]
async fn expired_uploads_answer_410_and_are_swept_with_their_video() {
    let (node, api) = node(&[("ingest.upload_expire_s", "1")]).await;
    let (loc, id) = api.created(1000).await;
    assert_eq!(api.patch(&loc, 0, vec![1; 100]).await.status(), 204);
    let chunks = node.dir.path().join("media/uploads").join(&id);
    assert!(chunks.exists());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = api.patch(&loc, 100, vec![1; 100]).await;
    assert_eq!(code_of(r).await, (410, "upload-expired".into()));
    assert_eq!(api.head(&loc).await.status(), 410);

    let mut sweeper = reel_node::housekeeping::Sweeper::default();
    let report = reel_node::housekeeping::sweep_once(&node.state, &mut sweeper)
        .await
        .unwrap();
    assert_eq!(report.uploads.expired, 1, "{report:?}");
    assert!(!chunks.exists(), "the expired upload's chunks are gone");
    assert_eq!(api.video(&id).await.0, 404, "its video is gone");
    assert_eq!(api.head(&loc).await.status(), 404);
}

#[tokio::test]
async fn a_finished_upload_becomes_a_ready_video() {
    let (node, api) = node(&[]).await;
    let src = tempfile::tempdir().unwrap();
    let clip = src.path().join("c.mp4");
    make_clip(&clip, 320, 180, 3, true, &[]);
    let bytes = std::fs::read(&clip).unwrap();
    let len = bytes.len() as u64;

    // creation-with-upload: the first third rides on the POST.
    let third = bytes.len() / 3;
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-length", len)
        .header(
            "upload-metadata",
            format!("title {}", b64("Uploaded in parts")),
        )
        .header("content-type", "application/offset+octet-stream")
        .body(bytes[..third].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["upload-offset"], third.to_string().as_str());
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let id = r.headers()["reel-video-id"].to_str().unwrap().to_string();
    let r = api
        .patch(&loc, third as u64, bytes[third..2 * third].to_vec())
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(api.video(&id).await.1["status"], "uploading");
    let r = api
        .patch(&loc, 2 * third as u64, bytes[2 * third..].to_vec())
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], len.to_string().as_str());
    let v = api.video(&id).await.1;
    assert_eq!(v["status"], "queued", "{v}");
    assert!(
        !node.dir.path().join("media/uploads").join(&id).exists(),
        "chunks go once joined"
    );
    // A client that lost the last answer asks again and is told it is done.
    assert_eq!(api.offset(&loc).await, len);
    let r = api.patch(&loc, len, Vec::new()).await;
    assert_eq!(r.status(), 204);

    let v = node
        .process_until_settled(&id, Duration::from_secs(240))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
    assert_eq!(v["title"], "Uploaded in parts");
    assert_eq!(v["duration_s"].as_f64().map(|d| d.round()), Some(3.0));
}

#[tokio::test]
async fn upload_checksums_keep_only_bodies_with_that_digest() {
    use sha2::Digest;
    let (_node, api) = node(&[]).await;
    let (loc, _) = api.created(1000).await;
    let send = |body: Vec<u8>, at: u64, sum: String| {
        api.http
            .patch(format!("{}{loc}", api.base))
            .bearer_auth(&api.token)
            .header("tus-resumable", TUS)
            .header("upload-offset", at)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-checksum", sum)
            .body(body)
            .send()
    };
    let body = vec![4u8; 400];
    let sha256 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
    let sha1 = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&body));
    let wrong = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"x"));

    let r = send(body.clone(), 0, format!("sha256 {wrong}"))
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (460, "checksum-mismatch".into()));
    assert_eq!(api.offset(&loc).await, 0, "a mismatching body is not kept");
    let r = send(body.clone(), 0, format!("md5 {wrong}")).await.unwrap();
    assert_eq!(code_of(r).await, (400, "bad-checksum".into()));
    let r = send(body.clone(), 0, format!("sha256 {sha256}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = send(body.clone(), 400, format!("sha1 {sha1}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(api.offset(&loc).await, 800);
}

/// Fails every write under `uploads/` while `down` is set, like a store
/// that went away mid-PATCH.
struct FlakyStore {
    inner: std::sync::Arc<dyn reel_node::storage::MediaStore>,
    down: std::sync::atomic::AtomicBool,
}

impl FlakyStore {
    fn check(&self, key: &str) -> reel_node::storage::Result<()> {
        if key.starts_with("uploads/") && self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(reel_node::storage::StorageError::Io {
                key: key.into(),
                source: std::io::Error::other("the store is down"),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl reel_node::storage::MediaStore for FlakyStore {
    async fn ping(&self) -> reel_node::storage::Result<()> {
        self.inner.ping().await
    }
    async fn put_dir(&self, prefix: &str, dir: &std::path::Path) -> reel_node::storage::Result<()> {
        self.inner.put_dir(prefix, dir).await
    }
    async fn put_file(&self, key: &str, src: &std::path::Path) -> reel_node::storage::Result<()> {
        self.check(key)?;
        self.inner.put_file(key, src).await
    }
    async fn adopt_file(&self, key: &str, src: &std::path::Path) -> reel_node::storage::Result<()> {
        if let Err(e) = self.check(key) {
            let _ = std::fs::remove_file(src);
            return Err(e);
        }
        self.inner.adopt_file(key, src).await
    }
    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> reel_node::storage::Result<()> {
        self.check(key)?;
        self.inner.put_bytes(key, bytes).await
    }
    async fn get_bytes(&self, key: &str) -> reel_node::storage::Result<Vec<u8>> {
        self.inner.get_bytes(key).await
    }
    async fn fetch_to_file(
        &self,
        key: &str,
        dest: &std::path::Path,
    ) -> reel_node::storage::Result<()> {
        self.inner.fetch_to_file(key, dest).await
    }
    async fn size(&self, key: &str) -> reel_node::storage::Result<Option<u64>> {
        self.inner.size(key).await
    }
    async fn read(
        &self,
        key: &str,
        start: u64,
        len: u64,
    ) -> reel_node::storage::Result<reel_node::storage::ByteStream> {
        self.inner.read(key, start, len).await
    }
    async fn delete(&self, key: &str) -> reel_node::storage::Result<()> {
        self.inner.delete(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> reel_node::storage::Result<()> {
        self.inner.delete_prefix(prefix).await
    }
    async fn list(
        &self,
        prefix: &str,
    ) -> reel_node::storage::Result<Vec<reel_node::storage::ObjectInfo>> {
        self.inner.list(prefix).await
    }
    async fn presign_get(
        &self,
        key: &str,
        expires: Duration,
    ) -> reel_node::storage::Result<Option<String>> {
        self.inner.presign_get(key, expires).await
    }
}

#[tokio::test]
async fn bytes_the_store_did_not_keep_are_never_counted() {
    let mut node = TestNode::new(&[("ingest.upload_lock_s", "2")]).await;
    let flaky = std::sync::Arc::new(FlakyStore {
        inner: node.state.store.clone(),
        down: std::sync::atomic::AtomicBool::new(true),
    });
    node.replace_store(flaky.clone());
    let addr = serve(&node).await;
    let api = Api::new(addr, &node.token);
    let (loc, _) = api.created(1000).await;
    let r = api.patch(&loc, 0, vec![5; 300]).await;
    assert_eq!(
        r.status(),
        503,
        "a failed store write is a retryable failure"
    );
    let r = api.head(&loc).await;
    assert_eq!(
        r.headers()["upload-offset"],
        "0",
        "the offset names no unstored byte"
    );
    // The failed PATCH released the lock: the retry goes straight in.
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let r = api.patch(&loc, 0, vec![5; 300]).await;
    assert_eq!(r.status(), 204);
    assert_eq!(api.offset(&loc).await, 300);
}
