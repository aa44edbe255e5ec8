//! `reel-loadgen`: runs simulated HLS viewers against a Reel node or
//! balancer and prints (and optionally writes) the report; `reel-loadgen
//! rps` measures closed-loop throughput on one URL instead.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use reel_loadgen::rps::RpsPlan;
use reel_loadgen::{run, Plan, Rung};
use url::Url;

/// Simulated HLS viewers against a Reel node or balancer.
#[derive(Debug, Parser)]
#[command(
    name = "reel-loadgen",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    /// Another mode instead of viewers.
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Base URL of the node or balancer.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: Url,
    /// Video id to watch.
    #[arg(long, required = true)]
    video: Option<String>,
    /// Master playlist path instead of /media/{video}/master.m3u8.
    #[arg(long)]
    master_path: Option<String>,
    /// Load /watch/{video} first, as a browser does.
    #[arg(long)]
    watch_page: bool,
    /// Concurrent viewers.
    #[arg(long, short = 'n', default_value_t = 10)]
    viewers: u32,
    /// Seconds each viewer plays.
    #[arg(long, short = 'd', default_value_t = 30.0)]
    duration_s: f64,
    /// Seconds over which viewers start, evenly spread.
    #[arg(long, default_value_t = 5.0)]
    ramp_up_s: f64,
    /// Playback speed (media seconds per wall second).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Rendition: abr, lowest, highest, an index (0 = lowest) or a name (720p).
    #[arg(long, default_value = "abr")]
    rung: Rung,
    /// Wall seconds between the first segment and the playhead moving.
    #[arg(long, default_value_t = 0.0)]
    initial_buffer_s: f64,
    /// Media seconds buffered ahead before the player waits.
    #[arg(long, default_value_t = 8.0)]
    max_buffer_s: f64,
    /// Seconds one request may take, body included.
    #[arg(long, default_value_t = 10.0)]
    timeout_s: f64,
    /// Seconds one connect may take.
    #[arg(long, default_value_t = 3.0)]
    connect_timeout_s: f64,
    /// Further attempts at a failed segment.
    #[arg(long, default_value_t = 2)]
    segment_retries: u32,
    /// Give up at the first refusal instead of retrying the start.
    #[arg(long)]
    no_retry_start: bool,
    /// Skip the separate audio rendition.
    #[arg(long)]
    no_audio: bool,
    /// Allow a target outside loopback and private networks.
    #[arg(long)]
    allow_public: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the report as a markdown table here.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Closed-loop throughput: N keep-alive connections each fetching one
    /// URL back to back for a fixed time.
    Rps(RpsArgs),
}

/// Arguments of `reel-loadgen rps`.
#[derive(Debug, clap::Args)]
struct RpsArgs {
    /// The URL every request fetches (plain http).
    #[arg(long)]
    url: Url,
    /// Concurrent keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: u32,
    /// Measured time, in seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration_s: f64,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    /// Seconds one request may take, body included.
    #[arg(long, default_value_t = 10.0)]
    timeout_s: f64,
    /// Seconds one connect may take.
    #[arg(long, default_value_t = 3.0)]
    connect_timeout_s: f64,
    /// Allow a target outside loopback and private networks.
    #[arg(long)]
    allow_public: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("--{name} must be a non-negative number of seconds"))
}

fn plan(a: Args) -> Result<Plan, String> {
    let video = a.video.ok_or("--video is required")?;
    let mut p = Plan::new(a.target, &video);
    p.master_path = a.master_path;
    p.watch_page = a.watch_page;
    p.viewers = a.viewers;
    p.duration = secs("duration-s", a.duration_s)?;
    p.ramp_up = secs("ramp-up-s", a.ramp_up_s)?;
    p.speed = a.speed;
    p.rung = a.rung;
    p.initial_buffer_s = a.initial_buffer_s;
    p.max_buffer_s = a.max_buffer_s;
    p.request_timeout = secs("timeout-s", a.timeout_s)?;
    p.connect_timeout = secs("connect-timeout-s", a.connect_timeout_s)?;
    p.segment_retries = a.segment_retries;
    p.retry_start = !a.no_retry_start;
    p.audio = !a.no_audio;
    p.allow_public = a.allow_public;
    p.progress = true;
    Ok(p)
}

fn rps_plan(a: &RpsArgs) -> Result<RpsPlan, String> {
    let mut p = RpsPlan::new(a.url.clone());
    p.connections = a.connections;
    p.duration = secs("duration-s", a.duration_s)?;
    p.warmup = secs("warmup-s", a.warmup_s)?;
    p.request_timeout = secs("timeout-s", a.timeout_s)?;
    p.connect_timeout = secs("connect-timeout-s", a.connect_timeout_s)?;
    p.allow_public = a.allow_public;
    Ok(p)
}

fn write(path: Option<PathBuf>, text: String) -> Result<(), ExitCode> {
    let Some(path) = path else { return Ok(()) };
    std::fs::write(&path, text + "\n").map_err(|e| {
        eprintln!("reel-loadgen: writing {}: {e}", path.display());
        ExitCode::from(1)
    })
}

async fn rps(a: RpsArgs) -> ExitCode {
    let plan = match rps_plan(&a) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("reel-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match reel_loadgen::rps::run(plan).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reel-loadgen: {e} [{}]", e.code());
            return ExitCode::from(2);
        }
    };
    println!("{}", report.summary());
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    match write(a.json, json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(Mode::Rps(a)) = args.mode.take() {
        return rps(a).await;
    }
    let (json, markdown) = (args.json.clone(), args.markdown.clone());
    let plan = match plan(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("reel-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match run(plan).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reel-loadgen: {e} [{}]", e.code());
            return ExitCode::from(2);
        }
    };
    println!("{}", report.summary());
    let json_text = serde_json::to_string_pretty(&report).unwrap_or_default();
    for (path, text) in [(json, json_text), (markdown, report.markdown())] {
        if let Err(code) = write(path, text) {
            return code;
        }
    }
    ExitCode::SUCCESS
}
