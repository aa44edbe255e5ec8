//! `reel-loadgen`: simulated HLS viewers against a Reel node or balancer.
//!
//! Each viewer plays like a browser tab with a player: it loads the watch
//! page (optionally) and the master playlist with its own cookie jar and
//! connections, picks a rung (fixed, or a throughput-based ABR), fetches
//! the init segment and then segments paced at real time (or faster),
//! looping the video until its time is up. The run reports startup time,
//! segment latency, stalls (segments that missed their playback deadline,
//! see [`pacing`]), errors by status, bytes and throughput.
//!
//! Load is bounded: a set number of viewers, a set time per viewer, and a
//! timeout on every request; targets must be loopback or private
//! addresses unless [`Plan::allow_public`] is set.
//!
//! [`rps`] is the other mode: closed-loop throughput on one URL.

pub mod pacing;
pub mod playlist;
pub mod rps;
pub mod stats;
pub mod target;
mod viewer;

use std::io::IsTerminal;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

pub use stats::{Report, ViewerStats};

/// Most viewers one run may launch.
pub const MAX_VIEWERS: u32 = 20_000;
/// Longest run, per viewer.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The plan is inconsistent (a bad count, speed or time).
    #[error("invalid plan: {0}")]
    Plan(String),
    /// The target is not allowed or cannot be resolved.
    #[error("target refused: {0}")]
    Target(String),
    /// A playlist could not be understood.
    #[error("bad playlist: {0}")]
    Playlist(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

impl LoadgenError {
    /// A stable code for scripts and logs.
    pub fn code(&self) -> &'static str {
        match self {
            LoadgenError::Plan(_) => "plan",
            LoadgenError::Target(_) => "target",
            LoadgenError::Playlist(_) => "playlist",
            LoadgenError::Client(_) => "client",
        }
    }
}

/// Which rendition viewers play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rung {
    /// Start lowest, then the highest rung whose `BANDWIDTH` fits in 70 %
    /// of the measured throughput (a moving average of segment downloads).
    Abr,
    /// The lowest bandwidth.
    Lowest,
    /// The highest bandwidth.
    Highest,
    /// By position, 0 = lowest bandwidth (clamped to the highest).
    Index(usize),
    /// By name (`720p`) or resolution (`1280x720`); lowest if absent.
    Name(String),
}

impl FromStr for Rung {
    type Err = LoadgenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" => return Err(LoadgenError::Plan("empty rung".into())),
            "abr" => Rung::Abr,
            "lowest" => Rung::Lowest,
            "highest" => Rung::Highest,
            _ => match s.parse() {
                Ok(i) => Rung::Index(i),
                Err(_) => Rung::Name(s.to_string()),
            },
        })
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URL of the node or balancer (`http://127.0.0.1:8080`).
    pub target: Url,
    /// Video id.
    pub video: String,
    /// Master playlist path; default `/media/{video}/master.m3u8`.
    pub master_path: Option<String>,
    /// Load `/watch/{video}` first, as a browser does (it sets cookies too).
    pub watch_page: bool,
    /// Viewers launched.
    pub viewers: u32,
    /// How long each viewer plays (wall time from its start).
    pub duration: Duration,
    /// Viewers start evenly spread over this time.
    pub ramp_up: Duration,
    /// Media seconds per wall second (1 = real time).
    pub speed: f64,
    /// Rendition choice.
    pub rung: Rung,
    /// Wall seconds between the first segment and the playhead moving.
    pub initial_buffer_s: f64,
    /// Media seconds a player buffers ahead before it waits.
    pub max_buffer_s: f64,
    /// Limit for one request, body included.
    pub request_timeout: Duration,
    /// Limit for one TCP (and TLS) connect.
    pub connect_timeout: Duration,
    /// Further attempts at a failed segment (after `Retry-After`, at most 5 s).
    pub segment_retries: u32,
    /// Whether a viewer refused at start (503) tries again after
    /// `Retry-After`, as the balancer's waiting page does, until its time is up.
    pub retry_start: bool,
    /// Also fetch the separate audio rendition, as a player does.
    pub audio: bool,
    /// Allow targets outside loopback and private networks.
    pub allow_public: bool,
    /// Draw a progress line on stderr (only when it is a terminal).
    pub progress: bool,
}

impl Plan {
    /// A plan with the defaults of the command line.
    pub fn new(target: Url, video: &str) -> Plan {
        Plan {
            target,
            video: video.to_string(),
            master_path: None,
            watch_page: false,
            viewers: 10,
            duration: Duration::from_secs(30),
            ramp_up: Duration::from_secs(5),
            speed: 1.0,
            rung: Rung::Abr,
            initial_buffer_s: 0.0,
            max_buffer_s: 8.0,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            segment_retries: 2,
            retry_start: true,
            audio: true,
            allow_public: false,
            progress: false,
        }
    }

    fn validate(&self) -> Result<(), LoadgenError> {
        let bad = |m: String| Err(LoadgenError::Plan(m));
        if self.viewers == 0 || self.viewers > MAX_VIEWERS {
            return bad(format!(
                "viewers must be 1..={MAX_VIEWERS}, got {}",
                self.viewers
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return bad("duration must be between 1 ms and 24 h".into());
        }
        if self.ramp_up > MAX_DURATION {
            return bad("ramp-up must be at most 24 h".into());
        }
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 100.0) {
            return bad(format!("speed must be in (0, 100], got {}", self.speed));
        }
        for (name, v) in [
            ("initial buffer", self.initial_buffer_s),
            ("max buffer", self.max_buffer_s),
        ] {
            if !(v.is_finite() && (0.0..=600.0).contains(&v)) {
                return bad(format!("{name} must be 0..=600 s, got {v}"));
            }
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("timeouts must be positive".into());
        }
        if self.segment_retries > 10 {
            return bad("segment retries must be at most 10".into());
        }
        if self.video.is_empty() || self.video.contains(['/', '?', '#']) {
            return bad(format!("video id {:?} is not a plain id", self.video));
        }
        self.master_url()?;
        Ok(())
    }

    fn join(&self, path: &str) -> Result<Url, LoadgenError> {
        self.target
            .join(path)
            .map_err(|e| LoadgenError::Plan(format!("{path}: {e}")))
    }

    /// The master playlist's URL.
    pub fn master_url(&self) -> Result<Url, LoadgenError> {
        match &self.master_path {
            Some(p) => self.join(p),
            None => self.join(&format!("/media/{}/master.m3u8", self.video)),
        }
    }

    /// The watch page's URL.
    pub fn watch_url(&self) -> Result<Url, LoadgenError> {
        self.join(&format!("/watch/{}", self.video))
    }

    fn client(&self) -> Result<reqwest::Client, LoadgenError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .pool_max_idle_per_host(2)
            .tcp_nodelay(true)
            .user_agent(concat!("reel-loadgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LoadgenError::Client(e.to_string()))
    }

    /// Upper bound of the whole run: ramp, play time, and the longest a
    /// viewer's last segment may take with its retries.
    fn hard_limit(&self) -> Duration {
        let per_try = self.request_timeout * 2 + viewer::MAX_RETRY_WAIT;
        self.ramp_up + self.duration + per_try * (self.segment_retries + 2) + Duration::from_secs(5)
    }
}

/// Counters shared with the progress line.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) started: AtomicU64,
    pub(crate) segments: AtomicU64,
    pub(crate) stalls: AtomicU64,
    pub(crate) errors: AtomicU64,
}

fn progress_line(plan: &Plan, live: Arc<Live>) -> Option<tokio::task::JoinHandle<()>> {
    if !plan.progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(plan.viewers.into());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} playing {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(tokio::spawn(async move {
        let _clear = ClearOnDrop(bar.clone());
        loop {
            bar.set_position(live.started.load(Ordering::Relaxed));
            bar.set_message(format!(
                "segments {} stalls {} errors {}",
                live.segments.load(Ordering::Relaxed),
                live.stalls.load(Ordering::Relaxed),
                live.errors.load(Ordering::Relaxed)
            ));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }))
}

/// Clears the progress line when its task is aborted.
struct ClearOnDrop(indicatif::ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Runs the plan and returns the merged report.
pub async fn run(plan: Plan) -> Result<Report, LoadgenError> {
    plan.validate()?;
    target::check(&plan.target, plan.allow_public).await?;
    let plan = Arc::new(plan);
    let live = Arc::new(Live::default());
    let begin = Instant::now();
    let hard_stop = tokio::time::Instant::from(begin + plan.hard_limit());
    let progress = progress_line(&plan, Arc::clone(&live));
    let mut set = tokio::task::JoinSet::new();
    let n = plan.viewers;
    for k in 0..n {
        let delay = plan.ramp_up.mul_f64(f64::from(k) / f64::from(n));
        let client = plan.client()?;
        let (plan, live) = (Arc::clone(&plan), Arc::clone(&live));
        set.spawn(async move {
            tokio::time::sleep(delay).await;
            let end = Instant::now() + plan.duration;
            viewer::Viewer::new(plan, live, client, end).watch().await
        });
    }
    let mut all = Vec::with_capacity(n as usize);
    loop {
        match tokio::time::timeout_at(hard_stop, set.join_next()).await {
            Ok(Some(Ok(stats))) => all.push(stats),
            Ok(Some(Err(_))) => all.push(lost("panicked")),
            Ok(None) => break,
            Err(_) => {
                // Every request has a timeout, so this is a safety net only.
                set.abort_all();
                all.extend((all.len()..n as usize).map(|_| lost("aborted")));
                break;
            }
        }
    }
    if let Some(p) = progress {
        p.abort();
        let _ = p.await;
    }
    Ok(Report::from_viewers(&all, begin.elapsed().as_secs_f64()))
}

fn lost(kind: &str) -> ViewerStats {
    let mut s = ViewerStats::default();
    s.error(kind);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rung_names() {
        assert_eq!("abr".parse::<Rung>().unwrap(), Rung::Abr);
        assert_eq!("2".parse::<Rung>().unwrap(), Rung::Index(2));
        assert_eq!("720p".parse::<Rung>().unwrap(), Rung::Name("720p".into()));
        assert!("".parse::<Rung>().is_err());
    }

    #[test]
    fn plans_are_bounded() {
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        let ok = Plan::new(base.clone(), "abc");
        assert!(ok.validate().is_ok());
        assert_eq!(ok.master_url().unwrap().path(), "/media/abc/master.m3u8");
        let cases: [fn(&mut Plan); 8] = [
            |p| p.viewers = 0,
            |p| p.viewers = MAX_VIEWERS + 1,
            |p| p.duration = Duration::ZERO,
            |p| p.speed = 0.0,
            |p| p.speed = f64::INFINITY,
            |p| p.max_buffer_s = -1.0,
            |p| p.request_timeout = Duration::ZERO,
            |p| p.video = "../x".into(),
        ];
        for change in cases {
            let mut p = ok.clone();
            change(&mut p);
            let e = p.validate().unwrap_err();
            assert_eq!(e.code(), "plan");
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_counted_not_hung() {
        // A port nobody listens on: every viewer fails fast with `connect`.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut plan = Plan::new(
            Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            "abc",
        );
        plan.viewers = 3;
        plan.duration = Duration::from_millis(300);
        plan.ramp_up = Duration::ZERO;
        plan.retry_start = false;
        let r = run(plan).await.unwrap();
        assert_eq!((r.viewers, r.viewers_started), (3, 0));
        assert_eq!(r.errors["connect"], 3);
    }
}
