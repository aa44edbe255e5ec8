//! `reel-node upload`: the tus client of the CLI, killed mid-upload and run
//! again, continues from the server's offset (kept in its state file) and
//! the video becomes ready.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::procs::{start, token, BIN};

#[tokio::test]
async fn the_cli_upload_resumes_after_being_killed() {
    let data = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = src.path().join("noisy.mp4");
    // ~10 MB that does not compress.
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=25:duration=4",
        ])
        .args([
            "-vf",
            "noise=alls=40:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args([
            "-b:v", "20M", "-maxrate", "20M", "-bufsize", "20M", "-pix_fmt", "yuv420p",
        ])
        .arg(&file)
        .status()
        .unwrap();
    assert!(st.success());
    let len = std::fs::metadata(&file).unwrap().len();
    assert!(len > 4 << 20, "{len}");

    let tok = token(data.path());
    let node = start(data.path(), "node-a", &[]);
    let upload = |extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("upload")
            .arg(&file)
            .args(["--title", "From the command line"])
            .args(["--server", &node.base])
            .arg("--state-dir")
            .arg(state.path())
            .args(["--chunk-mib", "1"])
            .args(extra)
            .env("REEL_TOKEN", &tok)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };

    // Slowed to 1 MiB/s so it is surely killed half-way.
    let mut first = upload(&["--limit-kib", "1024", "--no-wait"])
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let t = Instant::now();
    let (url, offset) = loop {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no progress recorded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(entry) = std::fs::read_dir(state.path())
            .unwrap()
            .filter_map(Result::ok)
            .next()
        else {
            continue;
        };
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
        let url = saved["url"].as_str().unwrap().to_string();
        let r = http
            .head(&url)
            .bearer_auth(&tok)
            .header("tus-resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        let o: u64 = r.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if o >= 2 << 20 {
            break (url, o);
        }
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(offset < len, "finished before it was killed");

    // Run again: it asks HEAD and sends only the rest.
    let out = upload(&[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("resuming"), "{err}");
    let resumed_at: u64 = err
        .split("resuming ")
        .nth(1)
        .and_then(|s| s.split(" at ").nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(resumed_at >= offset, "{err}");
    assert!(
        !err.contains("created upload"),
        "a second upload was created: {err}"
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(url.ends_with(&id), "{url} {id}");
    assert!(err.contains("ready"), "{err}");
    assert_eq!(
        std::fs::read_dir(state.path()).unwrap().count(),
        0,
        "the state file goes once the upload is done"
    );
    let v: serde_json::Value = http
        .get(format!("{}/api/videos/{id}", node.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ready", "{v}");
    assert_eq!(v["title"], "From the command line");
}
