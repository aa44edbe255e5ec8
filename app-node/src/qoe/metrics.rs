//! The node's QoE metrics: totals over every session this node folded, with
//! no per-session or per-video labels (those live in the catalog, behind
//! `GET /api/videos/{id}/qoe`).

use prometheus::{Counter, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use super::fold::Delta;

/// Reasons a report request is refused, as `reel_qoe_refused_total` labels.
pub const REFUSALS: [&str; 6] = [
    "limited",
    "cross-site",
    "media-type",
    "bad-report",
    "unknown-video",
    "too-many-sessions",
];

/// QoE counters and the startup histogram.
#[derive(Clone)]
pub struct QoeMetrics {
    /// Reports folded, by outcome: applied, stale.
    reports: IntCounterVec,
    /// Report requests refused, by reason.
    pub refused: IntCounterVec,
    sessions: IntCounter,
    startup: Histogram,
    rebuffers: IntCounter,
    rebuffer_seconds: Counter,
    played_seconds: Counter,
    played_bits: Counter,
    failures: IntCounter,
}

fn counter(name: &str, help: &str) -> Counter {
    Counter::with_opts(Opts::new(name, help)).expect("valid metric")
}

fn int_counter(name: &str, help: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help)).expect("valid metric")
}

impl QoeMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Self {
        let m = QoeMetrics {
            reports: IntCounterVec::new(
                Opts::new(
                    "reel_qoe_reports_total",
                    "CMCD event reports folded: applied, or stale (repeats, out of order)",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
            refused: IntCounterVec::new(
                Opts::new(
                    "reel_qoe_refused_total",
                    "Report requests refused, by reason",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            sessions: int_counter("reel_qoe_sessions_total", "Viewer sessions begun"),
            startup: Histogram::with_opts(
                HistogramOpts::new(
                    "reel_qoe_startup_seconds",
                    "Seconds from a viewer's request to play until the first frame",
                )
                .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0]),
            )
            .expect("valid metric"),
            rebuffers: int_counter(
                "reel_qoe_rebuffers_total",
                "Stalls for want of data after playback started (seeks excluded)",
            ),
            rebuffer_seconds: counter("reel_qoe_rebuffer_seconds_total", "Seconds stalled"),
            played_seconds: counter("reel_qoe_played_seconds_total", "Seconds of playback"),
            played_bits: counter(
                "reel_qoe_played_bits_total",
                "Bits of media played, at the encoded bitrate of the rung playing",
            ),
            failures: int_counter(
                "reel_qoe_failures_total",
                "Sessions that hit a fatal playback error (the player may have recovered)",
            ),
        };
        for c in [
            Box::new(m.reports.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.refused.clone()),
            Box::new(m.sessions.clone()),
            Box::new(m.startup.clone()),
            Box::new(m.rebuffers.clone()),
            Box::new(m.rebuffer_seconds.clone()),
            Box::new(m.played_seconds.clone()),
            Box::new(m.played_bits.clone()),
            Box::new(m.failures.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        // Every outcome shows from the start, at 0.
        for outcome in ["applied", "stale"] {
            m.reports.with_label_values(&[outcome]);
        }
        for reason in REFUSALS {
            m.refused.with_label_values(&[reason]);
        }
        m
    }

    /// Counts what a fold changed.
    #[allow(clippy::cast_precision_loss)]
    pub fn observe(&self, d: &Delta) {
        self.reports
            .with_label_values(&["applied"])
            .inc_by(d.applied);
        self.reports.with_label_values(&["stale"]).inc_by(d.stale);
        self.sessions.inc_by(d.new_sessions);
        for ms in &d.startups_ms {
            self.startup.observe(*ms as f64 / 1000.0);
        }
        self.rebuffers
            .inc_by(u64::try_from(d.rebuffers).unwrap_or(0));
        self.rebuffer_seconds
            .inc_by(d.rebuffer_ms.max(0) as f64 / 1000.0);
        self.played_seconds
            .inc_by(d.played_ms.max(0) as f64 / 1000.0);
        self.played_bits.inc_by(d.played_kbit.max(0.0) * 1000.0);
        self.failures.inc_by(d.failures);
    }
}
