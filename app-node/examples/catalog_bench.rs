//! How long the catalog's hot calls take with 10,000 videos, per engine:
//! a job claim (with 1,000 queued jobs behind 9,000 finished ones), the
//! API's listing (24 ready videos with their renditions and the total), a
//! deep page, a title search, the home page's listing (`Videos::home`: 24
//! ready videos, whether more follow, and what is processing) on page 1,
//! page 300 and for a search, and one video by id.
//!
//! `cargo run --release -p reel-node --example catalog_bench -- URL [URL…]`
//! Each URL must name an empty database (or a SQLite file that does not
//! exist yet); it is filled first. Prints a Markdown table of p50/p99 in
//! milliseconds; results are recorded in `benches/README.md`.
//!
//! `catalog_bench --fill-only URL` only fills the catalog (the bench script
//! `scripts/bench/catalog.sh` then serves it with a real node). The fill is
//! the same on every run: titles `Video number {i} about topic {i % 97}`,
//! the first 9,000 published, the last 1,000 queued.

use std::time::{Duration, Instant};

use reel_node::catalog::{
    self, new_id, new_version, CatalogOptions, JobSource, NewVideo, Published, Rendition,
    StatusFilter,
};

const VIDEOS: usize = 10_000;
const QUEUED: usize = 1_000;
const SAMPLES: usize = 200;

fn rendition(name: &str, w: u32, h: u32) -> Rendition {
    Rendition {
        name: name.into(),
        width: w,
        height: h,
        bandwidth: 3_000_000,
        average_bandwidth: 2_500_000,
        codecs: "avc1.64001f,mp4a.40.2".into(),
        frame_rate: 30.0,
        playlist: format!("{name}/index.m3u8"),
    }
}

async fn fill(c: &catalog::Catalog) {
    let lease = Duration::from_secs(600);
    for i in 0..VIDEOS {
        let nv = NewVideo {
            id: new_id(),
            title: format!("Video number {i} about topic {}", i % 97),
            source: "bench".into(),
            owner_id: None,
            visibility: reel_node::catalog::Visibility::Public,
        };
        c.videos
            .create(&nv, &JobSource::Url("http://127.0.0.1/x.mp4".into()))
            .await
            .unwrap();
        if i < VIDEOS - QUEUED {
            let job = c.jobs.claim_for(&nv.id, lease, 3).await.unwrap().unwrap();
            let p = Published {
                version: new_version(),
                duration_s: 60.0,
                width: 1280,
                height: 720,
                has_poster: true,
                has_storyboard: true,
                renditions: vec![
                    rendition("720p", 1280, 720),
                    rendition("480p", 854, 480),
                    rendition("240p", 426, 240),
                ],
                subtitles: Vec::new(),
                time_to_playable_s: None,
                announce: None,
            };
            c.jobs.finish(&job, &p).await.unwrap();
        }
    }
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn time<F, Fut>(mut f: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut v = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let t = Instant::now();
        f(i).await;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (pct(v.clone(), 0.5), pct(v, 0.99))
}

#[tokio::main]
async fn main() {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    let fill_only = urls.first().is_some_and(|a| a == "--fill-only");
    if fill_only {
        urls.remove(0);
    }
    if urls.is_empty() {
        eprintln!("usage: catalog_bench [--fill-only] URL [URL…] (empty databases)");
        std::process::exit(2);
    }
    if fill_only {
        for url in urls {
            let c = catalog::open(&url, &CatalogOptions::default())
                .await
                .unwrap();
            let t = Instant::now();
            fill(&c).await;
            eprintln!("filled {url} in {:.1} s", t.elapsed().as_secs_f64());
        }
        return;
    }
    println!(
        "{VIDEOS} videos ({QUEUED} queued), {SAMPLES} samples per call, one client, milliseconds\n"
    );
    println!("| engine | fill (s) | claim p50 / p99 | page 1 p50 / p99 | page 300 p50 / p99 | search p50 / p99 | home p50 / p99 | home page 300 p50 / p99 | home search p50 / p99 | get p50 / p99 |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for url in urls {
        let c = catalog::open(&url, &CatalogOptions::default())
            .await
            .unwrap();
        let t = Instant::now();
        fill(&c).await;
        let fill_s = t.elapsed().as_secs_f64();
        let lease = Duration::from_secs(600);
        let claimed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let claim = time(|_| {
            let (c, claimed) = (c.clone(), claimed.clone());
            async move {
                let j = c.jobs.claim(lease, 3).await.unwrap().expect("a queued job");
                claimed.lock().unwrap().push(j);
            }
        })
        .await;
        let claimed = std::mem::take(&mut *claimed.lock().unwrap());
        for j in &claimed {
            c.jobs.release(j).await.unwrap();
        }
        let page1 = time(|_| {
            let c = c.clone();
            async move {
                let p = c
                    .videos
                    .list(None, StatusFilter::Ready, None, 1, 24)
                    .await
                    .unwrap();
                assert_eq!(p.videos.len(), 24);
            }
        })
        .await;
        let page300 = time(|_| {
            let c = c.clone();
            async move {
                let p = c
                    .videos
                    .list(None, StatusFilter::Ready, None, 300, 24)
                    .await
                    .unwrap();
                assert_eq!(p.videos.len(), 24);
            }
        })
        .await;
        let search = time(|i| {
            let c = c.clone();
            async move {
                let q = format!("topic {}", i % 97);
                c.videos
                    .list(Some(&q), StatusFilter::Ready, None, 1, 24)
                    .await
                    .unwrap();
            }
        })
        .await;
        let home = time(|_| {
            let c = c.clone();
            async move {
                let p = c.videos.home(None, 1, 24).await.unwrap();
                assert_eq!((p.ready.len(), p.processing.len()), (24, 24));
            }
        })
        .await;
        let home300 = time(|_| {
            let c = c.clone();
            async move {
                let p = c.videos.home(None, 300, 24).await.unwrap();
                assert_eq!(p.ready.len(), 24);
            }
        })
        .await;
        let home_search = time(|i| {
            let c = c.clone();
            async move {
                let q = format!("topic {}", i % 97);
                c.videos.home(Some(&q), 1, 24).await.unwrap();
            }
        })
        .await;
        let ids: Vec<String> = c
            .videos
            .list(None, StatusFilter::Ready, None, 1, 100)
            .await
            .unwrap()
            .videos
            .into_iter()
            .map(|v| v.id)
            .collect();
        let get = time(|i| {
            let (c, id) = (c.clone(), ids[i % ids.len()].clone());
            async move {
                c.videos.get(&id).await.unwrap().unwrap();
            }
        })
        .await;
        let engine = url.split(':').next().unwrap_or("");
        let f = |(a, b): (f64, f64)| format!("{a:.2} / {b:.2}");
        println!(
            "| {engine} | {fill_s:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f(claim),
            f(page1),
            f(page300),
            f(search),
            f(home),
            f(home300),
            f(home_search),
            f(get)
        );
    }
}
