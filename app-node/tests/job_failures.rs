//! Jobs that fail must fail once, clearly, and leave nothing behind: bad
//! input fails at once, passing trouble is retried after a backoff, a full
//! disk is named as such, and a video deleted mid-transcode stops its
//! worker and leaves no files.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::s3::S3Server;
use common::{files_under, make_clip, source_server, test_config, TestNode};
use reel_node::catalog::VideoStatus;
use reel_node::state::AppState;

/// Creates a video from `url` and returns its id.
async fn import(node: &TestNode, url: &str) -> String {
    let body = format!(r#"{{"title":"t","source_url":"{url}"}}"#);
    let (s, v) = node.post_json("/api/videos", &body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn media_files(node: &TestNode, id: &str) -> Vec<PathBuf> {
    files_under(&node.state.config.storage_path().join(id))
}

fn scratch_files(node: &TestNode) -> Vec<PathBuf> {
    files_under(&node.state.config.tmp_dir())
}

#[tokio::test]
async fn a_source_over_a_limit_fails_at_once_naming_the_key() {
    // A retry would wait a minute: settling quickly proves there was none.
    let node = TestNode::new(&[("media.max_fps", "25"), ("worker.retry_backoff_s", "60")]).await;
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("c.mp4"), 320, 180, 2, false, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let id = import(&node, &format!("http://{addr}/c.mp4")).await;
    let v = node
        .process_until_settled(&id, Duration::from_secs(30))
        .await;
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("frames per second") && error.contains("media.max_fps"),
        "{error}"
    );
    assert!(
        scratch_files(&node).is_empty(),
        "{:?}",
        scratch_files(&node)
    );
    assert!(media_files(&node, &id).is_empty());
}

/// Serves `file` at `/c.mp4`, answering 503 to the first request, and
/// records when each request came.
async fn flaky_server(file: PathBuf, seen: Arc<Mutex<Vec<Instant>>>) -> SocketAddr {
    let app = axum::Router::new().route(
        "/c.mp4",
        axum::routing::get(move || {
            let (file, seen) = (file.clone(), seen.clone());
            async move {
                let first = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(Instant::now());
                    seen.len() == 1
                };
                if first {
                    (StatusCode::SERVICE_UNAVAILABLE, Vec::new())
                } else {
                    (StatusCode::OK, std::fs::read(&file).unwrap())
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_transient_failure_is_retried_after_its_backoff() {
    let node = TestNode::new(&[("worker.retry_backoff_s", "2")]).await;
    let src = tempfile::tempdir().unwrap();
    let clip = src.path().join("c.mp4");
    make_clip(&clip, 320, 180, 2, false, &[]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = flaky_server(clip, seen.clone()).await;
    let id = import(&node, &format!("http://{addr}/c.mp4")).await;
    let v = node
        .process_until_settled(&id, Duration::from_secs(60))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one refusal, one retry");
    let gap = seen[1] - seen[0];
    // The worker polls every 200 ms: only the backoff explains the wait.
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
}

/// A small video publishes, then a larger one runs out of space while
/// transcoding: it fails with the reason, its partial files are gone, and
/// the first video is untouched.
async fn out_of_space_case(node: &TestNode) {
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("small.mp4"), 160, 120, 2, true, &[]);
    // A small source (high CRF) whose 720p ladder is several megabytes.
    make_clip(
        &src.path().join("big.mp4"),
        1280,
        720,
        8,
        true,
        &["-crf", "45"],
    );
    let addr = source_server(src.path().to_path_buf()).await;
    let small = import(node, &format!("http://{addr}/small.mp4")).await;
    let v = node
        .process_until_settled(&small, Duration::from_secs(60))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
    let kept = media_files(node, &small);
    assert!(!kept.is_empty());

    let big = import(node, &format!("http://{addr}/big.mp4")).await;
    let v = node
        .process_until_settled(&big, Duration::from_secs(120))
        .await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"], "The node ran out of disk space.", "{v}");
    assert!(scratch_files(node).is_empty(), "{:?}", scratch_files(node));
    assert!(media_files(node, &big).is_empty());
    assert_eq!(media_files(node, &small), kept);
    let (s, _) = node.get(&format!("/media/{small}/master.m3u8")).await;
    assert_eq!(s, StatusCode::OK);
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_full_scratch_disk_fails_the_video_cleanly_and_spares_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&tmp)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            eprintln!("SKIPPED: cannot mount a small tmpfs as scratch ({why}); the file-size case covers the classification");
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot run mount ({e})");
            return;
        }
    }
    let _mount = Mount(tmp);
    let state = AppState::open(test_config(dir.path(), &[("worker.max_attempts", "1")]))
        .await
        .unwrap();
    let token = common::add_uploader(&state).await;
    let app = reel_node::http::app(state.clone());
    let node = TestNode {
        dir,
        state,
        token,
        app,
    };
    out_of_space_case(&node).await;
}

#[tokio::test]
async fn a_file_over_ffmpegs_size_limit_counts_as_a_full_disk() {
    // Always runs: ffmpeg under `ulimit -f` (256 KiB a file) is stopped by
    // SIGXFSZ as soon as a segment of the big video passes the limit.
    let bin = tempfile::tempdir().unwrap();
    let wrapper = bin.path().join("ffmpeg-limited");
    std::fs::write(&wrapper, "#!/bin/sh\nulimit -f 512\nexec ffmpeg \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let wrapper = wrapper.display().to_string();
    let node = TestNode::new(&[("media.ffmpeg", &wrapper), ("worker.max_attempts", "1")]).await;
    out_of_space_case(&node).await;
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(cmd);
            }
        }
    }
    found
}

async fn eventually(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn deleting_a_video_mid_transcode_stops_ffmpeg_and_removes_its_files() {
    let s3 = S3Server::start().await;
    let bucket = s3.bucket().await;
    let mut pairs = s3.config_pairs(&bucket);
    // No heartbeat during the test (one every 200 s): stopping within a few
    // seconds must come from the refused progress update.
    pairs.push(("worker.lease_s".into(), "600".into()));
    let extra: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let node = TestNode::new(&extra).await;
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("c.mp4"), 1280, 720, 30, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let id = import(&node, &format!("http://{addr}/c.mp4")).await;

    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(reel_node::jobs::run_worker(
        node.state.clone(),
        shutdown.clone(),
    ));
    let scratch = node.state.config.tmp_dir().display().to_string();
    // Wait until segments of this attempt are already in the bucket.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = node.state.catalog.videos.get(&id).await.unwrap().unwrap();
        assert_ne!(
            v.status,
            VideoStatus::Ready,
            "finished before it could be deleted"
        );
        let stored = node.state.store.list(&id).await.unwrap();
        if v.status == VideoStatus::Transcoding && !stored.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no segment stored early: {v:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !processes_mentioning(&scratch).is_empty(),
        "ffmpeg is running"
    );

    // Deleted as the API does it: tombstone, media, and the row left for the
    // sweeper because a worker held the job.
    let deleted = reel_node::housekeeping::delete_video(
        &node.state.catalog,
        node.state.store.as_ref(),
        &id,
        None,
    )
    .await
    .unwrap();
    assert_eq!(deleted, reel_node::housekeeping::Deleted::Tombstoned);
    let limit = Duration::from_secs(5);
    eventually("ffmpeg still runs", limit, || {
        processes_mentioning(&scratch).is_empty()
    })
    .await;
    eventually("scratch still holds files", limit, || {
        scratch_files(&node).is_empty()
    })
    .await;
    let deadline = Instant::now() + limit;
    loop {
        let left = node.state.store.list(&id).await.unwrap();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stored files left: {}",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    worker.await.unwrap();
    // Nothing comes back later either (an upload finishing after the cleanup).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(node.state.store.list(&id).await.unwrap().is_empty());
}
