//! One simulated viewer: loads the page (optionally) and the master
//! playlist, keeps its cookies like a browser, picks a rung, fetches the
//! init segment and then segments paced by its [`PlayerClock`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use url::Url;

use crate::pacing::{Arrival, PlayerClock};
use crate::playlist::{parse_master, parse_media, Master, Media};
use crate::stats::ViewerStats;
use crate::{Live, Plan, Rung};

/// Redirects followed for one request (the node sends one, from an
/// unversioned to a versioned media path).
const MAX_REDIRECTS: usize = 5;
/// Wait before retrying a failed request when the server named none.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_millis(500);
/// Longest wait before a retry, whatever `Retry-After` says.
pub(crate) const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Share of the measured throughput the ABR is willing to use.
const ABR_SAFETY: f64 = 0.7;

/// A request that did not produce a usable body.
#[derive(Debug)]
struct Failure {
    /// `Retry-After` of a 503/429, in seconds.
    retry_after: Option<u64>,
    /// Whether trying again may help: overload and network failures, not
    /// a 404 or a broken playlist.
    transient: bool,
}

impl Failure {
    fn wait(&self) -> Duration {
        self.retry_after
            .map_or(DEFAULT_RETRY_WAIT, Duration::from_secs)
            .min(MAX_RETRY_WAIT)
    }
}

/// The rendition being played.
struct Track {
    media: Media,
}

/// A viewer's connection, cookies and counters.
pub(crate) struct Viewer {
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    plan: Arc<Plan>,
    live: Arc<Live>,
    stats: ViewerStats,
    t0: Instant,
    end: Instant,
}

/// The state after a successful start.
struct Playing {
    master: Master,
    rung: usize,
    /// Parsed media playlists by variant index, fetched when first needed.
    tracks: Vec<Option<Track>>,
    audio: Option<Media>,
}

fn secs_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    }
}

impl Viewer {
    /// A viewer with its own client (its own connections, as a browser
    /// tab has), playing until `end`.
    pub(crate) fn new(
        plan: Arc<Plan>,
        live: Arc<Live>,
        client: reqwest::Client,
        end: Instant,
    ) -> Self {
        Viewer {
            client,
            cookies: BTreeMap::new(),
            plan,
            live,
            stats: ViewerStats::default(),
            t0: Instant::now(),
            end,
        }
    }

    fn cookie_header(&self) -> String {
        let parts: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.join("; ")
    }

    /// Keeps `name=value` of every `Set-Cookie`; `Max-Age=0` deletes.
    /// One viewer talks to one host, so domains and paths are not tracked.
    fn store_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let mut parts = v.split(';');
            let Some((name, value)) = parts.next().and_then(|kv| kv.split_once('=')) else {
                continue;
            };
            let expired = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if expired {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }

    fn fail(&mut self, kind: &str, started: Instant, retry_after: Option<u64>) -> Failure {
        self.stats.error(kind);
        self.live.errors.fetch_add(1, Ordering::Relaxed);
        self.stats.slowest_request_s = self.stats.slowest_request_s.max(secs_since(started));
        let transient = matches!(
            kind,
            "503" | "429" | "502" | "504" | "timeout" | "connect" | "body" | "request"
        );
        Failure {
            retry_after,
            transient,
        }
    }

    /// GET with cookies, following redirects. Every wait is bounded by
    /// the client's connect and request timeouts.
    async fn get(&mut self, url: &Url) -> Result<(Bytes, Url, f64), Failure> {
        let mut url = url.clone();
        let started = Instant::now();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.client.get(url.clone());
            if !self.cookies.is_empty() {
                req = req.header(COOKIE, self.cookie_header());
            }
            self.stats.requests += 1;
            let t = Instant::now();
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => return Err(self.fail(error_kind(&e), t, None)),
            };
            self.store_cookies(resp.headers());
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                // Read the (small) body so the connection can be reused.
                let _ = resp.bytes().await;
                match next {
                    Some(n) if n.host_str() == url.host_str() => url = n,
                    _ => return Err(self.fail("redirect", t, None)),
                }
                continue;
            }
            if !status.is_success() {
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if status.as_u16() == 503 && retry_after.is_some() {
                    self.stats.retry_after_503 += 1;
                }
                let _ = resp.bytes().await;
                return Err(self.fail(status.as_str(), t, retry_after));
            }
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => return Err(self.fail(error_kind(&e), t, None)),
            };
            self.stats.bytes += body.len() as u64;
            let took = secs_since(t);
            self.stats.slowest_request_s = self.stats.slowest_request_s.max(took);
            return Ok((body, url, secs_since(started)));
        }
        Err(self.fail("redirect", started, None))
    }

    /// Fetches and parses a playlist.
    async fn playlist<T>(
        &mut self,
        url: &Url,
        parse: fn(&str, &Url) -> Result<T, crate::LoadgenError>,
    ) -> Result<T, Failure> {
        let (body, final_url, _) = self.get(url).await?;
        let text = String::from_utf8_lossy(&body);
        parse(&text, &final_url).map_err(|_| {
            self.stats.error("playlist");
            Failure {
                retry_after: None,
                transient: false,
            }
        })
    }

    fn first_rung(&self, master: &Master) -> usize {
        let last = master.variants.len() - 1;
        match &self.plan.rung {
            Rung::Abr | Rung::Lowest => 0,
            Rung::Highest => last,
            Rung::Index(i) => (*i).min(last),
            Rung::Name(n) => master
                .variants
                .iter()
                .position(|v| v.name() == *n || v.resolution == *n)
                .unwrap_or(0),
        }
    }

    /// The media playlist and init segment of variant `rung`, fetched
    /// once per viewer.
    async fn track(&mut self, p: &mut Playing, rung: usize) -> Result<(), Failure> {
        if p.tracks[rung].is_some() {
            return Ok(());
        }
        let url = p.master.variants[rung].url.clone();
        let media = self.playlist(&url, parse_media).await?;
        if let Some(init) = &media.init {
            self.get(init).await?;
        }
        p.tracks[rung] = Some(Track { media });
        Ok(())
    }

    /// Segment `i` (looping) of the current rung and of the audio, if any.
    /// Returns its media duration and whether it arrived.
    async fn segment(&mut self, p: &Playing, i: usize) -> Result<f64, Failure> {
        let media = &p.tracks[p.rung]
            .as_ref()
            .expect("current rung loaded")
            .media;
        let seg = media.segments[i % media.segments.len()].clone();
        let (_, _, took) = self.get(&seg.url).await?;
        self.stats.segment_s.push(took);
        if let Some(audio) = &p.audio {
            let a = audio.segments[i % audio.segments.len()].url.clone();
            let (_, _, took) = self.get(&a).await?;
            self.stats.segment_s.push(took);
        }
        Ok(seg.duration_s)
    }

    /// Page, master playlist, rung playlist, init segments, first segment.
    async fn start(&mut self) -> Result<(Playing, f64), Failure> {
        if self.plan.watch_page {
            let page = self.plan.watch_url().map_err(|_| Failure {
                retry_after: None,
                transient: false,
            })?;
            self.get(&page).await?;
        }
        let master_url = self.plan.master_url().map_err(|_| Failure {
            retry_after: None,
            transient: false,
        })?;
        let master = self.playlist(&master_url, parse_master).await?;
        let rung = self.first_rung(&master);
        let mut p = Playing {
            tracks: (0..master.variants.len()).map(|_| None).collect(),
            audio: None,
            rung,
            master,
        };
        self.track(&mut p, rung).await?;
        if self.plan.audio {
            if let Some(url) = p.master.audio.clone() {
                let audio = self.playlist(&url, parse_media).await?;
                if let Some(init) = &audio.init {
                    self.get(init).await?;
                }
                p.audio = Some(audio);
            }
        }
        let d = self.segment(&p, 0).await?;
        Ok((p, d))
    }

    fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Plays until the viewer's time is up and returns what it measured.
    pub(crate) async fn watch(mut self) -> ViewerStats {
        self.t0 = Instant::now();
        let (mut p, first) = loop {
            match self.start().await {
                Ok(started) => break started,
                Err(f) => {
                    // A player page retries by itself after a refusal.
                    let wait = f.wait();
                    if !self.plan.retry_start || !f.transient || self.remaining() <= wait {
                        return self.stats;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        };
        let startup = secs_since(self.t0);
        self.stats.startup_s = Some(startup);
        self.live.started.fetch_add(1, Ordering::Relaxed);
        let plan = Arc::clone(&self.plan);
        let mut clock = PlayerClock::start(startup, plan.initial_buffer_s, first, plan.speed);
        let mut estimate: Option<f64> = None;
        for i in 1.. {
            let at =
                self.t0 + Duration::from_secs_f64(clock.request_at(plan.max_buffer_s).max(0.0));
            if at >= self.end {
                break;
            }
            tokio::time::sleep_until(at.into()).await;
            let before = self.stats.bytes;
            let t = Instant::now();
            let mut result = self.segment(&p, i).await;
            let mut attempt = 0;
            while let Err(f) = &result {
                let wait = f.wait();
                if attempt >= plan.segment_retries || self.remaining() <= wait {
                    break;
                }
                attempt += 1;
                tokio::time::sleep(wait).await;
                result = self.segment(&p, i).await;
            }
            let media = &p.tracks[p.rung].as_ref().expect("loaded").media;
            let duration = media.segments[i % media.segments.len()].duration_s;
            let arrival = clock.complete(secs_since(self.t0), duration);
            self.stats.segments_due += 1;
            self.live.segments.fetch_add(1, Ordering::Relaxed);
            match (&result, arrival) {
                (Ok(_), Arrival::OnTime) => self.stats.segments_on_time += 1,
                (ok, _) => {
                    if ok.is_err() {
                        self.stats.segments_failed += 1;
                    }
                    self.stats.stalls += 1;
                    self.live.stalls.fetch_add(1, Ordering::Relaxed);
                }
            }
            if result.is_ok() && plan.rung == Rung::Abr {
                let bits = (self.stats.bytes - before) as f64 * 8.0;
                let sample = bits / secs_since(t).max(1e-4);
                let e = estimate.map_or(sample, |e| 0.7 * e + 0.3 * sample);
                estimate = Some(e);
                let want = p
                    .master
                    .variants
                    .iter()
                    .rposition(|v| (v.bandwidth as f64) <= e * ABR_SAFETY)
                    .unwrap_or(0);
                // On a failed switch the viewer stays on the rung it has.
                if want != p.rung && self.track(&mut p, want).await.is_ok() {
                    p.rung = want;
                }
            }
        }
        self.stats.stall_s = clock.stalled_s();
        self.stats
    }
}
