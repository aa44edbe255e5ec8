//! Assembles the pingora server: the proxy service on `listen` plus the
//! health checker, admin server and drain watcher as background services.
//!
//! Zero-downtime binary upgrade (pingora's SIGQUIT listener hand-over to a
//! successor started with `--upgrade`) is not supported: nothing here starts
//! or accepts a successor, so SIGQUIT ends in an ordinary graceful shutdown
//! after pingora's fixed hand-over wait. Use SIGTERM and a restart.

use std::sync::Arc;

use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use pingora_proxy::http_proxy;

use crate::admin::AdminServer;
use crate::config::layers::ConfigSource;
use crate::config::{Config, MAX_RETRIES};
use crate::drain::Drain;
use crate::edge::conn::EdgeApp;
use crate::edge::EdgeError;
use crate::health::HealthChecker;
use crate::proxy::Balancer;
use crate::state::Shared;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The viewer port cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address from the configuration.
        addr: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The edge (access log) cannot be set up.
    #[error(transparent)]
    Edge(#[from] EdgeError),
}

impl ServeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Listen { .. } => "listen_failed",
            ServeError::Edge(e) => e.code(),
        }
    }
}

fn server_conf(config: &Config) -> ServerConf {
    ServerConf {
        threads: config.threads,
        grace_period_seconds: Some(config.shutdown_grace_s),
        graceful_shutdown_timeout_seconds: Some(1),
        // Attempts per request; the per-request budget from the config
        // (which a reload may lower) is enforced by the proxy itself.
        max_retries: MAX_RETRIES as usize + 1,
        ..ServerConf::default()
    }
}

/// Runs the balancer until shutdown; never returns on success.
pub fn serve(config: Config, source: ConfigSource) -> Result<(), ServeError> {
    // pingora panics deep inside start-up when a bind fails; probing first
    // turns the common "address in use" into a clear error.
    std::net::TcpListener::bind(&config.listen).map_err(|source| ServeError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    let admin_listen = config.admin_listen.clone();
    let listen = config.listen.clone();
    let mut server = Server::new_with_opt_and_conf(None, server_conf(&config));
    server.bootstrap();
    let shared = Shared::new(config, source);
    shared.edge.configure(&shared.snapshot().config)?;

    // Connection caps and request-head deadlines wrap pingora's proxy.
    let app = EdgeApp::new(
        http_proxy(&server.configuration, Balancer::new(Arc::clone(&shared))),
        Arc::clone(&shared),
    );
    let mut proxy = Service::new("reel-balancer proxy".to_string(), app);
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.add_service(background_service(
        "reel-balancer health",
        HealthChecker::new(Arc::clone(&shared)),
    ));
    server.add_service(background_service(
        "reel-balancer admin",
        AdminServer::new(Arc::clone(&shared), admin_listen),
    ));
    server.add_service(background_service(
        "reel-balancer drain",
        Drain::new(Arc::clone(&shared)),
    ));
    tracing::info!(%listen, "reel-balancer starting");
    server.run_forever()
}
