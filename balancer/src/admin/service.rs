//! The admin port as a pingora listening service, with its own rule for
//! when to stop accepting.
//!
//! pingora stops every listener when shutdown begins. For the admin port
//! that is right on an upgrade (the successor now owns the socket and must
//! be the one answering) but wrong on SIGTERM: operators and outer load
//! balancers should still read `/metrics` and the 503 of `/healthz` while
//! in-flight requests drain. So the inner service sees shutdown only when
//! it is an upgrade; on SIGTERM it keeps accepting until the process ends.

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::server::{ListenFds, ShutdownWatch};
use pingora_core::services::listening::Service as ListeningService;
use pingora_core::services::Service;
use tokio::sync::watch;

use super::AdminApp;
use crate::drain::{Lifecycle, Phase};
use crate::reload;
use crate::state::Shared;

/// pingora service serving the admin port.
pub struct AdminService {
    inner: ListeningService<AdminApp>,
    shared: Arc<Shared>,
    lifecycle: Arc<Lifecycle>,
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService").finish_non_exhaustive()
    }
}

impl AdminService {
    /// The admin service listening on `listen` (fixed for the process).
    pub fn new(shared: Arc<Shared>, lifecycle: Arc<Lifecycle>, listen: &str) -> Self {
        let app = AdminApp::new(Arc::clone(&shared), Arc::clone(&lifecycle));
        let mut inner = ListeningService::new("reel-balancer admin".to_string(), app);
        inner.add_tcp(listen);
        // One thread is plenty for scrapes and health checks, and keeps
        // the proxy's threads for viewers.
        inner.threads = Some(1);
        AdminService {
            inner,
            shared,
            lifecycle,
        }
    }
}

#[async_trait]
impl Service for AdminService {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        // Installed before the admin port answers, so once it does a
        // SIGHUP can no longer hit the default action (terminate).
        if let Err(e) = reload::spawn_sighup(Arc::clone(&self.shared)) {
            tracing::error!("cannot install the SIGHUP handler: {e}");
            std::process::exit(1);
        }
        let (stop, stopped) = watch::channel(false);
        let lifecycle = Arc::clone(&self.lifecycle);
        let mut server = shutdown;
        tokio::spawn(async move {
            if server.wait_for(|down| *down).await.is_ok() && lifecycle.phase() == Phase::Upgrading
            {
                let _ = stop.send(true);
            }
            // The accept loop also ends when the sender is dropped, so it
            // is kept for as long as the process lives.
            let _keep = stop;
            std::future::pending::<()>().await;
        });
        self.inner
            .start_service(fds, stopped, listeners_per_fd)
            .await;
    }

    fn name(&self) -> &str {
        "reel-balancer admin"
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        // Claiming the address keeps pingora from closing the inherited
        // socket as unclaimed on an upgrade.
        self.inner.listen_addresses()
    }
}
