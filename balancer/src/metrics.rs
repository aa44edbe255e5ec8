//! Prometheus metrics of the balancer.
//!
//! Per-request series are updated as requests finish; backend gauges are
//! set from values the caller reads at scrape time, so backends removed by
//! a reload disappear from the output instead of lingering with stale values.
//! This module knows nothing of the balancer's state: callers hand it plain
//! numbers.

use crate::cache::CacheResult;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Errors while rendering metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The text encoder failed.
    #[error("cannot encode metrics: {0}")]
    Encode(#[from] prometheus::Error),
}

impl MetricsError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            MetricsError::Encode(_) => "metrics_encode",
        }
    }
}

/// A backend's gauges at scrape time.
#[derive(Debug, Clone)]
pub struct BackendGauge<'a> {
    /// The backend's name.
    pub label: &'a str,
    /// In rotation (active checks) and not ejected (passive checks).
    pub healthy: bool,
    /// Requests in flight on it.
    pub in_flight: usize,
}

/// The balancer's metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    retries: IntCounterVec,
    shed: IntCounterVec,
    reloads: IntCounterVec,
    healthy: IntGaugeVec,
    in_flight: IntGaugeVec,
    in_flight_total: IntGauge,
    health_changes: IntCounter,
    upstream_requests: IntCounterVec,
    cache: IntCounterVec,
    cache_bytes: IntGauge,
    ejections: IntCounter,
    panic: IntCounter,
    retry_budget_exhausted: IntCounter,
    access_log_dropped: IntCounter,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Only fails on malformed static names or duplicate registration,
    // both programming errors caught by the first test run.
    r.expect("static metric definition is valid")
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = must(IntCounterVec::new(
            Opts::new(
                "reel_balancer_requests_total",
                "Requests answered, by backend (`none` when shed) and status.",
            ),
            &["backend", "status"],
        ));
        let latency = must(HistogramVec::new(
            HistogramOpts::new(
                "reel_balancer_request_duration_seconds",
                "Time from request start to the end of the response, by backend.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["backend"],
        ));
        let retries = must(IntCounterVec::new(
            Opts::new(
                "reel_balancer_retries_total",
                "Idempotent requests moved to another backend after a failure.",
            ),
            &["reason"],
        ));
        let shed = must(IntCounterVec::new(
            Opts::new(
                "reel_balancer_shed_total",
                "Requests and connections refused without reaching a backend \
                 (503, 429 or 408), by reason.",
            ),
            &["reason"],
        ));
        let reloads = must(IntCounterVec::new(
            Opts::new(
                "reel_balancer_reloads_total",
                "Configuration reloads by result.",
            ),
            &["result"],
        ));
        let healthy = must(IntGaugeVec::new(
            Opts::new(
                "reel_balancer_backend_healthy",
                "1 when the backend is in rotation, 0 otherwise.",
            ),
            &["backend"],
        ));
        let in_flight = must(IntGaugeVec::new(
            Opts::new(
                "reel_balancer_backend_in_flight",
                "Requests in flight per backend.",
            ),
            &["backend"],
        ));
        let in_flight_total = must(IntGauge::new(
            "reel_balancer_in_flight",
            "Requests in flight across all backends.",
        ));
        let health_changes = must(IntCounter::new(
            "reel_balancer_health_transitions_total",
            "Times a backend entered or left rotation.",
        ));
        let upstream_requests = must(IntCounterVec::new(
            Opts::new(
                "reel_balancer_upstream_requests_total",
                "Attempts sent to a node (retries included), by backend.",
            ),
            &["backend"],
        ));
        let cache = must(IntCounterVec::new(
            Opts::new(
                "reel_balancer_cache_requests_total",
                "Cacheable requests by result: hit, miss, or coalesced into another request's fetch.",
            ),
            &["result"],
        ));
        let cache_bytes = must(IntGauge::new(
            "reel_balancer_cache_bytes",
            "Bytes held by the edge cache.",
        ));
        let ejections = must(IntCounter::new(
            "reel_balancer_ejections_total",
            "Nodes taken out of selection by passive checks.",
        ));
        let panic = must(IntCounter::new(
            "reel_balancer_panic_routed_total",
            "Requests routed with the panic threshold in force (too few nodes in rotation).",
        ));
        let retry_budget_exhausted = must(IntCounter::new(
            "reel_balancer_retry_budget_exhausted_total",
            "Retries not made because the retry budget was spent.",
        ));
        let access_log_dropped = must(IntCounter::new(
            "reel_balancer_access_log_dropped_total",
            "Access log records dropped because the writer fell behind.",
        ));
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(retries.clone()),
            Box::new(shed.clone()),
            Box::new(reloads.clone()),
            Box::new(healthy.clone()),
            Box::new(in_flight.clone()),
            Box::new(in_flight_total.clone()),
            Box::new(health_changes.clone()),
            Box::new(upstream_requests.clone()),
            Box::new(cache.clone()),
            Box::new(cache_bytes.clone()),
            Box::new(ejections.clone()),
            Box::new(panic.clone()),
            Box::new(retry_budget_exhausted.clone()),
            Box::new(access_log_dropped.clone()),
        ] {
            must(registry.register(c));
        }
        Metrics {
            registry,
            requests,
            latency,
            retries,
            shed,
            reloads,
            healthy,
            in_flight,
            in_flight_total,
            health_changes,
            upstream_requests,
            cache,
            cache_bytes,
            ejections,
            panic,
            retry_budget_exhausted,
            access_log_dropped,
        }
    }

    /// Records one attempt sent to a node.
    pub fn observe_upstream(&self, backend: &str) {
        self.upstream_requests.with_label_values(&[backend]).inc();
    }

    /// Records how a cacheable request was answered.
    pub fn observe_cache(&self, result: CacheResult) {
        self.cache.with_label_values(&[result.as_str()]).inc();
    }

    /// Records a node ejected by passive checks.
    pub fn observe_ejection(&self) {
        self.ejections.inc();
    }

    /// Records a request routed in panic mode.
    pub fn observe_panic(&self) {
        self.panic.inc();
    }

    /// Records a retry refused by the retry budget.
    pub fn observe_retry_budget_exhausted(&self) {
        self.retry_budget_exhausted.inc();
    }

    /// The counter of dropped access log records, for the log writer.
    pub fn access_log_dropped(&self) -> IntCounter {
        self.access_log_dropped.clone()
    }

    /// Records one finished request.
    pub fn observe_request(&self, backend: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[backend, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[backend]).observe(seconds);
    }

    /// Records one retry on another backend.
    pub fn observe_retry(&self, reason: &str) {
        self.retries.with_label_values(&[reason]).inc();
    }

    /// Records one shed request.
    pub fn observe_shed(&self, reason: &str) {
        self.shed.with_label_values(&[reason]).inc();
    }

    /// Records one reload attempt.
    pub fn observe_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "rejected" };
        self.reloads.with_label_values(&[result]).inc();
    }

    /// Records a backend entering or leaving rotation.
    pub fn observe_health_change(&self) {
        self.health_changes.inc();
    }

    /// Renders every family in Prometheus text format.
    pub fn render(
        &self,
        backends: &[BackendGauge<'_>],
        total_in_flight: usize,
        cache_bytes: u64,
    ) -> Result<String, MetricsError> {
        self.healthy.reset();
        self.in_flight.reset();
        for b in backends {
            let label = [b.label];
            self.healthy
                .with_label_values(&label)
                .set(i64::from(b.healthy));
            self.in_flight
                .with_label_values(&label)
                .set(b.in_flight as i64);
        }
        self.in_flight_total.set(total_in_flight as i64);
        self.cache_bytes.set(cache_bytes as i64);
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
