//! A ~200 MB resumable upload through the real balancer in front of two
//! real nodes sharing one data directory (catalog and media store), with
//! the connection cut mid-PATCH at three random points and the node that
//! took the first PATCH killed while a PATCH is in flight. The client
//! resumes from HEAD each time; the joined file must be byte for byte the
//! original, and the video becomes ready with its playlist served. Needs
//! the workspace's binaries built together (`cargo test --workspace`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use common::procs::{start_with, token, Balancer};
use rand::Rng;
use reqwest::Client;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

const TUS: &str = "1.0.0";
const CHUNK: usize = 32 << 20;

/// A real ~200 MB video made quickly: 30 s of 720p test pattern with
/// noise (so it does not compress) at 54 Mb/s, encoded with ultrafast.
fn make_big_video(out: &Path) {
    let st = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "30", "-vf", "noise=alls=30:allf=t"])
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-b:v", "54M", "-maxrate", "58M", "-bufsize", "54M"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
        .args(["-movflags", "+faststart"])
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success());
}

struct Client2 {
    http: Client,
    lb: String,
    token: String,
}

impl Client2 {
    async fn offset(&self, loc: &str) -> Option<u64> {
        let r = self
            .http
            .head(format!("{}{loc}", self.lb))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.headers()["upload-offset"].to_str().ok()?.parse().ok()
    }

    /// The stored offset, asking until a node answers.
    async fn offset_now(&self, loc: &str) -> u64 {
        let t = Instant::now();
        loop {
            if let Some(o) = self.offset(loc).await {
                return o;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "HEAD never answered");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One whole PATCH; the answering node and the new offset, or the
    /// status it failed with (0: no answer).
    async fn patch(&self, loc: &str, at: u64, body: &[u8]) -> Result<(String, u64), u16> {
        let r = self
            .http
            .patch(format!("{}{loc}", self.lb))
            .bearer_auth(&self.token)
            .header("tus-resumable", TUS)
            .header("upload-offset", at)
            .header("content-type", "application/offset+octet-stream")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|_| 0u16)?;
        if r.status() != 204 {
            return Err(r.status().as_u16());
        }
        let node = r.headers()["x-reel-node"].to_str().unwrap().to_string();
        let o = r.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        Ok((node, o))
    }

    /// Opens a PATCH of `total` bytes at `at` through the balancer and
    /// sends the first `sent` of `body`, leaving the connection open.
    async fn open_patch(
        &self,
        loc: &str,
        at: u64,
        body: &[u8],
        sent: usize,
    ) -> tokio::net::TcpStream {
        let addr = self.lb.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "PATCH {loc} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Tus-Resumable: 1.0.0\r\nUpload-Offset: {at}\r\n\
             Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
            self.token,
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body[..sent]).await.unwrap();
        s.flush().await.unwrap();
        s
    }
}

#[tokio::test]
async fn a_200_mb_upload_survives_cuts_and_a_dead_node_through_the_balancer() {
    let data = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.mp4");
    let t = Instant::now();
    make_big_video(&file);
    let bytes = std::fs::read(&file).unwrap();
    let len = bytes.len() as u64;
    eprintln!("made {len} bytes in {:?}", t.elapsed());
    assert!(len > 150 << 20, "the video is only {len} bytes");
    let want = Sha256::digest(&bytes);

    let tok = token(data.path());
    let env = [
        ("REEL_INGEST__UPLOAD_LOCK_S", "3"),
        ("REEL_INGEST__READ_TIMEOUT_S", "5"),
    ];
    let mut a = start_with(data.path(), "node-a", &env, &["--no-worker"]);
    let mut b = start_with(data.path(), "node-b", &env, &["--no-worker"]);
    let balancer = Balancer::start(&[&a.base, &b.base]);
    let c = Client2 {
        http: Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
        lb: balancer.base.clone(),
        token: tok.clone(),
    };

    let r = c
        .http
        .post(format!("{}/api/uploads", c.lb))
        .bearer_auth(&tok)
        .header("tus-resumable", TUS)
        .header("upload-length", len)
        .header(
            "upload-metadata",
            format!(
                "title {}",
                base64::engine::general_purpose::STANDARD.encode("Big and resumed")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let id = r.headers()["reel-video-id"].to_str().unwrap().to_string();
    let started = Instant::now();

    // The first PATCH, whole; remember who took it.
    let (first_node, mut offset) = c.patch(&loc, 0, &bytes[..CHUNK]).await.unwrap();
    assert_eq!(offset, CHUNK as u64);

    // A PATCH in flight when the node that took the first one dies. The
    // balancer takes turns, so once a HEAD was answered by the other node,
    // the next request (this PATCH) goes to the first one: it dies holding
    // the upload's lock, which its lease then frees.
    for _ in 0..4 {
        let r = c
            .http
            .head(format!("{}{loc}", c.lb))
            .bearer_auth(&tok)
            .header("tus-resumable", TUS)
            .send()
            .await
            .unwrap();
        if r.headers()["x-reel-node"] != first_node.as_str() {
            break;
        }
    }
    let end = (offset as usize + CHUNK).min(bytes.len());
    let conn = c
        .open_patch(&loc, offset, &bytes[offset as usize..end], CHUNK / 2)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The PATCH in flight holds the upload: another writer is told to wait.
    assert_eq!(
        c.patch(&loc, offset, &bytes[offset as usize..offset as usize + 1])
            .await
            .err(),
        Some(423),
        "the PATCH in flight holds no lock"
    );
    let dead = if first_node == "node-a" {
        &mut a
    } else {
        &mut b
    };
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    drop(conn);
    // Had a live node taken it, the cut body would be recorded at once; the
    // killed one records nothing, so the lock it held was that node's.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        c.offset_now(&loc).await,
        offset,
        "the PATCH in flight was not on the killed node"
    );
    let mut sent_end = offset + (CHUNK / 2) as u64;

    // Three cuts at random points of random PATCHes, then the rest.
    let mut rng = rand::thread_rng();
    let mut cuts_left = 3;
    let mut kept_partial = 0;
    let mut conflicts = 0;
    let mut locked = 0;
    let mut resumed = false;
    while offset < len {
        let now = c.offset_now(&loc).await;
        assert!(
            now <= sent_end.max(offset),
            "offset {now} claims bytes never sent (sent up to {sent_end})"
        );
        assert!(now >= offset, "the offset went back from {offset} to {now}");
        offset = now;
        if offset == len {
            break;
        }
        let end = (offset as usize + CHUNK).min(bytes.len());
        let body = &bytes[offset as usize..end];
        // Cuts start once a whole PATCH went through after the kill, so the
        // dead node's lock shows as 423 answers to whole PATCHes.
        if resumed && cuts_left > 0 && body.len() > 2 {
            cuts_left -= 1;
            let sent = rng.gen_range(1..body.len());
            let conn = c.open_patch(&loc, offset, body, sent).await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            drop(conn);
            sent_end = sent_end.max(offset + sent as u64);
            // The node records what arrived, then frees the upload.
            let before = offset;
            let t = Instant::now();
            let mut seen = c.offset_now(&loc).await;
            while seen == before && t.elapsed() < Duration::from_secs(8) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                seen = c.offset_now(&loc).await;
            }
            if seen > before {
                kept_partial += 1;
            }
            continue;
        }
        match c.patch(&loc, offset, body).await {
            Ok((_, o)) => {
                sent_end = sent_end.max(o);
                offset = o;
                resumed = true;
            }
            // Locked by a PATCH that is still being recorded or by the dead
            // node's lease, a conflict, or no answer: ask again.
            Err(s) => {
                assert!(
                    matches!(s, 0 | 409 | 423 | 502 | 503),
                    "PATCH failed with {s}"
                );
                if s == 423 {
                    locked += 1;
                }
                conflicts += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let upload_time = started.elapsed();
    eprintln!(
        "uploaded {len} bytes in {upload_time:?}: {kept_partial} of 3 cut PATCHes kept \
         their partial bytes, {conflicts} retried answers ({locked} locked: the dead node's lease)"
    );

    // Byte for byte the original, staged for the ingest job.
    let staged = data.path().join(format!("media/incoming/{id}.src"));
    let t = Instant::now();
    while !staged.exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "never staged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = Sha256::digest(std::fs::read(&staged).unwrap());
    assert_eq!(got, want, "the joined file differs from the original");
    assert!(
        !data.path().join("media/uploads").join(&id).exists(),
        "chunks are removed once joined"
    );

    // The killed node comes back with a worker; the video becomes ready.
    let _worker = start_with(data.path(), "node-w", &env, &[]);
    let t = Instant::now();
    let v = loop {
        let v: serde_json::Value = c
            .http
            .get(format!("{}/api/videos/{id}", c.lb))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        if v["status"] == "ready" || v["status"] == "failed" {
            break v;
        }
        assert!(t.elapsed() < Duration::from_secs(900), "not ready: {v}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(v["status"], "ready", "{v}");
    eprintln!("processed in {:?}", t.elapsed());
    assert_eq!(v["title"], "Big and resumed");
    assert!(
        (v["duration_s"].as_f64().unwrap() - 30.0).abs() < 0.5,
        "{v}"
    );
    let master = c
        .http
        .get(format!("{}/media/{id}/master.m3u8", c.lb))
        .send()
        .await
        .unwrap();
    assert_eq!(master.status(), 200);
    assert!(master.text().await.unwrap().starts_with("#EXTM3U"));
    drop(balancer);
}
