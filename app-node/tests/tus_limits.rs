//! Limits of resumable uploads: open uploads per user, an absolute lifetime,
//! chunks per upload, a minimum rate for PATCH bodies, videos still
//! uploading shown to their owner only, and first bytes refused at creation
//! saying why.

mod common;

use std::time::{Duration, Instant};

use common::tus::{code_of, node, TUS};
use tokio::io::AsyncWriteExt;

fn expires_in(r: &reqwest::Response) -> Duration {
    let h = r.headers()["upload-expires"].to_str().unwrap();
    let at = httpdate::parse_http_date(h).unwrap();
    at.duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
}

#[tokio::test]
async fn open_uploads_are_capped_and_listed_to_their_owner_only() {
    let (_node, api) = node(&[
        ("ingest.max_open_uploads", "2"),
        ("ingest.upload_max_life_s", "5"),
    ])
    .await;
    let (loc, id) = api.created(10).await;
    api.created(10).await;
    let r = api.create(10, "Third").await;
    let (status, code) = code_of(r).await;
    assert_eq!((status, code.as_str()), (429, "too-many-uploads"));

    // The lifetime from creation caps the expiry, PATCH or not.
    let r = api.head(&loc).await;
    assert!(
        expires_in(&r) <= Duration::from_secs(5),
        "{:?}",
        expires_in(&r)
    );
    let r = api.patch(&loc, 0, vec![1; 4]).await;
    assert_eq!(r.status(), 204);
    assert!(expires_in(&r) <= Duration::from_secs(5));

    // Nobody else sees it: not listed, not found by id.
    let anon = reqwest::Client::new();
    let list: serde_json::Value = anon
        .get(format!("{}/api/videos", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0, "{list}");
    let r = anon
        .get(format!("{}/api/videos/{id}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let home = anon.get(format!("{}/", api.base)).send().await.unwrap();
    assert!(!home.text().await.unwrap().contains("Resumable"));
    // Its owner does.
    assert_eq!(api.video(&id).await.0, 200);
    let mine: serde_json::Value = api
        .http
        .get(format!("{}/api/videos?mine=1", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["total"], 2, "{mine}");
}

#[tokio::test]
async fn the_last_chunk_allowed_must_finish_the_upload() {
    let (_node, api) = node(&[("ingest.max_upload_chunks", "3")]).await;
    let (loc, id) = api.created(10).await;
    assert_eq!(api.patch(&loc, 0, vec![1]).await.status(), 204);
    assert_eq!(api.patch(&loc, 1, vec![2]).await.status(), 204);
    let (status, code) = code_of(api.patch(&loc, 2, vec![3]).await).await;
    assert_eq!((status, code.as_str()), (413, "too-many-chunks"));
    assert_eq!(api.offset(&loc).await, 2);
    assert_eq!(api.patch(&loc, 2, vec![3; 8]).await.status(), 204);
    assert_eq!(api.settled(&id).await["status"], "queued");
}

#[tokio::test]
async fn a_trickling_body_is_cut_at_the_minimum_rate() {
    let (_node, api) = node(&[
        ("ingest.read_timeout_s", "1"),
        ("ingest.upload_min_rate", "50000"),
    ])
    .await;
    let (loc, _) = api.created(100_000).await;
    let addr = api.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         tus-resumable: {TUS}\r\nupload-offset: 0\r\n\
         content-type: application/offset+octet-stream\r\ncontent-length: 100000\r\n\r\n",
        api.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // 1000 bytes every 200 ms: never idle for a second, 5 KB/s on average.
    let t = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            if s.write_all(&[7u8; 1000]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // Cut soon after the idle limit: what arrived is kept and the lock is
    // free while the sender is still at it.
    let kept = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let o = api.offset(&loc).await;
        if o > 0 {
            break o;
        }
        assert!(t.elapsed() < Duration::from_secs(6), "never cut");
    };
    assert!(kept < 100_000);
    assert_eq!(api.patch(&loc, kept, vec![1; 10]).await.status(), 204);
    trickle.abort();
}

#[tokio::test]
async fn refused_first_bytes_say_why() {
    let (_node, api) = node(&[]).await;
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-length", 10)
        .header("upload-metadata", "title VA")
        .header("content-type", "application/offset+octet-stream")
        .body(vec![1u8; 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["upload-offset"], "0");
    assert_eq!(r.headers()["reel-upload-error"], "upload-too-long");
}
