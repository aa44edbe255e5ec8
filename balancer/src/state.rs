//! State shared by the proxy, the health checker and the admin server.
//!
//! The active configuration and its backend selector sit behind an
//! [`ArcSwap`]: a request loads one snapshot and keeps it until it ends,
//! so a reload never changes the rules under an in-flight request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::admission::Admission;
use crate::cache::EdgeCache;
use crate::config::layers::ConfigSource;
use crate::config::Config;
use crate::edge::Edge;
use crate::metrics::{BackendGauge, Metrics, MetricsError};
use crate::retry::RetryBudget;
use crate::select::backend::{now_ms, TotalInFlight};
use crate::select::Selector;
use crate::tls::cert::CertStore;

/// One configuration together with the selector built from it.
#[derive(Debug)]
pub struct Snapshot {
    /// The validated configuration.
    pub config: Config,
    /// Backends and selection for it.
    pub selector: Selector,
    /// The playback keys of `config`, parsed once.
    pub playback: reel_playback::Keys,
}

impl Snapshot {
    /// A snapshot of `config` with its selector.
    pub fn new(config: Config, selector: Selector) -> Snapshot {
        Snapshot {
            playback: config.playback.parsed(),
            config,
            selector,
        }
    }
}

/// Everything the balancer's services share.
#[derive(Debug)]
pub struct Shared {
    /// Current configuration snapshot.
    pub live: ArcSwap<Snapshot>,
    /// Requests holding a node slot, across every snapshot.
    pub total_in_flight: Arc<TotalInFlight>,
    /// Requests being answered in any way (cache hits included); shutdown
    /// waits for this to reach zero.
    pub active: Arc<Active>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Where to re-read the configuration from on reload.
    pub source: ConfigSource,
    /// Serialises reloads so two concurrent ones cannot interleave.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// The edge cache; its budget is fixed at start.
    pub cache: EdgeCache,
    /// Admission cookies; the key is fixed at start.
    pub admission: Admission,
    /// Retries over the last seconds.
    pub retry_budget: RetryBudget,
    /// Certificate of the TLS port; empty while TLS is off.
    pub certs: Arc<CertStore>,
    /// Client limits, forwarding trust and the access log.
    pub edge: Edge,
}

impl Shared {
    /// Builds the shared state around an already validated configuration.
    pub fn new(config: Config, source: ConfigSource) -> Arc<Shared> {
        let selector = Selector::new(&config, None);
        let metrics = Metrics::new();
        let edge = Edge::new(&config, &metrics);
        Arc::new(Shared {
            cache: EdgeCache::new(&config.cache),
            admission: Admission::new(&config.admission.secret),
            live: ArcSwap::from_pointee(Snapshot::new(config, selector)),
            total_in_flight: Arc::new(TotalInFlight::default()),
            active: Arc::new(Active::default()),
            metrics,
            edge,
            source,
            reload_lock: tokio::sync::Mutex::new(()),
            retry_budget: RetryBudget::default(),
            certs: Arc::new(CertStore::default()),
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.load_full()
    }

    /// Renders `/metrics` with the backends of the live snapshot.
    pub fn render_metrics(&self) -> Result<String, MetricsError> {
        let snapshot = self.snapshot();
        let now = now_ms();
        let names: Vec<Arc<String>> = snapshot
            .selector
            .members()
            .iter()
            .map(|m| m.state.name())
            .collect();
        let gauges: Vec<BackendGauge<'_>> = snapshot
            .selector
            .members()
            .iter()
            .zip(&names)
            .map(|(m, name)| BackendGauge {
                label: name.as_str(),
                healthy: m.state.is_healthy() && !m.state.is_ejected(now),
                in_flight: m.state.in_flight(),
            })
            .collect();
        self.metrics
            .render(&gauges, self.total_in_flight.get(), self.cache.bytes())
    }
}

/// Count of requests in progress.
#[derive(Debug, Default)]
pub struct Active(AtomicUsize);

impl Active {
    /// Requests in progress.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Counts a request until the guard drops.
    pub fn enter(self: &Arc<Self>) -> ActiveGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(Arc::clone(self))
    }
}

/// Keeps one request counted in [`Active`].
#[derive(Debug)]
pub struct ActiveGuard(Arc<Active>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}
