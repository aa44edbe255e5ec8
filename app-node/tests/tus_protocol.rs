//! The tus 1.0 endpoints of one node over real HTTP on loopback: discovery,
//! creation (with and without bytes), HEAD, PATCH with its guards (409
//! wrong offset, 423 locked, 410 expired, 413 too large, 412 wrong version,
//! 415 wrong type), another user's upload answering 404, sessions needing
//! their CSRF token, pages showing `uploading`, a PATCH cut
//! mid-body keeping what arrived, termination, the sweeper removing expired
//! uploads, and a finished upload becoming a ready video through the normal
//! ingest job. Checksums and store failures are in `tus_integrity.rs`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::make_clip;
use common::tus::{b64, code_of, node, second_user, Api, TUS};
use tokio::io::AsyncWriteExt;

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
    // Neither a title nor a file name to name the video by.
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-length", 10)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await.0, 400);
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
    let v = api.settled(&id).await;
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
async fn a_signed_in_browser_needs_its_csrf_token_and_pages_show_uploading() {
    let (node, api) = node(&[]).await;
    let c = &node.state.catalog;
    let user = c.accounts.user("tester").await.unwrap().unwrap();
    c.accounts
        .add_session(
            &reel_node::auth::digest("sid-1"),
            user.id,
            "csrf-1",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let post = |csrf: Option<&str>| {
        let mut r = api
            .http
            .post(format!("{}/api/uploads", api.base))
            .header("cookie", "reel_session=sid-1")
            .header("tus-resumable", TUS)
            .header("upload-length", 10)
            .header("upload-metadata", format!("title {}", b64("From a page")));
        if let Some(t) = csrf {
            r = r.header("x-csrf-token", t);
        }
        r.send()
    };
    assert_eq!(
        code_of(post(None).await.unwrap()).await,
        (403, "csrf-mismatch".into())
    );
    assert_eq!(code_of(post(Some("nope")).await.unwrap()).await.0, 403);
    let r = post(Some("csrf-1")).await.unwrap();
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let id = r.headers()["reel-video-id"].to_str().unwrap().to_string();
    // HEAD changes nothing and needs no CSRF token.
    let r = api
        .http
        .head(format!("{}{loc}", api.base))
        .header("cookie", "reel_session=sid-1")
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Its watch page shows the video as uploading.
    let watch = api
        .http
        .get(format!("{}/watch/{id}", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(watch.contains("This video is uploading"), "{watch}");
    let home = api
        .http
        .get(format!("{}/", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The catalog page lists it only once its bytes are in: an upload that
    // may never finish is its owner's business (`/api/videos?mine=1`).
    assert!(!home.contains("From a page"), "{home}");
}
