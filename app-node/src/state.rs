//! Shared state handed to every request handler and the worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::auth::{LoginThrottle, PasswordPool};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::ingest::Downloader;
use crate::metrics::Metrics;
use crate::storage::MediaStore;

/// Everything a node needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Effective configuration.
    pub config: Arc<Config>,
    /// Name sent as `X-Reel-Node`.
    pub node_name: Arc<str>,
    /// The catalog.
    pub catalog: Catalog,
    /// The media store.
    pub store: Arc<dyn MediaStore>,
    /// URL checker and downloader.
    pub downloader: Downloader,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Set on SIGTERM: readiness fails, the worker stops claiming.
    pub draining: Arc<AtomicBool>,
    /// Threads that check passwords.
    pub passwords: Arc<PasswordPool>,
    /// Sign-in attempt limits.
    pub login_throttle: Arc<LoginThrottle>,
    /// Purges deleted videos from the balancers' edge caches.
    pub edge: crate::housekeeping::EdgePurger,
    /// Keys that sign and verify playback tokens of private videos.
    pub playback: Arc<reel_playback::Keys>,
}

impl AppState {
    /// Opens catalog and store as configured.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let catalog =
            crate::catalog::open(&config.catalog_url(), &config.catalog_options()).await?;
        let store = crate::storage::open(&config).await?;
        tokio::fs::create_dir_all(config.tmp_dir()).await?;
        let downloader = Downloader::new(&config.ingest)?;
        let h = &config.http;
        let passwords = Arc::new(PasswordPool::new(h.password_threads, h.password_queue)?);
        let login_throttle = Arc::new(LoginThrottle::new(
            h.login_per_ip_per_min,
            h.login_per_user_per_min,
        ));
        let edge = crate::housekeeping::EdgePurger::new(&config.edge.purge_urls);
        Ok(AppState {
            edge,
            playback: Arc::new(config.playback.keys()),
            node_name: config.node_name().into(),
            config: Arc::new(config),
            catalog,
            store,
            downloader,
            metrics: Metrics::new(),
            draining: Arc::new(AtomicBool::new(false)),
            passwords,
            login_throttle,
        })
    }

    /// Longest a readiness ping may take: the pool's own wait plus a margin
    /// for the round trip.
    pub fn catalog_ping_limit(&self) -> std::time::Duration {
        self.config.catalog_options().acquire_timeout + std::time::Duration::from_secs(2)
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
