//! Deletes that go tombstone → media → row and can be finished by a retry,
//! and the sweeper that clears what crashed or abandoned work left behind.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{files_under, TestNode};
use reel_node::catalog::{staged_key, JobSource, NewVideo};
use reel_node::housekeeping::{sweep_once, SweepReport, Sweeper};

async fn ready_video(node: &TestNode) -> String {
    let v = node.publish_clip(320, 240, 2, true).await;
    v["id"].as_str().unwrap().to_string()
}

async fn delete(node: &TestNode, id: &str) -> StatusCode {
    let req = Request::delete(format!("/api/videos/{id}"))
        .header("authorization", format!("Bearer {}", node.token))
        .body(Body::empty())
        .unwrap();
    node.call(req).await.0
}

fn media_dir(node: &TestNode) -> std::path::PathBuf {
    node.state.config.storage_path()
}

#[tokio::test]
async fn delete_removes_everything_and_a_repeat_is_harmless() {
    let node = TestNode::new(&[]).await;
    let id = ready_video(&node).await;
    assert!(!files_under(&media_dir(&node).join(&id)).is_empty());
    assert_eq!(delete(&node, &id).await, StatusCode::NO_CONTENT);
    assert_eq!(node.get(&format!("/api/videos/{id}")).await.0, 404);
    assert_eq!(node.get(&format!("/media/{id}/master.m3u8")).await.0, 404);
    assert!(files_under(&media_dir(&node).join(&id)).is_empty());
    assert_eq!(delete(&node, &id).await, StatusCode::NOT_FOUND);
    assert!(node.state.catalog.videos.get(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_delete_that_stopped_after_its_tombstone_is_finished_by_a_retry() {
    let node = TestNode::new(&[]).await;
    let id = ready_video(&node).await;
    // The first step alone, as if the node died right after it.
    node.state
        .catalog
        .videos
        .begin_delete(&id, None)
        .await
        .unwrap();
    // Viewers and the API see it gone at once, though its media is there.
    assert_eq!(node.get(&format!("/api/videos/{id}")).await.0, 404);
    assert_eq!(node.get(&format!("/watch/{id}")).await.0, 404);
    let (_, list) = node.get("/api/videos").await;
    assert!(!list.contains(&id), "{list}");
    assert!(!files_under(&media_dir(&node).join(&id)).is_empty());
    // Nothing can be added to it any more.
    let before = files_under(&media_dir(&node).join(&id)).len();
    let body = "--b\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\nen\r\n--b\r\n\
                Content-Disposition: form-data; name=\"file\"; filename=\"s.srt\"\r\n\r\n\
                1\n00:00:00,500 --> 00:00:01,000\nhi\n\r\n--b--\r\n";
    let req = Request::post(format!("/api/videos/{id}/subtitles"))
        .header("authorization", format!("Bearer {}", node.token))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(node.call(req).await.0, StatusCode::NOT_FOUND);
    assert_eq!(files_under(&media_dir(&node).join(&id)).len(), before);
    // A retry finishes the work.
    assert_eq!(delete(&node, &id).await, StatusCode::NO_CONTENT);
    assert!(files_under(&media_dir(&node).join(&id)).is_empty());
    assert!(node.state.catalog.videos.get(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn the_sweeper_finishes_deletes_nobody_retried() {
    let node = TestNode::new(&[("worker.lease_s", "2")]).await;
    let id = ready_video(&node).await;
    node.state
        .catalog
        .videos
        .begin_delete(&id, None)
        .await
        .unwrap();
    let mut sweeper = Sweeper::default();
    let r = sweep_once(&node.state, &mut sweeper).await.unwrap();
    assert_eq!(r.deletes_finished, 0, "too fresh: a worker may still write");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let r = sweep_once(&node.state, &mut sweeper).await.unwrap();
    assert_eq!(r.deletes_finished, 1);
    assert!(files_under(&media_dir(&node).join(&id)).is_empty());
    assert!(node.state.catalog.videos.get(&id).await.unwrap().is_none());
}

/// Sets a file's or folder's modification time `secs` into the past.
fn age(path: &Path, secs: u64) {
    let when = SystemTime::now() - Duration::from_secs(secs);
    std::fs::File::open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

fn touch(path: &Path, secs_old: u64) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, b"left behind").unwrap();
    age(path, secs_old);
}

#[tokio::test]
async fn the_sweeper_removes_abandoned_work_files_sources_and_scratch_only() {
    let node = TestNode::new(&[
        ("housekeeping.abandoned_after_s", "600"),
        ("housekeeping.scratch_max_age_s", "7200"),
        // Short jobs only, so a two-hour scratch age is long enough.
        ("media.max_duration_s", "60"),
        ("ingest.total_timeout_s", "60"),
    ])
    .await;
    let media = media_dir(&node);
    let scratch = node.state.config.tmp_dir();
    // Store work files: a crashed publish and a crashed delete, and fresh
    // ones that belong to work in progress.
    touch(&media.join(".staging/tree-old/720p/a.m4s"), 0);
    age(&media.join(".staging/tree-old"), 3600);
    touch(&media.join(".trash/file-old"), 3600);
    touch(&media.join(".staging/file-new"), 5);
    // Staged sources: of a failed video, of a queued one, of no video.
    let add = |title: &'static str| {
        let state = node.state.clone();
        async move {
            let nv = NewVideo {
                id: reel_node::catalog::new_id(),
                title: title.into(),
                source: "upload:x.mp4".into(),
                owner_id: None,
                visibility: reel_node::catalog::Visibility::Public,
            };
            state
                .catalog
                .videos
                .create(&nv, &JobSource::Stored(staged_key(&nv.id)))
                .await
                .unwrap();
            state
                .store
                .put_bytes(&staged_key(&nv.id), b"source")
                .await
                .unwrap();
            nv.id
        }
    };
    let failed = add("failed").await;
    let queued = add("queued").await;
    let job = node
        .state
        .catalog
        .jobs
        .claim_for(&failed, Duration::from_secs(30), 1)
        .await
        .unwrap()
        .unwrap();
    node.state
        .catalog
        .jobs
        .fail(&job, "not a video", None)
        .await
        .unwrap();
    node.state
        .store
        .put_bytes(&staged_key("0123456789abcdef"), b"orphan")
        .await
        .unwrap();
    // Scratch: a download a dead process left, and a fresh upload.
    touch(&scratch.join("job-dead/source"), 0);
    age(&scratch.join("job-dead"), 3 * 3600);
    touch(&scratch.join("upload-live"), 1);

    let mut sweeper = Sweeper::default();
    let first = sweep_once(&node.state, &mut sweeper).await.unwrap();
    assert_eq!(
        first,
        SweepReport {
            deletes_finished: 0,
            work_files: 2,
            staged_sources: 1,
            scratch: 1,
            qoe_sessions: 0,
            webhook_deliveries: 0,
            uploads: Default::default(),
        }
    );
    assert!(!media.join(".staging/tree-old").exists());
    assert!(!media.join(".trash/file-old").exists());
    assert!(media.join(".staging/file-new").exists());
    let staged = |id: &str| media.join(staged_key(id)).exists();
    assert!(!staged(&failed), "the failed job's source stays forever");
    assert!(staged(&queued), "a queued job still needs its source");
    assert!(
        staged("0123456789abcdef"),
        "one sighting of an orphan is not proof"
    );
    assert!(!scratch.join("job-dead").exists());
    assert!(scratch.join("upload-live").exists());

    let second = sweep_once(&node.state, &mut sweeper).await.unwrap();
    assert_eq!(second.staged_sources, 1);
    assert!(!staged("0123456789abcdef"));
    assert!(staged(&queued));
}
