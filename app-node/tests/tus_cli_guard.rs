//! `reel-node upload` against a scripted tus server: it waits out a lock
//! that lasts longer than its failure budget (honouring Retry-After), and it
//! never sends its token to an upload URL on another origin.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{patch, post};
use axum::Router;
use common::procs::BIN;

#[derive(Default)]
struct Script {
    /// Where Location points.
    location: std::sync::Mutex<String>,
    /// PATCHes answer 423 until this instant (ms since `t0`).
    locked_for_ms: u64,
    t0: std::sync::Mutex<Option<Instant>>,
    offset: AtomicU64,
    patches: AtomicUsize,
}

async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

fn script_app(s: Arc<Script>) -> Router {
    let (c, h, p) = (s.clone(), s.clone(), s.clone());
    Router::new()
        .route(
            "/api/uploads",
            post(move || {
                let s = c.clone();
                async move {
                    *s.t0.lock().unwrap() = Some(Instant::now());
                    let loc = s.location.lock().unwrap().clone();
                    (
                        StatusCode::CREATED,
                        [
                            ("location", loc),
                            ("reel-video-id", "0123456789abcdef".to_string()),
                            ("tus-resumable", "1.0.0".to_string()),
                        ],
                    )
                }
            }),
        )
        .route(
            "/api/uploads/{id}",
            patch(move |headers: HeaderMap, body: axum::body::Bytes| {
                let s = p.clone();
                async move {
                    s.patches.fetch_add(1, Ordering::SeqCst);
                    let t0 = s.t0.lock().unwrap().unwrap_or_else(Instant::now);
                    if t0.elapsed() < Duration::from_millis(s.locked_for_ms) {
                        return (StatusCode::LOCKED, [("retry-after", "2")]).into_response();
                    }
                    let at: u64 = headers["upload-offset"].to_str().unwrap().parse().unwrap();
                    let end = at + body.len() as u64;
                    s.offset.store(end, Ordering::SeqCst);
                    (StatusCode::NO_CONTENT, [("upload-offset", end.to_string())]).into_response()
                }
            })
            .head(move || {
                let s = h.clone();
                async move {
                    let o = s.offset.load(Ordering::SeqCst).to_string();
                    (
                        StatusCode::OK,
                        [("upload-offset", o), ("upload-length", "1000".to_string())],
                    )
                }
            }),
        )
}

async fn run_cli(server: &str) -> std::process::Output {
    let src = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = src.path().join("f.bin");
    std::fs::write(&file, vec![9u8; 1000]).unwrap();
    let server = server.to_string();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(BIN)
            .arg("upload")
            .arg(&file)
            .args(["--title", "T", "--server", &server, "--no-wait"])
            .arg("--state-dir")
            .arg(state.path())
            .env("REEL_TOKEN", "secret-token")
            .output()
            .unwrap();
        drop((src, state));
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_longer_than_the_failure_budget_is_waited_out() {
    let s = Arc::new(Script {
        locked_for_ms: 25_000,
        ..Default::default()
    });
    *s.location.lock().unwrap() = "/api/uploads/0123456789abcdef".into();
    let base = serve(script_app(s.clone())).await;
    let t = Instant::now();
    let out = run_cli(&base).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(t.elapsed() >= Duration::from_secs(25));
    assert_eq!(s.offset.load(Ordering::SeqCst), 1000);
    // Retry-After (2 s) was honoured: about a dozen tries, not hundreds.
    let n = s.patches.load(Ordering::SeqCst);
    assert!((8..=20).contains(&n), "{n} PATCHes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_url_on_another_origin_gets_no_token() {
    let elsewhere = Arc::new(Script::default());
    let other = serve(script_app(elsewhere.clone())).await;
    let s = Arc::new(Script::default());
    *s.location.lock().unwrap() = format!("{other}/api/uploads/0123456789abcdef");
    let base = serve(script_app(s)).await;
    let out = run_cli(&base).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("elsewhere"), "{err}");
    assert_eq!(elsewhere.patches.load(Ordering::SeqCst), 0);
}
