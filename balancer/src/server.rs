//! Assembles the pingora server: the proxy service on `listen` (and on
//! `tls.listen` with TLS on; then `listen` may only redirect to it), the
//! admin service on `admin_listen`, and the health checker and drain
//! watcher as background services.
//!
//! Zero-downtime binary upgrade uses pingora's listener hand-over: a
//! successor started with `--upgrade` receives every listening socket
//! (viewer, TLS and admin ports alike) over `upgrade_sock` when the old
//! process gets SIGQUIT; see [`crate::upgrade`] and [`crate::drain`].

use std::path::Path;
use std::sync::Arc;

use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{RunArgs, Server};
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use pingora_proxy::http_proxy;

use crate::accept::EdgeApp;
use crate::admin::AdminService;
use crate::config::layers::ConfigSource;
use crate::config::{Config, MAX_RETRIES};
use crate::drain::{Drain, Lifecycle};
use crate::edge::EdgeError;
use crate::health::HealthChecker;
use crate::proxy::Balancer;
use crate::state::Shared;
use crate::tls::cert::{self, CertError};
use crate::tls::redirect::HttpsRedirect;
use crate::upgrade::{self, Signals, UpgradeError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listening port cannot be bound.
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
    /// The upgrade socket's directory is missing or not private.
    #[error(transparent)]
    Upgrade(#[from] UpgradeError),
    /// The edge (access log) cannot be set up.
    #[error(transparent)]
    Edge(#[from] EdgeError),
}

impl ServeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Listen { .. } => "listen_failed",
            ServeError::Certificate(e) => e.code(),
            ServeError::TlsSetup { .. } => "tls_setup_failed",
            ServeError::Upgrade(e) => e.code(),
            ServeError::Edge(e) => e.code(),
        }
    }
}

/// How the process was started, from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartMode {
    /// Take the listening sockets over from a running balancer (which is
    /// then sent SIGQUIT) instead of binding them.
    pub upgrade: bool,
}

fn server_conf(config: &Config) -> ServerConf {
    ServerConf {
        threads: config.threads,
        grace_period_seconds: Some(config.shutdown_grace_s),
        graceful_shutdown_timeout_seconds: Some(1),
        // Attempts per request; the per-request budget from the config
        // (which a reload may lower) is enforced by the proxy itself.
        max_retries: MAX_RETRIES as usize + 1,
        upgrade_sock: config.upgrade_sock.clone(),
        ..ServerConf::default()
    }
}

/// pingora panics deep inside start-up when a bind fails; probing first
/// turns the common "address in use" into a clear error.
fn probe(addr: &str) -> Result<(), ServeError> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|source| ServeError::Listen {
            addr: addr.to_string(),
            source,
        })
}

/// Runs the balancer until shutdown.
pub fn serve(config: Config, source: ConfigSource, mode: StartMode) -> Result<(), ServeError> {
    upgrade::prepare_socket_dir(&config.upgrade_sock)?;
    let tls = config.tls.clone();
    let tls_listen = tls.enabled().then(|| tls.listen.clone());
    // On an upgrade the addresses are held by the old process and arrive
    // as sockets, so binding them here would fail for the wrong reason.
    if !mode.upgrade {
        probe(&config.listen)?;
        probe(&config.admin_listen)?;
        if let Some(addr) = &tls_listen {
            probe(addr)?;
        }
    }
    // Read again (validation read it too) so that what is served is what
    // was just checked, and a file broken since then stops the start.
    let certificate = match tls.enabled() {
        true => Some(cert::load(Path::new(&tls.cert), Path::new(&tls.key))?),
        false => None,
    };
    let admin_listen = config.admin_listen.clone();
    let listen = config.listen.clone();
    let signals = Signals::new(&config.upgrade_sock);
    let opt = Opt {
        upgrade: mode.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&config));
    let phases = server.watch_execution_phase();
    if mode.upgrade {
        tracing::info!(sock = %config.upgrade_sock, "waiting for the running balancer's sockets (send it SIGQUIT)");
    }
    // Exits the process if an upgrade receives no sockets in time.
    server.bootstrap();
    let shared = Shared::new(config, source);
    let lifecycle = Arc::new(Lifecycle::default());
    shared.edge.configure(&shared.snapshot().config)?;

    // Connection caps and request-head deadlines wrap pingora's proxy.
    let app = EdgeApp::new(
        http_proxy(&server.configuration, Balancer::new(Arc::clone(&shared))),
        Arc::clone(&shared),
    );
    let mut proxy = Service::new("reel-balancer proxy".to_string(), app);
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
    server.add_service(AdminService::new(
        Arc::clone(&shared),
        Arc::clone(&lifecycle),
        &admin_listen,
    ));
    server.add_service(background_service(
        "reel-balancer health",
        HealthChecker::new(Arc::clone(&shared)),
    ));
    server.add_service(background_service(
        "reel-balancer drain",
        Drain::new(Arc::clone(&shared), lifecycle, phases),
    ));
    tracing::info!(%listen, tls = tls_listen.as_deref().unwrap_or("off"), pid = std::process::id(), "reel-balancer starting");
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    Ok(())
}
