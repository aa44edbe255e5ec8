//! Live reload: re-read every configuration layer, validate, and swap the
//! new snapshot in. Requests already running keep the snapshot they
//! started with; an invalid file is refused and the old one stays active.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, ConfigError};
use crate::select::Selector;
use crate::state::{Shared, Snapshot};
use crate::tls::cert::CertError;

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new configuration could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS certificate files changed into something unusable between
    /// validation and the swap.
    #[error("tls: {0}")]
    Certificate(#[from] CertError),
}

impl ReloadError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReloadError::Config(e) => e.code(),
            ReloadError::Certificate(e) => e.code(),
        }
    }
}

/// What a successful reload changed.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadSummary {
    /// Backends in the new configuration.
    pub backends: usize,
    /// Selection strategy now active.
    pub selection: &'static str,
    /// Keys that changed but only take effect after a restart.
    pub needs_restart: Vec<&'static str>,
}

/// Re-reads the configuration and swaps it in if valid.
pub async fn reload(shared: &Shared) -> Result<ReloadSummary, ReloadError> {
    let _serial = shared.reload_lock.lock().await;
    let result = shared.source.load();
    shared.metrics.observe_reload(result.is_ok());
    let config = result.map_err(|e| {
        tracing::error!(
            code = e.code(),
            "reload refused, keeping the current config: {e}"
        );
        ReloadError::from(e)
    })?;
    let old = shared.snapshot();
    let mut needs_restart = Vec::new();
    if config.listen != old.config.listen {
        needs_restart.push("listen");
    }
    if config.admin_listen != old.config.admin_listen {
        needs_restart.push("admin_listen");
    }
    if config.upgrade_sock != old.config.upgrade_sock {
        needs_restart.push("upgrade_sock");
    }
    if config.threads != old.config.threads {
        needs_restart.push("threads");
    }
    if config.shutdown_grace_s != old.config.shutdown_grace_s {
        needs_restart.push("shutdown_grace_s");
    }
    if config.cache != old.config.cache {
        needs_restart.push("cache");
    }
    if config.admission.secret != old.config.admission.secret {
        needs_restart.push("admission.secret");
    }
    swap_certificate(shared, &old.config, &config, &mut needs_restart)?;
    if config.access_log.queue != old.config.access_log.queue {
        needs_restart.push("access_log.queue");
    }
    if !needs_restart.is_empty() {
        tracing::warn!(keys = ?needs_restart, "these keys changed but apply only after a restart");
    }
    let selector = Selector::new(&config, Some(&old.selector));
    let summary = ReloadSummary {
        backends: selector.members().len(),
        selection: config.selection.as_str(),
        needs_restart,
    };
    // Reopens the access log even when its path is unchanged: that is how
    // a rotated log file is let go. A failure keeps the old target.
    if let Err(e) = shared.edge.configure(&config) {
        tracing::error!(
            code = e.code(),
            "reload: {e}; the access log keeps its old target"
        );
    }
    shared.live.store(Arc::new(Snapshot::new(config, selector)));
    tracing::info!(
        backends = summary.backends,
        selection = summary.selection,
        "config reloaded"
    );
    Ok(summary)
}

/// Re-reads the TLS certificate and key (always: a renewal rewrites the
/// files in place) and gives them to new handshakes. Listener changes wait
/// for a restart; while TLS is open and the new config turns it off, the
/// old certificate keeps serving.
fn swap_certificate(
    shared: &Shared,
    old: &Config,
    new: &Config,
    needs_restart: &mut Vec<&'static str>,
) -> Result<(), ReloadError> {
    let (old, new) = (&old.tls, &new.tls);
    if old.enabled() != new.enabled() || old.listen != new.listen {
        needs_restart.push("tls.listen");
    }
    if old.redirect_http != new.redirect_http {
        needs_restart.push("tls.redirect_http");
    }
    if new.enabled() && shared.certs.is_active() {
        shared
            .certs
            .reload(Path::new(&new.cert), Path::new(&new.key))
            .inspect_err(|e| {
                tracing::error!(
                    code = e.code(),
                    "reload refused, keeping the current certificate: {e}"
                )
            })?;
    }
    Ok(())
}

/// Installs the SIGHUP handler and spawns the task that reloads on it.
///
/// Called before the admin port opens, so once the admin port answers a
/// SIGHUP can no longer hit the default action (terminate).
pub fn spawn_sighup(shared: Arc<Shared>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received, reloading config");
            // Errors are logged inside `reload`.
            let _ = reload(&shared).await;
        }
    });
    Ok(())
}
