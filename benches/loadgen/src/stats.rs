//! What viewers measured, merged into one report: startup and segment
//! latency percentiles, stalls, errors by kind, bytes and throughput; as
//! JSON, as a markdown table and as a short summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// Counts and timings of one viewer (or, merged, of all of them).
#[derive(Debug, Clone, Default)]
pub struct ViewerStats {
    /// Master request → first segment complete, seconds; `None` if the
    /// viewer never started playing.
    pub startup_s: Option<f64>,
    /// Download time of each segment fetched successfully, seconds.
    pub segment_s: Vec<f64>,
    /// Slowest single request of any kind (including failed ones), seconds.
    pub slowest_request_s: f64,
    /// Segments the viewer needed after the first (each one has a deadline).
    pub segments_due: u64,
    /// Of those, complete before their deadline.
    pub segments_on_time: u64,
    /// Of those, given up on after every attempt failed.
    pub segments_failed: u64,
    /// Segments complete (or given up on) after their deadline.
    pub stalls: u64,
    /// Seconds the playhead waited in total.
    pub stall_s: f64,
    /// HTTP requests made, redirects and retries included.
    pub requests: u64,
    /// Failed requests by kind: the status code (`"503"`) or `timeout`,
    /// `connect`, `body`, `playlist`, `redirect`.
    pub errors: BTreeMap<String, u64>,
    /// 503 answers that carried `Retry-After`.
    pub retry_after_503: u64,
    /// Response body bytes received.
    pub bytes: u64,
}

impl ViewerStats {
    /// Counts one failed request.
    pub fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }
}

/// Nearest-rank percentile of sorted values; 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn ms(s: f64) -> f64 {
    (s * 1e5).round() / 100.0
}

/// The result of a run, as written to `--json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Viewers launched.
    pub viewers: u64,
    /// Viewers whose first segment arrived.
    pub viewers_started: u64,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    /// Startup time percentiles, milliseconds.
    pub startup_ms_p50: f64,
    /// 95th percentile of startup time, milliseconds.
    pub startup_ms_p95: f64,
    /// 99th percentile of startup time, milliseconds.
    pub startup_ms_p99: f64,
    /// Segment download time, median, milliseconds.
    pub segment_ms_p50: f64,
    /// Segment download time, 99th percentile, milliseconds.
    pub segment_ms_p99: f64,
    /// Slowest request of the run (any kind, failures included), milliseconds.
    pub slowest_request_ms: f64,
    /// Media segments downloaded (video and audio, retries not counted
    /// twice): the unit of "node requests per viewer segment".
    pub segments: u64,
    /// Segments that had a deadline (every segment after a viewer's first).
    pub segments_due: u64,
    /// Segments complete before their deadline.
    pub segments_on_time: u64,
    /// Segments given up on.
    pub segments_failed: u64,
    /// `segments_on_time / segments_due` (1 when nothing was due).
    pub on_time_ratio: f64,
    /// Segments late for playback (the picture froze).
    pub stalls: u64,
    /// Seconds of frozen picture over all viewers.
    pub stall_s: f64,
    /// Requests made.
    pub requests: u64,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// 503 answers (also in `errors`), the overload signal.
    pub status_503: u64,
    /// Of those, how many carried `Retry-After`.
    pub retry_after_503: u64,
    /// Response body bytes.
    pub bytes: u64,
    /// Body bytes per wall second, in Mbit/s.
    pub throughput_mbit_s: f64,
}

impl Report {
    /// Merges every viewer's numbers; `wall_s` is the run's length.
    pub fn from_viewers(all: &[ViewerStats], wall_s: f64) -> Report {
        let startups = sorted(all.iter().filter_map(|v| v.startup_s).collect());
        let segs = sorted(
            all.iter()
                .flat_map(|v| v.segment_s.iter().copied())
                .collect(),
        );
        let sum = |f: fn(&ViewerStats) -> u64| all.iter().map(f).sum::<u64>();
        let mut errors = BTreeMap::new();
        for v in all {
            for (k, n) in &v.errors {
                *errors.entry(k.clone()).or_default() += n;
            }
        }
        let due = sum(|v| v.segments_due);
        let on_time = sum(|v| v.segments_on_time);
        let bytes = sum(|v| v.bytes);
        Report {
            viewers: all.len() as u64,
            viewers_started: startups.len() as u64,
            wall_s: (wall_s * 1000.0).round() / 1000.0,
            startup_ms_p50: ms(percentile(&startups, 50.0)),
            startup_ms_p95: ms(percentile(&startups, 95.0)),
            startup_ms_p99: ms(percentile(&startups, 99.0)),
            segment_ms_p50: ms(percentile(&segs, 50.0)),
            segment_ms_p99: ms(percentile(&segs, 99.0)),
            slowest_request_ms: ms(all.iter().map(|v| v.slowest_request_s).fold(0.0, f64::max)),
            segments: segs.len() as u64,
            segments_due: due,
            segments_on_time: on_time,
            segments_failed: sum(|v| v.segments_failed),
            on_time_ratio: if due == 0 {
                1.0
            } else {
                on_time as f64 / due as f64
            },
            stalls: sum(|v| v.stalls),
            stall_s: (all.iter().map(|v| v.stall_s).sum::<f64>() * 1000.0).round() / 1000.0,
            requests: sum(|v| v.requests),
            status_503: errors.get("503").copied().unwrap_or(0),
            retry_after_503: sum(|v| v.retry_after_503),
            errors,
            bytes,
            throughput_mbit_s: if wall_s > 0.0 {
                ((bytes as f64 * 8.0 / wall_s / 1e6) * 100.0).round() / 100.0
            } else {
                0.0
            },
        }
    }

    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        parts.join(", ")
    }

    /// A two-column markdown table.
    pub fn markdown(&self) -> String {
        let rows = [
            (
                "viewers (started / launched)",
                format!("{} / {}", self.viewers_started, self.viewers),
            ),
            ("wall time (s)", format!("{:.1}", self.wall_s)),
            (
                "startup p50 / p95 / p99 (ms)",
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    self.startup_ms_p50, self.startup_ms_p95, self.startup_ms_p99
                ),
            ),
            (
                "segment latency p50 / p99 (ms)",
                format!("{:.1} / {:.1}", self.segment_ms_p50, self.segment_ms_p99),
            ),
            (
                "slowest request (ms)",
                format!("{:.1}", self.slowest_request_ms),
            ),
            (
                "segments on time / due",
                format!(
                    "{} / {} ({:.2} %)",
                    self.segments_on_time,
                    self.segments_due,
                    self.on_time_ratio * 100.0
                ),
            ),
            ("segments failed", self.segments_failed.to_string()),
            (
                "stalls (total s)",
                format!("{} ({:.1})", self.stalls, self.stall_s),
            ),
            ("requests", self.requests.to_string()),
            (
                "503 (with Retry-After)",
                format!("{} ({})", self.status_503, self.retry_after_503),
            ),
            ("errors", self.errors_text()),
            ("bytes", self.bytes.to_string()),
            (
                "throughput (Mbit/s)",
                format!("{:.2}", self.throughput_mbit_s),
            ),
        ];
        let mut out = String::from("| metric | value |\n|---|---|\n");
        for (k, v) in rows {
            let _ = writeln!(out, "| {k} | {v} |");
        }
        out
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        format!(
            "viewers {}/{} started, startup p50 {:.0} ms p99 {:.0} ms, segment p50 {:.1} ms p99 {:.1} ms\n\
             segments {}/{} on time ({:.2} %), {} stalls ({:.1} s), {} failed\n\
             requests {}, errors: {}, {:.2} Mbit/s over {:.1} s",
            self.viewers_started,
            self.viewers,
            self.startup_ms_p50,
            self.startup_ms_p99,
            self.segment_ms_p50,
            self.segment_ms_p99,
            self.segments_on_time,
            self.segments_due,
            self.on_time_ratio * 100.0,
            self.stalls,
            self.stall_s,
            self.segments_failed,
            self.requests,
            self.errors_text(),
            self.throughput_mbit_s,
            self.wall_s,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn merging_viewers() {
        let mut a = ViewerStats {
            startup_s: Some(0.2),
            segment_s: vec![0.01, 0.03],
            segments_due: 10,
            segments_on_time: 9,
            stalls: 1,
            stall_s: 0.5,
            bytes: 1_000_000,
            retry_after_503: 2,
            ..Default::default()
        };
        a.error("503");
        a.error("503");
        let mut b = ViewerStats::default();
        b.error("timeout");
        b.slowest_request_s = 2.0;
        let r = Report::from_viewers(&[a, b], 2.0);
        assert_eq!((r.viewers, r.viewers_started), (2, 1));
        assert_eq!(r.startup_ms_p99, 200.0);
        assert_eq!(r.segment_ms_p99, 30.0);
        assert_eq!(r.on_time_ratio, 0.9);
        assert_eq!(r.segments, 2);
        assert_eq!((r.status_503, r.retry_after_503), (2, 2));
        assert_eq!(r.errors["timeout"], 1);
        assert_eq!(r.slowest_request_ms, 2000.0);
        assert_eq!(r.throughput_mbit_s, 4.0);
        assert!(r
            .markdown()
            .contains("| segments on time / due | 9 / 10 (90.00 %) |"));
        assert!(r.summary().contains("503: 2, timeout: 1"));
    }

    #[test]
    fn empty_run_is_reported_not_divided_by_zero() {
        let r = Report::from_viewers(&[], 0.0);
        assert_eq!(r.on_time_ratio, 1.0);
        assert_eq!(r.throughput_mbit_s, 0.0);
        serde_json::to_string(&r).unwrap();
    }
}
