//! Graceful shutdown. On SIGTERM pingora stops accepting and then waits a
//! fixed grace period before tearing its runtimes down; this service ends
//! the process as soon as no proxied request is left in flight, so a quiet
//! balancer exits at once while a busy one gets up to `shutdown_grace_s`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::state::Shared;

/// Background service watching for the end of in-flight work.
#[derive(Debug)]
pub struct Drain {
    shared: Arc<Shared>,
}

impl Drain {
    /// Creates the drain watcher.
    pub fn new(shared: Arc<Shared>) -> Self {
        Drain { shared }
    }
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if shutdown.changed().await.is_err() {
            return;
        }
        // Lets connections accepted just before the listener closed reach
        // admission and be counted.
        tokio::time::sleep(Duration::from_millis(100)).await;
        loop {
            let left = self.shared.active.get();
            if left == 0 {
                tracing::info!("all in-flight requests finished, exiting");
                std::process::exit(0);
            }
            tracing::debug!(in_flight = left, "draining");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
