//! What the tus endpoints keep: only bodies with the digest named in
//! `Upload-Checksum` (sha1, sha256), never an offset that names bytes the
//! media store failed to keep, and an upload whose finishing step stopped
//! is finished by the sweeper.

mod common;

use std::time::Duration;

use base64::Engine;
use common::tus::{code_of, node, Api, TUS};
use common::{serve, TestNode};

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

#[tokio::test]
async fn the_sweeper_finishes_an_upload_whose_last_step_stopped() {
    use reel_node::catalog::{staged_key, Chunk, LockOutcome, VideoStatus};
    let (node, api) = node(&[]).await;
    let (loc, id) = api.created(6).await;
    // Every byte recorded, then the node died before joining them: the
    // state a crash between the last PATCH and its finishing step leaves.
    let c = &node.state.catalog;
    let LockOutcome::Locked(l) = c
        .uploads
        .lock_upload(&id, 0, Duration::from_secs(30))
        .await
        .unwrap()
    else {
        panic!("no lock")
    };
    let key = format!("uploads/{id}/{:020}-{}", 0, l.token);
    node.state.store.put_bytes(&key, b"abcdef").await.unwrap();
    let part = Chunk {
        start: 0,
        end: 6,
        key,
    };
    assert!(c
        .uploads
        .advance_upload(
            &l,
            &part,
            Duration::from_secs(3600),
            Duration::from_secs(86400)
        )
        .await
        .unwrap());
    assert_eq!(api.offset(&loc).await, 6);
    assert_eq!(api.video(&id).await.1["status"], "uploading");

    let mut sweeper = reel_node::housekeeping::Sweeper::default();
    let report = reel_node::housekeeping::sweep_once(&node.state, &mut sweeper)
        .await
        .unwrap();
    assert_eq!(report.uploads.finished, 1, "{report:?}");
    let v = c.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Queued);
    assert_eq!(
        node.state.store.get_bytes(&staged_key(&id)).await.unwrap(),
        b"abcdef"
    );
    assert!(node
        .state
        .store
        .list(&format!("uploads/{id}"))
        .await
        .unwrap()
        .is_empty());
    // Done, not finished twice.
    let again = reel_node::housekeeping::sweep_once(&node.state, &mut sweeper)
        .await
        .unwrap();
    assert_eq!(again.uploads.finished, 0);
}

#[tokio::test]
async fn racing_patches_at_one_offset_record_exactly_one_body() {
    use reel_node::catalog::staged_key;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (node, api) = node(&[]).await;
    let api = std::sync::Arc::new(api);
    let (loc, id) = api.created(200_000).await;
    // The first body is held open half-way, so the others surely race it
    // rather than run after it.
    let addr = api.base.trim_start_matches("http://").to_string();
    let mut first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         tus-resumable: 1.0.0\r\nupload-offset: 0\r\nconnection: close\r\n\
         content-type: application/offset+octet-stream\r\ncontent-length: 200000\r\n\r\n",
        api.token
    );
    first.write_all(head.as_bytes()).await.unwrap();
    first.write_all(&[100u8; 100_000]).await.unwrap();
    first.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Seven clients send different bodies for the same bytes meanwhile.
    let mut racers = Vec::new();
    for i in 0..7u8 {
        let (api, loc) = (api.clone(), loc.clone());
        racers.push(tokio::spawn(async move {
            let r = api.patch(&loc, 0, vec![i; 200_000]).await;
            (i, r.status().as_u16())
        }));
    }
    for r in racers {
        let (i, status) = r.await.unwrap();
        assert_eq!(
            status, 423,
            "racer {i} got in while the first body was open"
        );
    }
    first.write_all(&[100u8; 100_000]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), first.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(api.offset(&loc).await, 200_000);
    assert_eq!(api.settled(&id).await["status"], "queued");
    let staged = node.state.store.get_bytes(&staged_key(&id)).await.unwrap();
    assert!(
        staged.iter().all(|b| *b == 100),
        "the stored file mixes bodies"
    );
    assert_eq!(code_of(api.patch(&loc, 0, vec![1]).await).await.0, 409);
}
