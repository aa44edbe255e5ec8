//! The access log: one line per request in the Combined Log Format plus
//! `key=value` extras, written off the request path.
//!
//! ```text
//! 203.0.113.9 - - [07/Mar/2025:14:02:11 +0000] "GET /media/v1/seg_3.m4s HTTP/1.1" 200 48213 "https://reel.example/watch/v1" "Mozilla/5.0 ..." upstream=node-1 upstream_ms=12 total_ms=14 request_id=4f0c... cache=MISS
//! ```
//!
//! Request handlers only format nothing and copy a few strings: they hand
//! an [`AccessRecord`] to a bounded queue and go on. A dedicated thread
//! formats and writes through a buffer, flushing whenever the queue runs
//! empty. When the writer falls behind (slow disk), records are dropped and
//! counted in `reel_balancer_access_log_dropped_total` instead of slowing
//! a single request.
//!
//! Paths, referers and user agents come from viewers: in every field the
//! bytes `"`, `\`, controls (below 0x20 and 0x7f) and non-ASCII are written
//! as `\xHH`, so a line is always one line and a quote always delimits a
//! field.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus::IntCounter;

use crate::cache::CacheResult;
use crate::config::AccessLogConfig;

/// Why the access log could not be (re)opened.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// The file cannot be opened for appending.
    #[error("cannot open access log {path}: {source}")]
    Open {
        /// Configured path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The writer thread cannot be started.
    #[error("cannot start the access log writer: {0}")]
    Thread(std::io::Error),
}

impl AccessLogError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AccessLogError::Open { .. } => "access_log_open",
            AccessLogError::Thread(_) => "access_log_thread",
        }
    }
}

/// One finished request, as the proxy saw it.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    /// When the request arrived.
    pub time: SystemTime,
    /// The client's address (see `edge::forward::client_ip`).
    pub client_ip: Option<IpAddr>,
    /// Request method.
    pub method: String,
    /// Request target as received (path and query).
    pub target: String,
    /// Protocol version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Status sent to the viewer (0 if none was sent).
    pub status: u16,
    /// Response body bytes sent to the viewer.
    pub bytes: usize,
    /// `Referer` request header.
    pub referer: Option<String>,
    /// `User-Agent` request header.
    pub user_agent: Option<String>,
    /// Name of the node that answered, if any.
    pub upstream: Option<String>,
    /// Milliseconds from choosing the node to its response head.
    pub upstream_ms: Option<u64>,
    /// Milliseconds from request start to the end of the response.
    pub total_ms: u64,
    /// The request id sent to the node and the viewer.
    pub request_id: String,
    /// How the edge cache answered, for cacheable requests.
    pub cache: Option<CacheResult>,
}

/// Appends `text` with `"`, `\`, control and non-ASCII bytes as `\xHH`.
pub fn escape_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
}

fn escaped(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    escape_into(&mut s, text);
    s
}

impl AccessRecord {
    /// The log line, newline included.
    pub fn format(&self) -> String {
        let time = chrono::DateTime::<chrono::Utc>::from(self.time).format("%d/%b/%Y:%H:%M:%S %z");
        let ip = self
            .client_ip
            .map_or_else(|| "-".into(), |ip| ip.to_string());
        let bytes = match self.bytes {
            0 => "-".to_string(),
            n => n.to_string(),
        };
        let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "-".into(), escaped);
        let upstream_ms = self
            .upstream_ms
            .map_or_else(|| "-".into(), |v| v.to_string());
        let upstream = self.upstream.as_deref().map_or_else(|| "-".into(), escaped);
        let cache = self.cache.map_or("-", CacheResult::log_str);
        format!(
            "{ip} - - [{time}] \"{} {} {}\" {} {bytes} \"{}\" \"{}\" upstream={upstream} \
             upstream_ms={upstream_ms} total_ms={} request_id={} cache={cache}\n",
            escaped(&self.method),
            escaped(&self.target),
            escaped(&self.version),
            self.status,
            opt(&self.referer),
            opt(&self.user_agent),
            self.total_ms,
            escaped(&self.request_id),
        )
    }
}

/// Where lines go.
enum Sink {
    Off,
    Stdout(BufWriter<std::io::Stdout>),
    File(BufWriter<File>),
}

impl Sink {
    fn open(path: &str) -> Result<Sink, AccessLogError> {
        Ok(match path {
            "" => Sink::Off,
            "-" => Sink::Stdout(BufWriter::new(std::io::stdout())),
            p => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| AccessLogError::Open {
                        path: p.to_string(),
                        source,
                    })?;
                Sink::File(BufWriter::with_capacity(64 * 1024, file))
            }
        })
    }

    fn writer(&mut self) -> Option<&mut dyn Write> {
        match self {
            Sink::Off => None,
            Sink::Stdout(w) => Some(w),
            Sink::File(w) => Some(w),
        }
    }
}

/// State shared between the handle and the writer thread.
struct Shared {
    /// A newly opened sink for the writer to switch to (reload, rotation).
    pending: Mutex<Option<Sink>>,
    /// Whether the writer has something to write to.
    enabled: AtomicBool,
}

/// Handle the proxy records into; cheap to call from any thread.
pub struct AccessLog {
    tx: SyncSender<AccessRecord>,
    /// The queue's reading end until the writer thread takes it, which
    /// happens the first time a target is opened.
    rx: Mutex<Option<Receiver<AccessRecord>>>,
    shared: Arc<Shared>,
    dropped: IntCounter,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("enabled", &self.shared.enabled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// A log writing nowhere yet, with a queue of `config.queue` records;
    /// [`AccessLog::reopen`] opens the configured target.
    pub fn new(config: &AccessLogConfig, dropped: IntCounter) -> Self {
        let (tx, rx) = mpsc::sync_channel(config.queue.max(1));
        AccessLog {
            tx,
            rx: Mutex::new(Some(rx)),
            shared: Arc::new(Shared {
                pending: Mutex::new(None),
                enabled: AtomicBool::new(false),
            }),
            dropped,
        }
    }

    /// Opens `config.path` afresh (start-up, reload, log rotation) and
    /// starts the writer thread if it is not running. On error the current
    /// target is kept.
    pub fn reopen(&self, config: &AccessLogConfig) -> Result<(), AccessLogError> {
        let sink = Sink::open(&config.path)?;
        let on = !matches!(sink, Sink::Off);
        if on {
            self.start_writer()?;
        }
        *self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(sink);
        self.shared.enabled.store(on, Ordering::Release);
        Ok(())
    }

    fn start_writer(&self) -> Result<(), AccessLogError> {
        let mut slot = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(rx) = slot.take() else {
            return Ok(());
        };
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("reel-access-log".into())
            .spawn(move || write_loop(&rx, &shared));
        if let Err(e) = spawned {
            // The receiver moved into the failed closure is gone; later
            // records are counted as dropped.
            return Err(AccessLogError::Thread(e));
        }
        Ok(())
    }

    /// Whether records are being written.
    pub fn enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Acquire)
    }

    /// Queues a record for writing; never blocks. A full queue drops it.
    pub fn record(&self, mut record: AccessRecord) {
        if !self.enabled() {
            return;
        }
        // Queued records are bounded in count; this bounds their size too,
        // since paths and headers come from clients.
        clip(&mut record.target);
        for field in [&mut record.referer, &mut record.user_agent] {
            if let Some(f) = field.as_mut() {
                clip(f);
            }
        }
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }
}

/// Longest client-supplied field kept in a record, in bytes.
const MAX_FIELD: usize = 1024;

/// Cuts a field to [`MAX_FIELD`] bytes (on a character boundary), marking
/// the cut with `...`.
fn clip(field: &mut String) {
    if field.len() > MAX_FIELD {
        let mut end = MAX_FIELD;
        while !field.is_char_boundary(end) {
            end -= 1;
        }
        field.truncate(end);
        field.push_str("...");
    }
}

/// Flush at least this often so a quiet log still reaches the disk.
const IDLE_FLUSH: Duration = Duration::from_secs(1);

fn write_loop(rx: &Receiver<AccessRecord>, shared: &Shared) {
    let mut sink = Sink::Off;
    let mut failing = false;
    loop {
        let first = match rx.recv_timeout(IDLE_FLUSH) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // A reopen requested before this record was queued applies to it.
        if let Some(next) = shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            if let Some(w) = sink.writer() {
                let _ = w.flush();
            }
            sink = next;
            failing = false;
        }
        let Some(w) = sink.writer() else { continue };
        let mut result = Ok(());
        // Bounded so a reopen is noticed even under a steady stream.
        for record in first.into_iter().chain(rx.try_iter().take(4096)) {
            result = result.and(w.write_all(record.format().as_bytes()));
        }
        result = result.and(w.flush());
        // One error message per failure streak, not one per line.
        match result {
            Err(e) if !failing => {
                failing = true;
                tracing::error!(code = "access_log_write", "access log write failed: {e}");
            }
            Err(_) => {}
            Ok(()) => failing = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord {
        AccessRecord {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
            client_ip: Some("203.0.113.9".parse().unwrap()),
            method: "GET".into(),
            target: "/media/v1/seg_3.m4s?x=1".into(),
            version: "HTTP/1.1".into(),
            status: 200,
            bytes: 4096,
            referer: None,
            user_agent: Some("curl/8".into()),
            upstream: Some("node-1".into()),
            upstream_ms: Some(12),
            total_ms: 14,
            request_id: "abc".into(),
            cache: Some(CacheResult::Miss),
        }
    }

    #[test]
    fn combined_format_with_extras() {
        assert_eq!(
            record().format(),
            "203.0.113.9 - - [09/Sep/2001:01:46:40 +0000] \"GET /media/v1/seg_3.m4s?x=1 HTTP/1.1\" \
             200 4096 \"-\" \"curl/8\" upstream=node-1 upstream_ms=12 total_ms=14 request_id=abc cache=MISS\n"
        );
    }

    #[test]
    fn hostile_fields_are_escaped() {
        let mut r = record();
        r.target = "/a\"b\\c\r\nforged".into();
        r.user_agent = Some("x\" \u{1b}[31m é".into());
        r.upstream = None;
        r.upstream_ms = None;
        r.bytes = 0;
        r.cache = None;
        let line = r.format();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with("\n"));
        assert!(!line.contains('\r') && !line.contains('\u{1b}'));
        assert_eq!(line.matches('"').count(), 6, "{line}");
        assert!(line.contains("\"GET /a\\x22b\\x5Cc\\x0D\\x0Aforged HTTP/1.1\" 200 -"));
        assert!(line.contains("\"x\\x22 \\x1B[31m \\xC3\\xA9\""), "{line}");
        assert!(line.contains("upstream=- upstream_ms=- total_ms=14 request_id=abc cache=-"));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let dropped = IntCounter::new("t", "t").unwrap();
        let config = AccessLogConfig {
            path: "-".into(),
            queue: 2,
        };
        let log = AccessLog::new(&config, dropped.clone());
        log.record(record());
        // Stand in for a writer that is stuck: take the queue's end
        // without draining it, then switch the log on.
        let rx = log.rx.lock().unwrap().take().unwrap();
        assert_eq!(rx.try_iter().count(), 0, "off: nothing queued");
        log.reopen(&config).unwrap();
        for _ in 0..5 {
            log.record(record());
        }
        assert_eq!(dropped.get(), 3);
        assert_eq!(rx.try_iter().count(), 2);
    }

    #[test]
    fn long_fields_are_clipped() {
        let mut f = "é".repeat(2000);
        clip(&mut f);
        assert!(
            f.len() <= MAX_FIELD + 3 && f.ends_with("..."),
            "{}",
            f.len()
        );
        let mut short = "GET /".to_string();
        clip(&mut short);
        assert_eq!(short, "GET /");
    }
}
