//! Assembles the pingora server: the proxy service on `listen` (and on
//! `tls.listen` with TLS on; then `listen` may only redirect to it) plus
//! the health checker, admin server and drain watcher as background
//! services.
//!
//! Zero-downtime binary upgrade (pingora's SIGQUIT listener hand-over to a
//! successor started with `--upgrade`) is not supported: nothing here starts
//! or accepts a successor, so SIGQUIT ends in an ordinary graceful shutdown
//! after pingora's fixed hand-over wait. Use SIGTERM and a restart.

use std::path::Path;
use std::sync::Arc;

use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use pingora_proxy::http_proxy_service_with_name;

use crate::admin::AdminServer;
use crate::config::layers::ConfigSource;
use crate::config::{Config, MAX_RETRIES};
use crate::drain::Drain;
use crate::health::HealthChecker;
use crate::proxy::Balancer;
use crate::state::Shared;
use crate::tls::cert::{self, CertError};
use crate::tls::redirect::HttpsRedirect;

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
    /// The TLS certificate or key cannot be used.
    #[error("tls: {0}")]
    Certificate(#[from] CertError),
    /// pingora refused the TLS listener settings.
    #[error("cannot set up TLS on {addr}: {message}")]
    TlsSetup {
        /// Address of the TLS port.
        addr: String,
        /// What pingora reported.
        message: String,
    },
}

impl ServeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Listen { .. } => "listen_failed",
            ServeError::Certificate(e) => e.code(),
            ServeError::TlsSetup { .. } => "tls_setup_failed",
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
    let tls = config.tls.clone();
    let tls_listen = tls.enabled().then(|| tls.listen.clone());
    for addr in std::iter::once(&config.listen).chain(&tls_listen) {
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Listen {
            addr: addr.clone(),
            source,
        })?;
    }
    // Read again (validation read it too) so that what is served is what
    // was just checked, and a file broken since then stops the start.
    let certificate = match tls.enabled() {
        true => Some(cert::load(Path::new(&tls.cert), Path::new(&tls.key))?),
        false => None,
    };
    let admin_listen = config.admin_listen.clone();
    let listen = config.listen.clone();
    let mut server = Server::new_with_opt_and_conf(None, server_conf(&config));
    server.bootstrap();
    let shared = Shared::new(config, source);

    let mut proxy = http_proxy_service_with_name(
        &server.configuration,
        Balancer::new(Arc::clone(&shared)),
        "reel-balancer proxy",
    );
    let redirect_port = match (&tls_listen, tls.redirect_http) {
        (Some(_), true) => tls.listen_addr().map(|a| a.port()),
        _ => None,
    };
    match redirect_port {
        Some(port) => {
            let mut redirect = Service::new(
                "reel-balancer https redirect".to_string(),
                HttpsRedirect::new(port),
            );
            redirect.add_tcp(&listen);
            server.add_service(redirect);
        }
        None => proxy.add_tcp(&listen),
    }
    if let (Some(addr), Some(certificate)) = (&tls_listen, certificate) {
        shared.certs.install(certificate);
        let settings = crate::tls::listener_settings(Arc::clone(&shared.certs)).map_err(|e| {
            ServeError::TlsSetup {
                addr: addr.clone(),
                message: e.to_string(),
            }
        })?;
        proxy.add_tls_with_settings(addr, None, settings);
    }
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
    tracing::info!(%listen, tls = tls_listen.as_deref().unwrap_or("off"), "reel-balancer starting");
    server.run_forever()
}
