//! Active health checking: every interval each backend gets an HTTP GET of
//! `health.path`; thresholds of consecutive results move it in and out of
//! rotation (see [`crate::select::backend::BackendState::record_check`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::select::backend::Transition;
use crate::state::Shared;

/// Why one health check failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// Connecting, writing or reading failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The check did not finish within `health.timeout_ms`.
    #[error("timed out")]
    Timeout,
    /// The answer was not an HTTP response.
    #[error("malformed response")]
    Malformed,
    /// The backend answered with a non-2xx status.
    #[error("status {0}")]
    Status(u16),
}

impl HealthError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            HealthError::Io(_) => "health_io",
            HealthError::Timeout => "health_timeout",
            HealthError::Malformed => "health_malformed",
            HealthError::Status(_) => "health_status",
        }
    }
}

/// Performs one check: a bare HTTP/1.1 GET on a fresh connection, so a
/// check never reuses a socket the proxy pool might consider healthy.
pub async fn check(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), HealthError> {
    tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: reel-balancer-health\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        // The status line fits in the first read of any sane server; a
        // short buffer keeps a misbehaving backend from costing memory.
        let mut buf = [0u8; 64];
        let mut filled = 0;
        while filled < 12 {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        let status = parse_status(&buf[..filled]).ok_or(HealthError::Malformed)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(HealthError::Status(status))
        }
    })
    .await
    .map_err(|_| HealthError::Timeout)?
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head.get(..12)?).ok()?;
    if !text.starts_with("HTTP/1.") {
        return None;
    }
    text.get(9..12)?.parse().ok()
}

/// Background service running the checks.
#[derive(Debug)]
pub struct HealthChecker {
    shared: Arc<Shared>,
}

impl HealthChecker {
    /// Creates the checker over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        HealthChecker { shared }
    }

    /// Checks every backend of the current snapshot once, concurrently.
    pub async fn round(&self) {
        let snapshot = self.shared.snapshot();
        let h = &snapshot.config.health;
        let timeout = Duration::from_millis(h.timeout_ms);
        let mut checks = tokio::task::JoinSet::new();
        for m in snapshot.selector.members() {
            let state = Arc::clone(&m.state);
            let path = h.path.clone();
            checks.spawn(async move {
                let result = check(state.address(), &path, timeout).await;
                (state, result)
            });
        }
        while let Some(joined) = checks.join_next().await {
            let Ok((state, result)) = joined else {
                continue;
            };
            let transition =
                state.record_check(result.is_ok(), h.healthy_threshold, h.unhealthy_threshold);
            match (transition, &result) {
                (Transition::Down, Err(e)) => {
                    self.shared.metrics.observe_health_change();
                    tracing::warn!(backend = %state.label(), code = e.code(), "backend left rotation: {e}");
                }
                (Transition::Up, _) => {
                    self.shared.metrics.observe_health_change();
                    tracing::info!(backend = %state.label(), "backend back in rotation");
                }
                (_, Err(e)) => {
                    tracing::debug!(backend = %state.label(), "health check failed: {e}");
                }
                _ => {}
            }
        }
    }
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let interval = Duration::from_millis(self.shared.snapshot().config.health.interval_ms);
            // A fixed cadence from the start of each round, so a slow check
            // does not stretch the time a dead node stays in rotation.
            let next = tokio::time::Instant::now() + interval;
            self.round().await;
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 x"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0-x"), None);
        assert_eq!(parse_status(b"HTTP/1.1"), None);
    }
}
