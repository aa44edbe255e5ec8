//! State shared by the proxy, the health checker and the admin server.
//!
//! The active configuration and its backend pool sit behind an
//! [`ArcSwap`]: a request loads one snapshot and keeps it until it ends,
//! so a reload never changes the rules under an in-flight request.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::layers::ConfigSource;
use crate::config::Config;
use crate::edge::Edge;
use crate::metrics::Metrics;
use crate::select::backend::TotalInFlight;
use crate::select::Pool;

/// One configuration together with the pool built from it.
#[derive(Debug)]
pub struct Snapshot {
    /// The validated configuration.
    pub config: Config,
    /// Backends and selection for it.
    pub pool: Pool,
}

/// Everything the balancer's services share.
#[derive(Debug)]
pub struct Shared {
    /// Current configuration snapshot.
    pub live: ArcSwap<Snapshot>,
    /// In-flight requests across every snapshot.
    pub total_in_flight: Arc<TotalInFlight>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Where to re-read the configuration from on reload.
    pub source: ConfigSource,
    /// Serialises reloads so two concurrent ones cannot interleave.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Client limits, forwarding trust and the access log.
    pub edge: Edge,
}

impl Shared {
    /// Builds the shared state around an already validated configuration.
    pub fn new(config: Config, source: ConfigSource) -> Arc<Shared> {
        let pool = Pool::new(&config, None);
        let metrics = Metrics::new();
        let edge = Edge::new(&config, &metrics);
        Arc::new(Shared {
            live: ArcSwap::from_pointee(Snapshot { config, pool }),
            total_in_flight: Arc::new(TotalInFlight::default()),
            metrics,
            edge,
            source,
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.load_full()
    }
}
