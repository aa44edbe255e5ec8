//! Closed-loop throughput: a fixed number of keep-alive connections, each
//! issuing GETs for one URL back to back for a fixed time. It answers "how
//! many requests per second can this server answer for this object", the
//! way `wrk` does, with the loadgen's target check and report formats.
//!
//! Each connection is a bare HTTP/1.1 connection driven by hyper (no pool,
//! no cookie jar, no redirects), and the body is counted frame by frame and
//! never buffered, so the client does as little work per request as it
//! can and is not what limits the number. Latencies go into an HDR
//! histogram, so memory stays fixed however long or fast the run is.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use url::Url;

use crate::LoadgenError;

/// Most connections one run may open.
pub const MAX_CONNECTIONS: u32 = 4096;
/// Longest measured time of one run.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Longest warm-up.
pub const MAX_WARMUP: Duration = Duration::from_secs(60);
/// Pause after a failed connect, so a refused port is not hammered in a
/// tight loop (and the error count stays meaningful).
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);
/// Highest latency the histogram records exactly (longer ones saturate);
/// every request has a shorter timeout anyway.
const HIST_MAX_US: u64 = 120_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct RpsPlan {
    /// The object every request fetches (`http://` only).
    pub url: Url,
    /// Concurrent keep-alive connections.
    pub connections: u32,
    /// Measured time.
    pub duration: Duration,
    /// Time before the measurement during which load runs but is not counted
    /// (connections open, caches and CPU frequency settle).
    pub warmup: Duration,
    /// Limit for one request, body included.
    pub request_timeout: Duration,
    /// Limit for one TCP connect.
    pub connect_timeout: Duration,
    /// Allow targets outside loopback and private networks.
    pub allow_public: bool,
}

impl RpsPlan {
    /// A plan with the defaults of the command line.
    pub fn new(url: Url) -> RpsPlan {
        RpsPlan {
            url,
            connections: 64,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            allow_public: false,
        }
    }

    /// Checks bounds and the URL's shape.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        let bad = |m: String| Err(LoadgenError::Plan(m));
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return bad(format!(
                "connections must be 1..={MAX_CONNECTIONS}, got {}",
                self.connections
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return bad("duration must be between 1 ms and 600 s".into());
        }
        if self.warmup > MAX_WARMUP {
            return bad("warm-up must be at most 60 s".into());
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("timeouts must be positive".into());
        }
        if self.url.scheme() != "http" {
            return bad(format!("{}: rps speaks plain http only", self.url));
        }
        Ok(())
    }
}

/// Counts of one connection's loop (or, merged, of all of them), for the
/// measured window only.
#[derive(Debug, Clone)]
pub struct RpsStats {
    /// Latency of every 2xx response, microseconds, body included.
    pub latency_us: Histogram<u64>,
    /// 2xx responses completed.
    pub ok: u64,
    /// Body bytes of those responses.
    pub bytes: u64,
    /// Failures by kind: the status (`"503"`) or `connect`, `timeout`,
    /// `io`, `body`.
    pub errors: BTreeMap<String, u64>,
    /// Connections opened after the first (the server closed, or a request
    /// failed).
    pub reconnects: u64,
}

impl Default for RpsStats {
    fn default() -> Self {
        RpsStats {
            // 3 significant digits: 0.1 % resolution at any latency.
            latency_us: Histogram::new_with_bounds(1, HIST_MAX_US, 3)
                .expect("static histogram bounds are valid"),
            ok: 0,
            bytes: 0,
            errors: BTreeMap::new(),
            reconnects: 0,
        }
    }
}

impl RpsStats {
    /// Records one completed 2xx response.
    pub fn record(&mut self, latency: Duration, bytes: u64) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(us.clamp(1, HIST_MAX_US));
        self.ok += 1;
        self.bytes += bytes;
    }

    /// Counts one failure.
    pub fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds another connection's counts to these.
    pub fn merge(&mut self, other: &RpsStats) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.ok += other.ok;
        self.bytes += other.bytes;
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
        self.reconnects += other.reconnects;
    }
}

/// The result of a run, as written to `--json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RpsReport {
    /// The URL fetched.
    pub url: String,
    /// Connections used.
    pub connections: u32,
    /// Measured seconds (the warm-up excluded).
    pub duration_s: f64,
    /// 2xx responses completed in the measured window.
    pub requests: u64,
    /// `requests / duration_s`.
    pub requests_per_s: f64,
    /// Body bytes of those responses.
    pub bytes: u64,
    /// Body bytes per second, in MB/s (10^6).
    pub mbytes_per_s: f64,
    /// Median latency, milliseconds (request sent to last body byte).
    pub latency_ms_p50: f64,
    /// 99th percentile latency, milliseconds.
    pub latency_ms_p99: f64,
    /// Slowest response, milliseconds.
    pub latency_ms_max: f64,
    /// Failures by kind (status code, `connect`, `timeout`, `io`, `body`).
    pub errors: BTreeMap<String, u64>,
    /// Connections reopened during the window.
    pub reconnects: u64,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl RpsReport {
    /// Builds the report from merged counts over `duration_s` seconds.
    pub fn new(plan: &RpsPlan, s: &RpsStats, duration_s: f64) -> RpsReport {
        let per_s = |n: u64| {
            if duration_s > 0.0 {
                n as f64 / duration_s
            } else {
                0.0
            }
        };
        let ms = |us: u64| round2(us as f64 / 1000.0);
        let empty = s.ok == 0;
        RpsReport {
            url: plan.url.to_string(),
            connections: plan.connections,
            duration_s: (duration_s * 1000.0).round() / 1000.0,
            requests: s.ok,
            requests_per_s: round2(per_s(s.ok)),
            bytes: s.bytes,
            mbytes_per_s: round2(per_s(s.bytes) / 1e6),
            latency_ms_p50: if empty {
                0.0
            } else {
                ms(s.latency_us.value_at_quantile(0.5))
            },
            latency_ms_p99: if empty {
                0.0
            } else {
                ms(s.latency_us.value_at_quantile(0.99))
            },
            latency_ms_max: if empty { 0.0 } else { ms(s.latency_us.max()) },
            errors: s.errors.clone(),
            reconnects: s.reconnects,
        }
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut errors = String::new();
        for (k, n) in &self.errors {
            let _ = write!(
                errors,
                "{}{k}: {n}",
                if errors.is_empty() { "" } else { ", " }
            );
        }
        if errors.is_empty() {
            errors.push_str("none");
        }
        format!(
            "{} connections, {:.1} s: {} requests, {:.0} req/s, {:.1} MB/s\n\
             latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms; errors: {}; reconnects {}",
            self.connections,
            self.duration_s,
            self.requests,
            self.requests_per_s,
            self.mbytes_per_s,
            self.latency_ms_p50,
            self.latency_ms_p99,
            self.latency_ms_max,
            errors,
            self.reconnects,
        )
    }
}

/// Where one connection's loop stands in time.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Measurement starts (end of the warm-up).
    start: Instant,
    /// No request is started at or after this instant, and none that ends
    /// after it is counted.
    end: Instant,
}

impl Window {
    /// Whether a request that ended at `t` falls in the measured window.
    fn counts(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

type Sender = http1::SendRequest<Empty<Bytes>>;

async fn connect(plan: &RpsPlan, addr: &str) -> Result<Sender, &'static str> {
    let tcp = timeout(plan.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect")?
        .map_err(|_| "connect")?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = timeout(plan.connect_timeout, http1::handshake(TokioIo::new(tcp)))
        .await
        .map_err(|_| "connect")?
        .map_err(|_| "connect")?;
    // The connection task ends when the sender is dropped or the peer closes.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request and its whole body: the status and the body length, or
/// the kind of failure.
async fn fetch(
    sender: &mut Sender,
    req: hyper::Request<Empty<Bytes>>,
) -> Result<(u16, u64), &'static str> {
    sender.ready().await.map_err(|_| "io")?;
    let resp = sender.send_request(req).await.map_err(|_| "io")?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| "body")?;
        if let Some(d) = frame.data_ref() {
            n += d.len() as u64;
        }
    }
    Ok((status, n))
}

fn request(url: &Url, host: &str) -> Result<hyper::Request<Empty<Bytes>>, LoadgenError> {
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(
            hyper::header::USER_AGENT,
            concat!("reel-loadgen/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())
        .map_err(|e| LoadgenError::Plan(format!("{url}: {e}")))
}

async fn connection_loop(
    plan: Arc<RpsPlan>,
    addr: String,
    template: hyper::Request<Empty<Bytes>>,
    win: Window,
) -> RpsStats {
    let mut s = RpsStats::default();
    let mut sender: Option<Sender> = None;
    let mut opened = 0u64;
    while Instant::now() < win.end {
        let tx = match sender.as_mut() {
            Some(tx) => tx,
            None => match connect(&plan, &addr).await {
                Ok(tx) => {
                    opened += 1;
                    if opened > 1 && Instant::now() >= win.start {
                        s.reconnects += 1;
                    }
                    sender.insert(tx)
                }
                Err(kind) => {
                    if win.counts(Instant::now()) {
                        s.error(kind);
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let mut req = hyper::Request::new(Empty::new());
        *req.uri_mut() = template.uri().clone();
        *req.headers_mut() = template.headers().clone();
        let began = Instant::now();
        let result = timeout(plan.request_timeout, fetch(tx, req)).await;
        let done = Instant::now();
        let counted = win.counts(done);
        match result {
            Ok(Ok((status, n))) if (200..300).contains(&status) => {
                if counted {
                    s.record(done - began, n);
                }
            }
            Ok(Ok((status, _))) => {
                if counted {
                    s.error(&status.to_string());
                }
            }
            Ok(Err(kind)) => {
                if counted {
                    s.error(kind);
                }
                sender = None;
            }
            Err(_) => {
                if counted {
                    s.error("timeout");
                }
                sender = None;
            }
        }
        if sender.as_ref().is_some_and(|tx| tx.is_closed()) {
            sender = None;
        }
    }
    s
}

/// Runs the plan and returns the report.
pub async fn run(plan: RpsPlan) -> Result<RpsReport, LoadgenError> {
    plan.validate()?;
    crate::target::check(&plan.url, plan.allow_public).await?;
    let host = plan
        .url
        .host_str()
        .ok_or_else(|| LoadgenError::Target(format!("{}: no host", plan.url)))?;
    let port = plan.url.port_or_known_default().unwrap_or(80);
    let authority = match plan.url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let addr = format!("{host}:{port}");
    let template = request(&plan.url, &authority)?;
    let start = Instant::now() + plan.warmup;
    let win = Window {
        start,
        end: start + plan.duration,
    };
    let plan = Arc::new(plan);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..plan.connections {
        let mut req = hyper::Request::new(Empty::new());
        *req.uri_mut() = template.uri().clone();
        *req.headers_mut() = template.headers().clone();
        set.spawn(connection_loop(Arc::clone(&plan), addr.clone(), req, win));
    }
    // Every wait in a loop has a timeout, so this only guards against a bug.
    let hard_stop = win.end + plan.request_timeout + plan.connect_timeout + Duration::from_secs(5);
    let mut all = RpsStats::default();
    loop {
        match tokio::time::timeout_at(hard_stop, set.join_next()).await {
            Ok(Some(Ok(s))) => all.merge(&s),
            Ok(Some(Err(_))) => all.error("panicked"),
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                all.error("aborted");
                break;
            }
        }
    }
    Ok(RpsReport::new(&plan, &all, plan.duration.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RpsPlan {
        RpsPlan::new(Url::parse("http://127.0.0.1:1/media/a/s1.m4s?x=1").unwrap())
    }

    #[test]
    fn plans_are_bounded() {
        assert!(plan().validate().is_ok());
        let cases: [fn(&mut RpsPlan); 6] = [
            |p| p.connections = 0,
            |p| p.connections = MAX_CONNECTIONS + 1,
            |p| p.duration = Duration::ZERO,
            |p| p.duration = MAX_DURATION + Duration::from_secs(1),
            |p| p.warmup = MAX_WARMUP + Duration::from_secs(1),
            |p| p.url = Url::parse("https://127.0.0.1/").unwrap(),
        ];
        for change in cases {
            let mut p = plan();
            change(&mut p);
            assert_eq!(p.validate().unwrap_err().code(), "plan");
        }
    }

    #[test]
    fn requests_keep_path_query_and_host() {
        let r = request(&plan().url, "127.0.0.1:1").unwrap();
        assert_eq!(r.uri(), "/media/a/s1.m4s?x=1");
        assert_eq!(r.headers()[hyper::header::HOST], "127.0.0.1:1");
    }

    #[test]
    fn window_counts_only_its_span() {
        let t0 = Instant::now();
        let w = Window {
            start: t0 + Duration::from_secs(1),
            end: t0 + Duration::from_secs(2),
        };
        assert!(!w.counts(t0));
        assert!(w.counts(t0 + Duration::from_millis(1500)));
        assert!(!w.counts(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn merged_report() {
        let mut a = RpsStats::default();
        for ms in 1..=100 {
            a.record(Duration::from_millis(ms), 1000);
        }
        let mut b = RpsStats::default();
        b.error("503");
        b.error("503");
        b.error("timeout");
        b.reconnects = 1;
        a.merge(&b);
        let r = RpsReport::new(&plan(), &a, 2.0);
        assert_eq!((r.requests, r.bytes), (100, 100_000));
        assert_eq!(r.requests_per_s, 50.0);
        assert_eq!(r.mbytes_per_s, 0.05);
        // 3 significant digits: within 0.1 % of the exact values.
        assert!(
            (r.latency_ms_p50 - 50.0).abs() < 0.1,
            "{}",
            r.latency_ms_p50
        );
        assert!(
            (r.latency_ms_p99 - 99.0).abs() < 0.1,
            "{}",
            r.latency_ms_p99
        );
        assert!(
            (r.latency_ms_max - 100.0).abs() < 0.1,
            "{}",
            r.latency_ms_max
        );
        assert_eq!((r.errors["503"], r.errors["timeout"]), (2, 1));
        assert_eq!(r.reconnects, 1);
        assert!(r.summary().contains("503: 2, timeout: 1"));
    }

    #[test]
    fn empty_run_is_reported_not_divided_by_zero() {
        let r = RpsReport::new(&plan(), &RpsStats::default(), 0.0);
        assert_eq!((r.requests_per_s, r.latency_ms_max), (0.0, 0.0));
        serde_json::to_string(&r).unwrap();
    }

    #[tokio::test]
    async fn a_real_server_is_measured() {
        // A tiny HTTP/1.1 server on loopback answering every request with
        // 5 bytes; one in three answers is a 503.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut k = 0u32;
                    let mut pending = Vec::new();
                    while let Ok(n) = sock.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            pending.drain(..i + 4);
                            k += 1;
                            let status = if k.is_multiple_of(3) {
                                "503 Busy"
                            } else {
                                "200 OK"
                            };
                            let resp =
                                format!("HTTP/1.1 {status}\r\ncontent-length: 5\r\n\r\nhello");
                            if sock.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        let mut p = RpsPlan::new(Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap());
        p.connections = 4;
        p.duration = Duration::from_millis(300);
        p.warmup = Duration::from_millis(50);
        let r = run(p).await.unwrap();
        assert!(r.requests > 0, "{r:?}");
        assert_eq!(r.bytes, r.requests * 5);
        assert!(r.errors["503"] > 0, "{r:?}");
        assert_eq!(r.reconnects, 0);
    }

    #[tokio::test]
    async fn nothing_listening_is_counted_not_hung() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut p = RpsPlan::new(Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap());
        p.connections = 2;
        p.duration = Duration::from_millis(200);
        p.warmup = Duration::ZERO;
        let r = run(p).await.unwrap();
        assert_eq!(r.requests, 0);
        assert!(r.errors["connect"] > 0, "{r:?}");
    }
}
