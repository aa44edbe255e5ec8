//! Leases run on the database's clock: a node whose own clock is an hour
//! ahead (libfaketime) sees a job another node is working on as leased,
//! never as expired, and does not steal it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::db::{Engine, TestDb};
use common::procs::start_with;
use common::{files_under, make_clip, source_server};
use sqlx::Connection;

const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

fn working(data: &Path) -> bool {
    files_under(&data.join("tmp"))
        .iter()
        .any(|p| p.to_string_lossy().contains("/job-"))
}

#[tokio::test]
async fn a_node_with_a_clock_an_hour_ahead_does_not_steal_a_live_job() {
    assert!(
        Path::new(FAKETIME_LIB).exists(),
        "{FAKETIME_LIB} missing: install Debian's faketime package (scripts/install-deps.sh --browser)"
    );
    let db = TestDb::new(Engine::Postgres).await;
    let media = tempfile::tempdir().unwrap();
    let media_path = media.path().display().to_string();
    let shared = [
        ("REEL_CATALOG__URL", db.url.as_str()),
        ("REEL_STORAGE__PATH", media_path.as_str()),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_with(dir_a.path(), "node-a", &shared, &[]);

    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("long.mp4"), 640, 360, 40, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let http = reqwest::Client::new();
    let token = common::procs::token_with(dir_a.path(), &shared);
    let id = common::procs::create(
        &http,
        &a.base,
        &token,
        "Skewed",
        &format!("http://{addr}/long.mp4"),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !working(dir_a.path()) {
        assert!(Instant::now() < deadline, "node-a never started the job");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Node B's wall clock runs an hour ahead; its timers (monotonic) do not.
    let mut skewed = shared.to_vec();
    skewed.extend([
        ("LD_PRELOAD", FAKETIME_LIB),
        ("FAKETIME", "+1h"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    let b = start_with(dir_b.path(), "node-b", &skewed, &[]);
    // Several lease lengths (3 s) and worker polls (200 ms) pass while A works.
    let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let until = Instant::now() + Duration::from_secs(8);
    let mut status = serde_json::Value::Null;
    while Instant::now() < until {
        assert!(!working(dir_b.path()), "node-b took the job node-a holds");
        let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE video_id = $1")
            .bind(&id)
            .fetch_one(&mut pg)
            .await
            .unwrap();
        assert_eq!(
            attempts, 1,
            "the job was claimed again while node-a held it"
        );
        status = common::procs::video(&http, &b.base, &id).await;
        if status["status"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(status["status"], "failed", "{status}");
    drop((a, b));
}
