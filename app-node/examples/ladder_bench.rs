//! Transcoding bench, all on one source in one run (only the ratios between
//! its rows mean anything on a shared machine):
//!
//! - `one_process`: Reel's ladder, one ffmpeg that decodes once and encodes
//!   every rung (the poster and storyboard branches left out, so every row
//!   makes the same renditions);
//! - `per_rung`: the same rungs, one ffmpeg each (audio with the first);
//! - `limit`: the decode-once limit, measured in parts: one run that only
//!   decodes and scales (Reel's own filter graph into `-f null`), plus each
//!   rung's encode alone, from a raw file already at the rung's size (made
//!   before timing). The sum is what one decode and the encodes cost when
//!   nothing overlaps;
//! - `import`: `reel-node import` of the same file, poster and storyboard
//!   included: the seconds until the video is playable.
//!
//! Plans and arguments come from Reel's own planner and argument builder.
//! CPU seconds are user + system time of the child processes (ffmpeg, and
//! for `import` reel-node with its ffmpeg), from `getrusage`.
//!
//! ```text
//! cargo run --release -p reel-node --example ladder_bench -- \
//!     [--source FILE | --make-source SECONDS] [--work DIR] [--json-dir DIR] \
//!     [--reel-node BIN] [--meta FILE]
//! ```
//! Without `--source`, a 1920x1080 30 fps clip of `--make-source` seconds
//! (default 30) with detail, noise and a tone is generated. With
//! `--json-dir`, writes `one_process.json`, `per_rung.json`, `limit.json`,
//! `import.json` (with `--reel-node`) there; `--meta` names a file for the
//! source, the rungs and the ratios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use reel_node::media::{
    self, args, LadderOptions, LadderPlan, MediaTools, PicturePlan, ProbeInfo, VideoColor,
};
use serde_json::{json, Value};

/// Wall and CPU seconds of one measured step.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    wall_s: f64,
    cpu_s: f64,
}

impl Cost {
    fn add(self, o: Cost) -> Cost {
        Cost {
            wall_s: self.wall_s + o.wall_s,
            cpu_s: self.cpu_s + o.cpu_s,
        }
    }
    fn json(self) -> Value {
        json!({"wall_s": round3(self.wall_s), "cpu_s": round3(self.cpu_s)})
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// User + system seconds of every child process waited for so far.
fn children_cpu_s() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// Runs `f`, returning its result and what the processes it waited for cost.
async fn measured<T>(f: impl std::future::Future<Output = T>) -> (T, Cost) {
    let (cpu, wall) = (children_cpu_s(), Instant::now());
    let out = f.await;
    let cost = Cost {
        wall_s: wall.elapsed().as_secs_f64(),
        cpu_s: children_cpu_s() - cpu,
    };
    (out, cost)
}

/// Runs ffmpeg with `args` (quiet, no stdin), failing the bench on error;
/// returns its stderr.
fn ffmpeg(args: &[String]) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ffmpeg {args:?} failed: {err}");
    err
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A 1920x1080 30 fps source: moving detail plus temporal noise (the cost
/// of real footage, not of flat test colours) and a sine tone.
fn make_source(out: &Path, seconds: u32) {
    ffmpeg(&[
        "-loglevel".into(),
        "error".into(),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("testsrc2=size=1920x1080:rate=30:duration={seconds}"),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("sine=frequency=330:sample_rate=48000:duration={seconds}"),
        "-vf".into(),
        "noise=alls=20:allf=t+u".into(),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "veryfast".into(),
        "-crf".into(),
        "20".into(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-c:a".into(),
        "aac".into(),
        "-shortest".into(),
        s(out),
    ]);
}

/// Reel's transcode of `plan` into a fresh `out`, measured.
async fn transcode(
    tools: &MediaTools,
    src: &Path,
    plan: &LadderPlan,
    dur: f64,
    out: &Path,
) -> Cost {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let (r, cost) = measured(media::transcode(tools, src, plan, dur, out, &|_| {})).await;
    r.expect("transcode");
    cost
}

/// `plan` with only rung `i` (and the audio when `i` is 0), no pictures.
fn one_rung(plan: &LadderPlan, i: usize) -> LadderPlan {
    LadderPlan {
        rungs: vec![plan.rungs[i].clone()],
        audio: if i == 0 { plan.audio } else { None },
        pictures: PicturePlan::default(),
        ..plan.clone()
    }
}

/// Outputs of the ladder's graph (`[v0]`…) and the audio, into `-f null`
/// or raw files: the ffmpeg arguments that read, decode and scale like
/// Reel's ladder and then stop short of encoding.
fn graph_args(src: &Path, plan: &LadderPlan) -> Vec<String> {
    let mut a = vec![
        "-loglevel".into(),
        "error".into(),
        "-i".into(),
        s(src),
        "-filter_complex".into(),
        args::ladder_graph(plan),
    ];
    for i in 0..plan.rungs.len() {
        a.extend(["-map".into(), format!("[v{i}]")]);
    }
    if plan.audio.is_some() {
        a.extend(["-map".into(), "0:a:0".into()]);
    }
    a
}

/// The decode-once limit: decode (alone, for reference), decode + scale,
/// and each rung's encode alone from a raw file at its size.
async fn limit(
    tools: &MediaTools,
    src: &Path,
    info: &ProbeInfo,
    plan: &LadderPlan,
    work: &Path,
) -> Value {
    let mut decode = vec!["-loglevel".into(), "error".into(), "-i".into(), s(src)];
    decode.extend(["-map".into(), format!("0:{}", info.video_index)]);
    if plan.audio.is_some() {
        decode.extend(["-map".into(), "0:a:0".into()]);
    }
    decode.extend(["-f".into(), "null".into(), "-".into()]);
    let (_, decode_only) = measured(async { ffmpeg(&decode) }).await;
    let mut scale = graph_args(src, plan);
    scale.extend(["-f".into(), "null".into(), "-".into()]);
    let (_, decode_scale) = measured(async { ffmpeg(&scale) }).await;

    let mut encodes = BTreeMap::new();
    let mut total = decode_scale;
    for i in 0..plan.rungs.len() {
        let rung = one_rung(plan, i);
        let raw = work.join(format!("raw-{}.mkv", rung.rungs[0].name));
        let mut make = graph_args(src, &rung);
        make.extend(["-c:v", "rawvideo", "-c:a", "pcm_s16le", "-f", "matroska"].map(String::from));
        make.push(s(&raw));
        ffmpeg(&make);
        // The raw file is already upright, 8-bit and at the rung's size:
        // Reel's own command for it only encodes (scale and format pass
        // frames through unchanged).
        let encode_only = LadderPlan {
            source_stream: 0,
            color: VideoColor {
                pix_fmt: "yuv420p".into(),
                ..VideoColor::default()
            },
            ..rung.clone()
        };
        let out = work.join(format!("limit-{i}"));
        let cost = transcode(tools, &raw, &encode_only, info.duration_s, &out).await;
        let _ = std::fs::remove_file(&raw);
        let _ = std::fs::remove_dir_all(&out);
        total = total.add(cost);
        encodes.insert(rung.rungs[0].name.clone(), cost.json());
    }
    let mut v = total.json();
    v["decode_only"] = decode_only.json();
    v["decode_scale"] = decode_scale.json();
    v["encode_only"] = json!(encodes);
    v
}

/// PSNR (dB, average over frames) of rendition `dir` against the source
/// scaled to its size with the ladder's own conversion.
fn psnr(src: &Path, info: &ProbeInfo, plan: &LadderPlan, dir: &Path, (w, h): (u32, u32)) -> f64 {
    let graph = format!(
        "[1:{}]{},scale={w}:{h},setpts=PTS-STARTPTS[ref];[0:v:0]setpts=PTS-STARTPTS[out];\
         [out][ref]psnr",
        info.video_index,
        plan.color.to_sdr_filters()
    );
    let err = ffmpeg(&[
        "-i".into(),
        s(&dir.join("index.m3u8")),
        "-i".into(),
        s(src),
        "-lavfi".into(),
        graph,
        "-f".into(),
        "null".into(),
        "-".into(),
    ]);
    let avg = err
        .rsplit("average:")
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    avg.parse()
        .unwrap_or_else(|_| panic!("no PSNR in ffmpeg's output: {err}"))
}

/// `reel-node import` of `src` into a fresh data dir, with an ffmpeg that
/// counts its runs.
fn import(reel_node: &Path, src: &Path, work: &Path) -> Value {
    let data = work.join("import-data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let runs = work.join("ffmpeg-runs.log");
    let _ = std::fs::remove_file(&runs);
    let wrapper = work.join("ffmpeg-counted");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec ffmpeg \"$@\"\n",
            runs.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let node = |args: &[&str]| -> String {
        let out = Command::new(reel_node)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("REEL_MEDIA__FFMPEG", &wrapper)
            .output()
            .expect("reel-node runs");
        assert!(
            out.status.success(),
            "reel-node {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    node(&["migrate"]);
    let (cpu, wall) = (children_cpu_s(), Instant::now());
    let said = node(&["import", &s(src), "--title", "bench"]);
    let cost = Cost {
        wall_s: wall.elapsed().as_secs_f64(),
        cpu_s: children_cpu_s() - cpu,
    };
    let ffmpeg_runs = std::fs::read_to_string(&runs)
        .unwrap_or_default()
        .lines()
        .count();
    let mut v = cost.json();
    // Printed by the import: seconds from the start of the encoding
    // attempt until every rung had its first segments stored.
    let playable = said
        .lines()
        .find_map(|l| l.strip_prefix("playable after "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .expect("the import prints the time until playable");
    v["seconds_until_playable"] = json!(round3(playable));
    v["ffmpeg_runs"] = json!(ffmpeg_runs);
    v
}

struct Opts {
    source: Option<PathBuf>,
    make_source_s: u32,
    work: Option<PathBuf>,
    json_dir: Option<PathBuf>,
    reel_node: Option<PathBuf>,
    meta: Option<PathBuf>,
}

fn opts() -> Opts {
    let mut o = Opts {
        source: None,
        make_source_s: 30,
        work: None,
        json_dir: None,
        reel_node: None,
        meta: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--source" => o.source = Some(val().into()),
            "--make-source" => o.make_source_s = val().parse().expect("seconds"),
            "--work" => o.work = Some(val().into()),
            "--json-dir" => o.json_dir = Some(val().into()),
            "--reel-node" => o.reel_node = Some(val().into()),
            "--meta" => o.meta = Some(val().into()),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn write_json(dir: Option<&Path>, name: &str, v: &Value) {
    if let Some(d) = dir {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join(format!("{name}.json")), format!("{v:#}\n")).unwrap();
    }
}

#[tokio::main]
async fn main() {
    let o = opts();
    let tmp = tempfile::tempdir().unwrap();
    let work = o.work.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&work).unwrap();
    let src = match &o.source {
        Some(p) => p.clone(),
        None => {
            let p = work.join("source.mp4");
            eprintln!("making a {} s 1080p source", o.make_source_s);
            make_source(&p, o.make_source_s);
            p
        }
    };
    let tools = MediaTools::default();
    let info = media::probe(&tools, &src).await.expect("probe");
    let full = media::plan_ladder(&info, &LadderOptions::default());
    // The renditions only, so every row makes the same outputs.
    let plan = LadderPlan {
        pictures: PicturePlan::default(),
        ..full.clone()
    };
    let psnr_rung = plan
        .rungs
        .iter()
        .find(|r| r.name == "720p")
        .unwrap_or(&plan.rungs[0])
        .clone();
    let size = (psnr_rung.width, psnr_rung.height);

    eprintln!("one process, decode once");
    let one_dir = work.join("one-process");
    let one = transcode(&tools, &src, &plan, info.duration_s, &one_dir).await;
    let one_psnr = psnr(&src, &info, &plan, &one_dir.join(&psnr_rung.name), size);
    let _ = std::fs::remove_dir_all(&one_dir);

    eprintln!("one process per rung");
    let mut per = Cost::default();
    let mut per_rungs = BTreeMap::new();
    let mut per_psnr = f64::NAN;
    for i in 0..plan.rungs.len() {
        let rung = one_rung(&plan, i);
        let out = work.join(format!("per-rung-{i}"));
        let cost = transcode(&tools, &src, &rung, info.duration_s, &out).await;
        if rung.rungs[0].name == psnr_rung.name {
            per_psnr = psnr(&src, &info, &plan, &out.join(&psnr_rung.name), size);
        }
        let _ = std::fs::remove_dir_all(&out);
        per = per.add(cost);
        per_rungs.insert(rung.rungs[0].name.clone(), cost.json());
    }

    eprintln!("decode-once limit");
    let limit = limit(&tools, &src, &info, &plan, &work).await;

    let imported = o.reel_node.as_deref().map(|bin| {
        eprintln!("reel-node import");
        import(bin, &src, &work)
    });

    let mut one_v = one.json();
    one_v["psnr_720p_db"] = json!(round3(one_psnr));
    let mut per_v = per.json();
    per_v["psnr_720p_db"] = json!(round3(per_psnr));
    per_v["rungs"] = json!(per_rungs);
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            json!(round3(a / b))
        } else {
            Value::Null
        }
    };
    let limit_wall = limit["wall_s"].as_f64().unwrap_or(0.0);
    let mut ratios = json!({
        "per_rung_over_one_process": ratio(per.wall_s, one.wall_s),
        "one_process_over_limit": ratio(one.wall_s, limit_wall),
        "one_process_cpu_over_limit_cpu":
            ratio(one.cpu_s, limit["cpu_s"].as_f64().unwrap_or(0.0)),
        "per_rung_cpu_over_one_process_cpu": ratio(per.cpu_s, one.cpu_s),
        "psnr_720p_delta_db": round3((one_psnr - per_psnr).abs()),
    });
    if let Some(imp) = &imported {
        let w = imp["wall_s"].as_f64().unwrap_or(0.0);
        ratios["import_over_one_process"] = ratio(w, one.wall_s);
    }
    let rung_names: Vec<&str> = plan.rungs.iter().map(|r| r.name.as_str()).collect();
    let meta = json!({
        "source": {
            "width": info.width, "height": info.height,
            "duration_s": round3(info.duration_s), "fps": plan.fps,
            "generated": o.source.is_none(),
        },
        "rungs": rung_names,
        "psnr_rung": psnr_rung.name,
        "preset": tools.preset,
        "ratios": ratios,
    });
    let dir = o.json_dir.as_deref();
    write_json(dir, "one_process", &one_v);
    write_json(dir, "per_rung", &per_v);
    write_json(dir, "limit", &limit);
    if let Some(imp) = &imported {
        write_json(dir, "import", imp);
    }
    if let Some(m) = &o.meta {
        std::fs::write(m, format!("{meta:#}\n")).unwrap();
    }
    println!("one_process {one_v}");
    println!("per_rung {per_v}");
    println!("limit {limit}");
    if let Some(imp) = &imported {
        println!("import {imp}");
    }
    println!("meta {meta}");
}
