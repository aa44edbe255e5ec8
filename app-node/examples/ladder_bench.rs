//! Measures the single-decode ladder against one ffmpeg process per rung on
//! the same source, with Reel's own planner and argument builder.
//!
//! `cargo run --release -p reel-node --example ladder_bench -- [SOURCE] [RUNS]`
//! Without SOURCE a 1080p 30 s test clip with audio is generated. Prints a
//! Markdown table; results are recorded in `benches/README.md`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use reel_node::media::{self, LadderOptions, LadderPlan, MediaTools};

fn make_source(out: &Path) {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=30:duration=30",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:sample_rate=48000:duration=30",
        ])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "could not make the bench source");
}

async fn timed(tools: &MediaTools, src: &Path, plan: &LadderPlan, dur: f64, out: &Path) -> f64 {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let t = Instant::now();
    media::transcode(tools, src, plan, dur, out, &|_| {})
        .await
        .expect("transcode");
    t.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let work = tempfile::tempdir().unwrap();
    let src = match args.first() {
        Some(p) => PathBuf::from(p),
        None => {
            let p = work.path().join("source.mp4");
            make_source(&p);
            p
        }
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(1).max(1);
    let tools = MediaTools::default();
    let info = media::probe(&tools, &src).await.expect("probe");
    let plan = media::plan_ladder(&info, &LadderOptions::default());
    let out = work.path().join("out");
    let (mut single, mut split) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        single.push(timed(&tools, &src, &plan, info.duration_s, &out).await);
        // The same rungs, one process each (audio encoded once, with the first).
        let mut total = 0.0;
        for (i, rung) in plan.rungs.iter().enumerate() {
            let one = LadderPlan {
                rungs: vec![rung.clone()],
                audio: if i == 0 { plan.audio } else { None },
                ..plan.clone()
            };
            total += timed(&tools, &src, &one, info.duration_s, &out).await;
        }
        split.push(total);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (s, p) = (median(&mut single), median(&mut split));
    let names: Vec<&str> = plan.rungs.iter().map(|r| r.name.as_str()).collect();
    println!(
        "source: {}x{} {:.1} s, rungs {}, preset {}, cores {}, runs {runs}",
        info.width,
        info.height,
        info.duration_s,
        names.join(" "),
        tools.preset,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!();
    println!("| method | wall time (s) | × source duration |");
    println!("|---|---|---|");
    println!(
        "| one process, decode once (Reel) | {s:.1} | {:.2} |",
        s / info.duration_s
    );
    println!(
        "| one process per rung | {p:.1} | {:.2} |",
        p / info.duration_s
    );
    println!();
    println!("per-rung / single-decode = {:.2}", p / s);
}
