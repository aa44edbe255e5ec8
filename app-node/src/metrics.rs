//! Prometheus metrics of one node.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// All metrics the node exports, in their own registry so tests can build
/// several nodes in one process.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by matched route, method and status.
    pub requests: IntCounterVec,
    /// Request latency by matched route.
    pub latency: HistogramVec,
    /// Jobs by state, refreshed from the catalog at scrape time.
    pub jobs: IntGaugeVec,
    /// Wall-clock seconds spent transcoding, by outcome.
    pub transcode_seconds: HistogramVec,
    /// Requests refused because the node was at its concurrency limit.
    pub shed: IntCounterVec,
    /// Seconds from the start of an encoding attempt until its video was
    /// playable (every rung had its first segments stored).
    pub time_to_playable: Histogram,
    /// Viewer experience as players report it.
    pub qoe: crate::qoe::QoeMetrics,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "reel_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("reel_http_request_seconds", "HTTP request latency").buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let jobs = IntGaugeVec::new(Opts::new("reel_jobs", "Jobs by state"), &["state"])
            .expect("valid metric");
        let transcode_seconds = HistogramVec::new(
            HistogramOpts::new("reel_transcode_seconds", "Wall-clock transcode time").buckets(
                vec![
                    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                ],
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let time_to_playable = Histogram::with_opts(
            HistogramOpts::new(
                "reel_time_to_playable_seconds",
                "Seconds from the start of an encoding attempt until the video was playable",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
            ]),
        )
        .expect("valid metric");
        let shed = IntCounterVec::new(
            Opts::new(
                "reel_http_shed_total",
                "Requests refused with 503 by the overload guard",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(jobs.clone()),
            Box::new(transcode_seconds.clone()),
            Box::new(shed.clone()),
            Box::new(time_to_playable.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        let qoe = crate::qoe::QoeMetrics::register(&registry);
        Metrics {
            qoe,
            registry,
            requests,
            latency,
            jobs,
            transcode_seconds,
            shed,
            time_to_playable,
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
