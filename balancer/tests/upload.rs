//! A 1 GiB upload streams through the balancer without being buffered.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;

use common::*;

const TOTAL: u64 = 1 << 30;
const CHUNK: usize = 1 << 20;
const RSS_LIMIT_KIB: u64 = 100 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_upload_keeps_memory_flat() {
    let a = Backend::start("a");
    let mut setup = Setup::new(&[&a]);
    setup.read_timeout_ms = 60_000;
    let bal = Balancer::start("upload", &setup);
    let idle = bal.rss_kib();

    // One shared 1 MiB buffer handed out 1024 times: the client side never
    // holds more than a chunk either.
    let chunk = Bytes::from(vec![0x5a_u8; CHUNK]);
    let body = stream::iter(
        (0..TOTAL / CHUNK as u64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(idle));
    let sampler = {
        let (done, peak, pid) = (done.clone(), peak.clone(), bal.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    if let Some(kib) = s
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(150))
        .build()
        .unwrap();
    let r = c
        .post(bal.url("/upload"))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("upload failed");
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let peak = peak.load(Ordering::Relaxed);
    eprintln!("balancer RSS: idle {idle} KiB, peak during 1 GiB upload {peak} KiB");
    assert_eq!(
        v["bytes"].as_u64(),
        Some(TOTAL),
        "backend did not get every byte"
    );
    assert!(peak < RSS_LIMIT_KIB, "balancer RSS peaked at {peak} KiB");
}
