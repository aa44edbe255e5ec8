//! Zero-downtime binary upgrade: the private directory of the upgrade
//! socket, and the signal watcher that only accepts SIGQUIT when a
//! successor is waiting.
//!
//! pingora's hand-over works like this: the successor, started with
//! `--upgrade`, binds `upgrade_sock` (mode 0666) and waits a few seconds for
//! the old process; the old one, on SIGQUIT, connects and sends its
//! listening sockets, keeps accepting beside the successor for 5 s, then
//! stops accepting and drains. Anyone who can reach the socket could
//! inject listeners, so it must live in a directory only this user can
//! enter, never in the shared temporary directory that is pingora's default.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use pingora_core::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, SignalKind};

/// Why the upgrade socket's directory is unusable.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The directory could not be created or inspected.
    #[error("upgrade socket directory {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// Group or others may write to the directory.
    #[error(
        "upgrade socket directory {dir} is writable by group or others (mode {mode:o}); \
         run `chmod 700 {dir}` or choose another `upgrade_sock`"
    )]
    NotPrivate {
        /// The directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory belongs to someone else.
    #[error("upgrade socket directory {dir} is owned by uid {owner}, not by this user (uid {me})")]
    ForeignOwner {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// The balancer's effective uid.
        me: u32,
    },
    /// Something other than a socket sits at the socket path.
    #[error("{path} exists and is not a socket; remove it or choose another `upgrade_sock`")]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
}

impl UpgradeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            UpgradeError::Io { .. } => "upgrade_dir_io",
            UpgradeError::NotPrivate { .. } => "upgrade_dir_not_private",
            UpgradeError::ForeignOwner { .. } => "upgrade_dir_foreign_owner",
            UpgradeError::NotASocket { .. } => "upgrade_sock_not_socket",
        }
    }
}

fn socket_dir(sock: &Path) -> PathBuf {
    match sock.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates the socket's directory with mode 0700 if missing, and refuses
/// a directory that others may write to or that another user owns.
pub fn prepare_socket_dir(sock: &str) -> Result<(), UpgradeError> {
    let sock = Path::new(sock);
    let dir = socket_dir(sock);
    let io_err = |source| UpgradeError::Io {
        dir: dir.clone(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err)?;
    // symlink_metadata: a symlink planted in place of the directory is
    // judged by the link's owner, not by where it points.
    let meta = std::fs::symlink_metadata(&dir).map_err(io_err)?;
    if !meta.is_dir() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a directory",
        )));
    }
    let me = effective_uid();
    if meta.uid() != me {
        return Err(UpgradeError::ForeignOwner {
            dir,
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(UpgradeError::NotPrivate { dir, mode });
    }
    match std::fs::symlink_metadata(sock) {
        Ok(m) if !m.file_type().is_socket() => Err(UpgradeError::NotASocket {
            path: sock.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

/// True when a successor has bound the upgrade socket and waits for it.
fn successor_waiting(sock: &Path) -> bool {
    std::fs::symlink_metadata(sock).is_ok_and(|m| m.file_type().is_socket())
}

/// pingora's Unix signal handling, except that a SIGQUIT with no
/// successor waiting is ignored: otherwise it would shut the balancer down
/// after the failed hand-over, leaving nobody to serve.
///
/// SIGQUIT: upgrade hand-over; SIGTERM: graceful stop; SIGINT: fast stop.
#[derive(Debug)]
pub struct Signals {
    upgrade_sock: PathBuf,
}

impl Signals {
    /// Watches for signals; `upgrade_sock` as configured.
    pub fn new(upgrade_sock: &str) -> Self {
        Signals {
            upgrade_sock: PathBuf::from(upgrade_sock),
        }
    }
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let (mut quit, mut term, mut int) = match (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(q), Ok(t), Ok(i)) => (q, t, i),
            _ => {
                // Without handlers nobody could stop or upgrade the balancer
                // cleanly; better to stop now than to run uncontrollable.
                tracing::error!("cannot install the shutdown signal handlers, stopping");
                return ShutdownSignal::FastShutdown;
            }
        };
        loop {
            tokio::select! {
                _ = quit.recv() => {
                    if successor_waiting(&self.upgrade_sock) {
                        tracing::info!("SIGQUIT: handing the listeners over to the successor");
                        return ShutdownSignal::GracefulUpgrade;
                    }
                    tracing::error!(
                        sock = %self.upgrade_sock.display(),
                        "SIGQUIT ignored: no successor is waiting on the upgrade socket; \
                         start the new binary with --upgrade first"
                    );
                }
                _ = term.recv() => return ShutdownSignal::GracefulTerminate,
                _ = int.recv() => return ShutdownSignal::FastShutdown,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "reel-balancer-upgrade-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn creates_private_dir_and_refuses_open_ones() {
        let base = tmp("dir");
        let sock = base.join("run/upgrade.sock");
        prepare_socket_dir(sock.to_str().unwrap()).unwrap();
        let mode = std::fs::metadata(base.join("run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);

        std::fs::set_permissions(base.join("run"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = prepare_socket_dir(sock.to_str().unwrap()).unwrap_err();
        assert_eq!(e.code(), "upgrade_dir_not_private", "{e}");

        std::fs::set_permissions(base.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(&sock, "not a socket").unwrap();
        let e = prepare_socket_dir(sock.to_str().unwrap()).unwrap_err();
        assert_eq!(e.code(), "upgrade_sock_not_socket", "{e}");
        assert!(!successor_waiting(&sock));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
