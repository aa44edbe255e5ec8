//! What happens after a PATCH body has arrived: its bytes are stored and
//! recorded even when the client leaves right after its last byte, the join
//! of a complete upload runs detached from the answer, a join that finds
//! missing or short chunks fails the video with a reason instead of being
//! retried forever, one such upload does not stop the sweeper from
//! expiring the others, a join slower than its lease keeps its lock, and
//! control characters in the file name are
//! removed before the catalog sees them (PostgreSQL refuses a NUL).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::db::{Engine, TestDb};
use common::tus::{b64, node, Api, TUS};
use reel_node::catalog::{Chunk, LockOutcome, NewUpload, NewVideo, VideoStatus};
use tokio::io::AsyncWriteExt;

/// Sends a whole PATCH body on a raw socket and closes it at once, without
/// reading any answer.
async fn patch_and_leave(addr: SocketAddr, token: &str, loc: &str, offset: u64, body: &[u8]) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         tus-resumable: {TUS}\r\nupload-offset: {offset}\r\n\
         content-type: application/offset+octet-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    s.shutdown().await.unwrap();
    drop(s);
}

async fn offset_reaches(api: &Api, loc: &str, want: u64) -> u64 {
    let t = Instant::now();
    loop {
        let got = api.offset(loc).await;
        if got == want || t.elapsed() > Duration::from_secs(15) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn addr_of(api: &Api) -> SocketAddr {
    api.base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn a_client_leaving_after_its_last_byte_keeps_the_bytes() {
    let (_node, api) = node(&[]).await;
    let half = 20_000_000usize;
    let (loc, id) = api.created(2 * half as u64).await;
    let body = vec![7u8; half];
    patch_and_leave(addr_of(&api), &api.token, &loc, 0, &body).await;
    assert_eq!(offset_reaches(&api, &loc, half as u64).await, half as u64);
    // The last half, again without waiting for the answer: the upload is
    // still joined into a queued video.
    patch_and_leave(addr_of(&api), &api.token, &loc, half as u64, &body).await;
    assert_eq!(
        offset_reaches(&api, &loc, 2 * half as u64).await,
        2 * half as u64
    );
    assert_eq!(api.settled(&id).await["status"], "queued");
}

/// An upload of `length` bytes whose every byte is recorded in one chunk
/// whose object holds `stored` (or nothing at all): the state a damaged
/// store leaves.
async fn recorded(
    node: &common::TestNode,
    api: &Api,
    length: u64,
    stored: Option<&[u8]>,
) -> String {
    let (_, id) = api.created(length).await;
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
    if let Some(b) = stored {
        node.state.store.put_bytes(&key, b).await.unwrap();
    }
    let part = Chunk {
        start: 0,
        end: length as i64,
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
    id
}

#[tokio::test]
async fn a_join_that_cannot_work_fails_the_video_and_the_sweep_goes_on() {
    let (node, api) = node(&[]).await;
    let c = &node.state.catalog;
    // One upload whose chunk object is gone, one whose object is short.
    let missing = recorded(&node, &api, 6, None).await;
    let short = recorded(&node, &api, 6, Some(b"abc")).await;
    // And one that expired: the sweep must still remove it.
    let old = c
        .uploads
        .create_upload(&NewUpload {
            video: NewVideo {
                id: reel_node::catalog::new_id(),
                title: "Old".into(),
                source: "upload:old.mp4".into(),
                owner_id: None,
                visibility: reel_node::catalog::Visibility::Public,
            },
            owner_id: 1,
            length: 10,
            metadata: String::new(),
            ttl: Duration::ZERO,
        })
        .await
        .unwrap();

    let mut sweeper = reel_node::housekeeping::Sweeper::default();
    let report = reel_node::housekeeping::sweep_once(&node.state, &mut sweeper)
        .await
        .unwrap();
    assert_eq!(report.uploads.failed, 2, "{report:?}");
    assert_eq!(report.uploads.expired, 1, "{report:?}");
    assert!(c.videos.get(&old.video_id).await.unwrap().is_none());
    for (id, why) in [(&missing, "missing"), (&short, "do not cover")] {
        let v = c.videos.get(id).await.unwrap().unwrap();
        assert_eq!(v.status, VideoStatus::Failed, "{id}");
        let err = v.error.unwrap_or_default();
        assert!(err.contains(why), "{err}");
    }
    // Failed for good: not tried again.
    let again = reel_node::housekeeping::sweep_once(&node.state, &mut sweeper)
        .await
        .unwrap();
    assert_eq!(again.uploads.failed, 0, "{again:?}");
}

#[tokio::test]
async fn control_characters_in_the_file_name_are_removed_on_postgres() {
    let db = TestDb::new(Engine::Postgres).await;
    let (node, api) = node(&[("catalog.url", db.url.as_str())]).await;
    let r = api
        .http
        .post(format!("{}/api/uploads", api.base))
        .bearer_auth(&api.token)
        .header("tus-resumable", TUS)
        .header("upload-length", 10)
        .header(
            "upload-metadata",
            format!(
                "title {},filename {}",
                b64("Named"),
                b64("a\u{0}b\u{1b}.mp4")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.headers()["reel-video-id"].to_str().unwrap().to_string();
    let v = node.state.catalog.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.source, "upload:ab.mp4");
}

#[tokio::test]
async fn a_join_slower_than_its_lease_keeps_the_lock() {
    let (mut node, api) = node(&[]).await;
    let id = recorded(&node, &api, 6, Some(b"abcdef")).await;
    // Storing the joined source takes three leases.
    let lease = Duration::from_secs(1);
    node.replace_store(common::slow_store::SlowStore::wrap(
        node.state.store.clone(),
        ".src",
        Duration::from_secs(3),
    ));
    let state = node.state.clone();
    let joining = tokio::spawn({
        let id = id.clone();
        async move {
            reel_node::uploads::finish(
                &state.catalog,
                state.store.as_ref(),
                &state.config.tmp_dir(),
                &id,
                6,
                lease,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // Nobody else (the sweeper on another node, say) may start a second
    // join meanwhile.
    let other = node
        .state
        .catalog
        .uploads
        .lock_upload(&id, 6, lease)
        .await
        .unwrap();
    assert_eq!(other, LockOutcome::Busy);
    assert!(joining.await.unwrap().unwrap());
    let v = node.state.catalog.videos.get(&id).await.unwrap().unwrap();
    assert_eq!(v.status, VideoStatus::Queued);
}
