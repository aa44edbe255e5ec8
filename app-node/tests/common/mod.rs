//! Shared test helpers: a node state on a fresh SQLite file, media made with
//! real ffmpeg (lavfi), a loopback source server and polling helpers.
#![allow(dead_code)]

pub mod db;
pub mod fixtures;
pub mod playback;
pub mod procs;
pub mod s3;
pub mod slow_store;
pub mod tcp_proxy;
pub mod tus;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use reel_node::auth::{digest, hash_password, new_secret};
use reel_node::catalog::Role;
use reel_node::config::{self, Config, Overrides};
use reel_node::state::AppState;
use tower::ServiceExt;

/// A node's state in its own temp data dir, with an uploader token.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub token: String,
    /// The node's router, built once like a running node's, so state kept
    /// by its layers (the listing cache, the request pools) lasts between
    /// calls.
    pub app: axum::Router,
}

/// Config for tests: private networks allowed (sources live on loopback),
/// short leases, fast polling.
pub fn test_config(data_dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("data_dir".into(), data_dir.display().to_string()),
        ("listen".into(), "127.0.0.1:0".into()),
        ("node_name".into(), "test-node".into()),
        ("ingest.allow_private_networks".into(), "true".into()),
        ("worker.lease_s".into(), "3".into()),
        ("worker.poll_ms".into(), "200".into()),
        // These tests change the catalog directly and look at once; the
        // listing cache has tests of its own.
        ("http.listing_cache_ms".into(), "0".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    config::load(None, Vec::<(String, String)>::new(), &Overrides { pairs }).expect("test config")
}

impl TestNode {
    /// A node state with catalog and store under a new temp dir.
    pub async fn new(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::open(test_config(dir.path(), extra))
            .await
            .unwrap();
        let token = add_uploader(&state).await;
        let app = reel_node::http::app(state.clone());
        TestNode {
            dir,
            state,
            token,
            app,
        }
    }

    /// Puts `store` in place of the node's media store (a wrapper that
    /// counts or delays calls, say) and rebuilds the router over it.
    pub fn replace_store(&mut self, store: std::sync::Arc<dyn reel_node::storage::MediaStore>) {
        self.state.store = store;
        self.app = reel_node::http::app(self.state.clone());
    }

    /// Sends one request through the router.
    pub async fn call(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    /// GET returning status and body text; follows the node's own redirects
    /// (unversioned media paths) as a browser would.
    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let mut uri = uri.to_string();
        for _ in 0..3 {
            let (s, h, b) = self
                .call(Request::get(uri.as_str()).body(Body::empty()).unwrap())
                .await;
            match h.get("location").and_then(|l| l.to_str().ok()) {
                Some(l) if s == StatusCode::FOUND && l.starts_with('/') => uri = l.to_string(),
                _ => return (s, String::from_utf8_lossy(&b).into_owned()),
            }
        }
        panic!("redirect loop at {uri}")
    }

    /// POST JSON with the uploader token.
    pub async fn post_json(&self, uri: &str, json: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::post(uri)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Body::from(json.to_string()))
            .unwrap();
        let (s, _, b) = self.call(req).await;
        (
            s,
            serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Makes a clip with ffmpeg, imports it by URL from a loopback source
    /// server, runs the worker until it settles and returns the ready
    /// video's JSON (panics if it failed).
    pub async fn publish_clip(&self, w: u32, h: u32, secs: u32, audio: bool) -> serde_json::Value {
        let src = tempfile::tempdir().unwrap();
        make_clip(&src.path().join("c.mp4"), w, h, secs, audio, &[]);
        let addr = source_server(src.path().to_path_buf()).await;
        let body =
            serde_json::json!({"title": "clip", "source_url": format!("http://{addr}/c.mp4")});
        let (s, v) = self.post_json("/api/videos", &body.to_string()).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let v = self
            .process_until_settled(&id, Duration::from_secs(300))
            .await;
        assert_eq!(v["status"], "ready", "{v}");
        v
    }

    /// Runs the worker until the video settles (ready or failed).
    pub async fn process_until_settled(&self, id: &str, limit: Duration) -> serde_json::Value {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = tokio::spawn(reel_node::jobs::run_worker(
            self.state.clone(),
            shutdown.clone(),
        ));
        let v = wait_settled(
            || async { self.get(&format!("/api/videos/{id}")).await.1 },
            limit,
        )
        .await;
        shutdown.cancel();
        let _ = worker.await;
        v
    }
}

/// Serves the node's router on a loopback port with the node's own accept
/// loop and limits (peer addresses, header timeout, connection cap).
pub async fn serve(node: &TestNode) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = reel_node::http::server::ServerLimits::from_config(&node.state.config.http);
    let app = reel_node::http::app(node.state.clone());
    let metrics = node.state.metrics.clone();
    tokio::spawn(reel_node::http::server::serve(
        listener,
        app,
        limits,
        metrics,
        tokio_util::sync::CancellationToken::new(),
    ));
    addr
}

/// Adds user `tester` (an uploader) and returns a fresh API token.
pub async fn add_uploader(state: &AppState) -> String {
    let hash = hash_password("tester-password").unwrap();
    let _ = state
        .catalog
        .accounts
        .add_user("tester", &hash, Role::Uploader)
        .await;
    let token = new_secret();
    state
        .catalog
        .accounts
        .add_token("tester", &digest(&token))
        .await
        .unwrap();
    token
}

/// Polls a JSON video until its status is ready or failed.
pub async fn wait_settled<F, Fut>(mut fetch: F, limit: Duration) -> serde_json::Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let text = fetch().await;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if matches!(v["status"].as_str(), Some("ready") | Some("failed")) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "video did not settle: {text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Makes a test clip with lavfi: size, seconds, optional audio, extra output args.
pub fn make_clip(out: &Path, w: u32, h: u32, secs: u32, audio: bool, extra: &[&str]) {
    let mut args: Vec<String> = vec![
        "-nostdin".into(),
        "-hide_banner".into(),
        "-loglevel".into(),
        "error".into(),
        "-y".into(),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("testsrc2=size={w}x{h}:rate=30:duration={secs}"),
    ];
    if audio {
        args.extend(["-f", "lavfi", "-i"].map(String::from));
        args.push(format!(
            "sine=frequency=440:sample_rate=48000:duration={secs}"
        ));
    }
    args.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ]
        .map(String::from),
    );
    if audio {
        args.extend(["-c:a", "aac", "-shortest"].map(String::from));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(out.display().to_string());
    let st = Command::new("ffmpeg")
        .args(&args)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg failed to make {}", out.display());
}

/// Serves files of `dir` on a loopback port: `http://ADDR/<name>`.
pub async fn source_server(dir: PathBuf) -> SocketAddr {
    use axum::extract::Path as P;
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(move |P(name): P<String>| {
            let dir = dir.clone();
            async move {
                match tokio::fs::read(dir.join(&name)).await {
                    Ok(b) => (StatusCode::OK, b),
                    Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// `(width, height)` of the first video stream, via ffprobe.
pub fn probe_size(file: &Path) -> (u32, u32) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // HLS inputs list the stream once per program too; the first line is enough.
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut it = first
        .trim()
        .trim_end_matches(',')
        .split(',')
        .map(|n| n.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// Every file below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
