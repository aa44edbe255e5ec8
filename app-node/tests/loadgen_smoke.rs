//! `reel-loadgen` against one real node: ten viewers for five seconds
//! with the throughput-based rung choice. A smoke test of the load
//! generator (does it play, count and report), never a timed benchmark.

mod common;

use std::time::Duration;

use common::procs::{import_clip, start};
use reel_loadgen::{Plan, Rung};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_viewers_play_five_seconds_from_a_real_node() {
    let data = tempfile::tempdir().unwrap();
    let id = import_clip(data.path(), 320, 180, 8, true, "Smoke");
    let node = start(data.path(), "node-a", &[]);

    let mut plan = Plan::new(node.base.parse().unwrap(), &id);
    plan.viewers = 10;
    plan.duration = Duration::from_secs(5);
    plan.ramp_up = Duration::from_secs(1);
    plan.speed = 4.0;
    plan.rung = Rung::Abr;
    plan.watch_page = true;
    let r = reel_loadgen::run(plan).await.unwrap();
    eprintln!("{}", r.summary());

    assert_eq!((r.viewers, r.viewers_started), (10, 10), "{r:?}");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Each viewer asks for about one segment per second of its five.
    assert!(r.segments_due >= 20, "{r:?}");
    assert!(r.on_time_ratio >= 0.99, "{r:?}");
    assert!(r.bytes > 0 && r.throughput_mbit_s > 0.0, "{r:?}");
    assert!(r.startup_ms_p50 > 0.0 && r.startup_ms_p50 <= r.startup_ms_p99);
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["viewers"], 10);
    assert!(r.markdown().starts_with("| metric | value |"));

    // Loopback only: a public target is refused before any request.
    let public = Plan::new("http://1.1.1.1/".parse().unwrap(), &id);
    let e = reel_loadgen::run(public).await.unwrap_err();
    assert_eq!(e.code(), "target");
}
