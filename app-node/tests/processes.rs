//! Real `reel-node` processes on loopback sharing one SQLite file and media
//! directory: failover of a killed worker, cross-node playback, the CLI and
//! graceful shutdown.

mod common;

use std::time::Duration;

use common::{files_under, make_clip, source_server};

use common::procs::{cli, create, node_cmd, sigterm, start, token, video, Node};
use std::path::Path;

#[tokio::test]
async fn a_video_imported_through_one_node_plays_through_the_other() {
    let data = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("c.mp4"), 320, 180, 4, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let token = token(data.path());
    let mut a = start(data.path(), "node-a", &[]);
    let mut b = start(data.path(), "node-b", &["--no-worker"]);
    let http = reqwest::Client::new();
    let id = create(
        &http,
        &a.base,
        &token,
        "Shared",
        &format!("http://{addr}/c.mp4"),
    )
    .await;
    let v = common::wait_settled(
        || async { video(&http, &b.base, &id).await.to_string() },
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(v["status"], "ready", "{v}");
    let r = http
        .get(format!("{}/media/{id}/master.m3u8", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-reel-node"], "node-b");
    let master = r.text().await.unwrap();
    let rung = master
        .lines()
        .find(|l| l.ends_with("index.m3u8") && !l.starts_with('#'))
        .unwrap();
    let pl = http
        .get(format!("{}/media/{id}/{rung}", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seg = pl.lines().find(|l| l.ends_with(".m4s")).unwrap();
    let dir = rung.rsplit_once('/').unwrap().0;
    let r = http
        .get(format!("{}/media/{id}/{dir}/{seg}", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.bytes().await.unwrap().is_empty());
    // SIGTERM drains and exits cleanly.
    assert_eq!(sigterm(&mut a), 0);
    assert_eq!(sigterm(&mut b), 0);
}

/// Starts a node with a worker on `data`, imports a 1080p clip of `secs`
/// seconds by URL and returns once it is transcoding past `progress`.
async fn transcoding_on_a_node(
    data: &Path,
    secs: u32,
    progress: f64,
) -> (Node, String, tempfile::TempDir) {
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("clip.mp4"), 1920, 1080, secs, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let token = token(data);
    let a = start(data, "node-a", &[]);
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/clip.mp4");
    let id = create(&http, &a.base, &token, "Interrupted", &url).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let v = video(&http, &a.base, &id).await;
        if v["status"] == "transcoding" && v["progress"].as_f64().unwrap() > progress {
            // The source dir goes back too: the download may still be reading it.
            return (a, id, src);
        }
        assert_ne!(
            v["status"], "ready",
            "finished before it could be interrupted"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached transcoding: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_mid_transcode_completes_after_its_lease() {
    let data = tempfile::tempdir().unwrap();
    let (a, id, _src) = transcoding_on_a_node(data.path(), 24, 0.2).await;
    let http = reqwest::Client::new();
    // Killed once viewers can already watch the partial video.
    let partial = loop {
        let v = video(&http, &a.base, &id).await;
        assert_ne!(v["status"], "ready", "finished before it could be killed");
        if v["playable"] == true {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let partial_url = partial["hls_url"].as_str().unwrap().to_string();
    drop(a); // SIGKILL: no chance to release the job.
    let mut b = start(data.path(), "node-b", &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    // What a viewer's page polls: once the retry starts, the partial video
    // is withdrawn (its player says the processing started over), then the
    // retry's version is watchable, then ready.
    let mut withdrawn = false;
    let v = loop {
        // Polled by hand so an unreachable node reports whether it exited.
        let v: serde_json::Value =
            match http.get(format!("{}/api/videos/{id}", b.base)).send().await {
                Ok(r) => r.json().await.unwrap(),
                Err(e) => panic!(
                    "node-b unreachable: {e:?}; process: {:?}",
                    b.child.try_wait()
                ),
            };
        if v["status"] == "ready" || v["status"] == "failed" {
            break v;
        }
        if v["playable"] == false {
            assert!(v["hls_url"].is_null(), "{v}");
            withdrawn = true;
        } else if v["hls_url"] != partial["hls_url"] {
            assert!(withdrawn, "switched versions without withdrawing: {v}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "did not settle: {v}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(v["status"], "ready", "{v}");
    assert!(withdrawn, "the partial video was never withdrawn");
    assert_ne!(v["hls_url"], partial["hls_url"], "a new version");
    assert_eq!(v["renditions"].as_array().unwrap().len(), 5);
    // The dead attempt's version is gone once the retry published.
    let r = http
        .get(format!("{}{partial_url}", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "{partial_url}");
    let r = http
        .get(format!("{}/media/{id}/master.m3u8", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Scratch is per node and locked while its node lives: the killed
    // node's leftovers went when node-b started and found the lock free.
    assert!(files_under(&data.path().join("tmp/node-a")).is_empty());
    let again = start(data.path(), "node-a", &[]);
    let left = files_under(&data.path().join("tmp"));
    assert!(
        left.is_empty(),
        "scratch of the killed worker left behind: {left:?}"
    );
    drop(again);
}

#[tokio::test]
async fn cli_import_waits_and_reports() {
    let data = tempfile::tempdir().unwrap();
    let clip = data.path().join("in.mp4");
    make_clip(&clip, 320, 180, 3, false, &[]);
    let (code, out, err) = cli(
        data.path(),
        &["import", clip.to_str().unwrap(), "--title", "From disk"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let id = out.trim();
    assert_eq!(id.len(), 16, "{out}");
    // One published version folder holding the master playlist.
    let versions: Vec<_> = std::fs::read_dir(data.path().join("media").join(id))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert!(versions[0].join("master.m3u8").exists());
    assert!(clip.exists(), "the user's own file must stay where it was");

    let junk = data.path().join("junk.mp4");
    std::fs::write(&junk, "not a video").unwrap();
    let (code, _, err) = cli(
        data.path(),
        &["import", junk.to_str().unwrap(), "--title", "Junk"],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("not a video"), "{err}");

    let (code, _, err) = cli(
        data.path(),
        &["import", "ftp://example.com/a.mp4", "--title", "x"],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("bad-url"), "{err}");
    let (code, _, err) = cli(data.path(), &["token", "create", "nobody"], "");
    assert_ne!(code, 0);
    assert!(err.contains("no user named nobody"), "{err}");
    let (code, _, err) = cli(data.path(), &["user", "add", "weak"], "short\n");
    assert_eq!(code, 2);
    assert!(err.contains("at least 8"), "{err}");
    let (code, out, _) = cli(data.path(), &["check-config"], "");
    assert_eq!(code, 0);
    assert!(out.contains("config ok"));
    let mut bad = node_cmd(data.path(), "x");
    let out = bad
        .env("REEL_WORKER__CONCURRENCY", "0")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("worker.concurrency"));
}

#[tokio::test]
async fn sigterm_mid_transcode_hands_the_job_back() {
    let data = tempfile::tempdir().unwrap();
    let (mut a, id, _src) = transcoding_on_a_node(data.path(), 16, 0.0).await;
    let http = reqwest::Client::new();
    assert_eq!(sigterm(&mut a), 0);
    // Released, not failed: queued again with no attempt counted, no scratch.
    let b = start(data.path(), "node-b", &["--no-worker"]);
    let v = video(&http, &b.base, &id).await;
    assert_eq!(v["status"], "queued", "{v}");
    assert_eq!(v["playable"], false, "{v}");
    assert!(v["error"].is_null());
    assert!(files_under(&data.path().join("tmp")).is_empty());
}

#[tokio::test]
async fn a_second_process_on_the_same_scratch_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let _a = start(data.path(), "node-a", &[]);
    let out = common::procs::node_cmd(data.path(), "node-a")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scratch-in-use"), "{err}");
}

#[tokio::test]
async fn a_starting_node_clears_the_scratch_of_stopped_nodes_only() {
    let data = tempfile::tempdir().unwrap();
    let tmp = data.path().join("tmp");
    // A node that died on another port left its scratch behind.
    std::fs::create_dir_all(tmp.join("gone-node/job-1")).unwrap();
    std::fs::write(tmp.join("gone-node/job-1/source"), b"left").unwrap();
    let live = start(data.path(), "live-node", &["--no-worker"]);
    std::fs::write(tmp.join("live-node/in-use"), b"busy").unwrap();
    let _second = start(data.path(), "second-node", &["--no-worker"]);
    assert!(
        !tmp.join("gone-node").exists(),
        "a dead node's scratch stayed"
    );
    assert!(
        tmp.join("live-node/in-use").exists(),
        "a live node's scratch was cleared"
    );
    drop(live);
}
