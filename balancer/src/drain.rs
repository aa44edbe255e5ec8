//! Graceful shutdown and the process's lifecycle.
//!
//! SIGTERM makes pingora stop accepting at once; SIGQUIT first hands the
//! listening sockets to a successor started with `--upgrade` and stops
//! accepting after pingora's fixed close delay (5 s) in which both
//! processes accept. Either way pingora then waits a fixed grace period
//! before tearing its runtimes down; [`Drain`] ends the process as soon as
//! no proxied request is left in flight instead, so a quiet balancer exits
//! at once while a busy one gets up to `shutdown_grace_s`.
//!
//! [`Lifecycle`] records which of the two began, from pingora's execution
//! phases: `/healthz` reports draining from the moment the signal arrived,
//! and the admin port keeps answering through a SIGTERM drain but stops
//! accepting on an upgrade, where its socket belongs to the successor.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::{ExecutionPhase, ShutdownWatch};
use pingora_core::services::background::BackgroundService;
use tokio::sync::broadcast;

use crate::state::Shared;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Serving normally.
    Running,
    /// SIGQUIT accepted: listeners go to a successor, then this one drains.
    Upgrading,
    /// SIGTERM received: no longer accepting, draining.
    Terminating,
}

/// The current [`Phase`], shared by the drain watcher and the admin port.
#[derive(Debug, Default)]
pub struct Lifecycle(AtomicU8);

impl Lifecycle {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Running,
            1 => Phase::Upgrading,
            _ => Phase::Terminating,
        }
    }

    /// True once a SIGTERM or an accepted SIGQUIT arrived.
    pub fn is_draining(&self) -> bool {
        self.phase() != Phase::Running
    }

    /// Moves out of `Running`; the first reason recorded stays.
    fn begin(&self, phase: Phase) {
        let code = match phase {
            Phase::Running => return,
            Phase::Upgrading => 1,
            Phase::Terminating => 2,
        };
        let _ = self
            .0
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
    }

    fn observe(&self, phase: &ExecutionPhase) {
        match phase {
            ExecutionPhase::GracefulUpgradeTransferringFds
            | ExecutionPhase::GracefulUpgradeCloseTimeout => self.begin(Phase::Upgrading),
            ExecutionPhase::GracefulTerminate | ExecutionPhase::ShutdownStarted => {
                self.begin(Phase::Terminating)
            }
            _ => {}
        }
    }
}

/// Background service following the server's phases and ending the
/// process once in-flight work is done after shutdown.
#[derive(Debug)]
pub struct Drain {
    shared: Arc<Shared>,
    lifecycle: Arc<Lifecycle>,
    phases: std::sync::Mutex<Option<broadcast::Receiver<ExecutionPhase>>>,
}

impl Drain {
    /// Creates the drain watcher; `phases` comes from
    /// `Server::watch_execution_phase` before the server runs.
    pub fn new(
        shared: Arc<Shared>,
        lifecycle: Arc<Lifecycle>,
        phases: broadcast::Receiver<ExecutionPhase>,
    ) -> Self {
        Drain {
            shared,
            lifecycle,
            phases: std::sync::Mutex::new(Some(phases)),
        }
    }
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let phases = self.phases.lock().ok().and_then(|mut p| p.take());
        if let Some(mut phases) = phases {
            let lifecycle = Arc::clone(&self.lifecycle);
            tokio::spawn(async move {
                loop {
                    match phases.recv().await {
                        Ok(phase) => lifecycle.observe(&phase),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        if shutdown.wait_for(|down| *down).await.is_err() {
            return;
        }
        // The shutdown broadcast may overtake its phase message.
        self.lifecycle.begin(Phase::Terminating);
        let why = match self.lifecycle.phase() {
            Phase::Upgrading => "listeners handed over to the successor",
            _ => "terminating",
        };
        tracing::info!("{why}; draining in-flight requests");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_stays() {
        let l = Lifecycle::default();
        assert!(!l.is_draining());
        l.observe(&ExecutionPhase::Running);
        assert_eq!(l.phase(), Phase::Running);
        l.observe(&ExecutionPhase::GracefulUpgradeTransferringFds);
        l.observe(&ExecutionPhase::ShutdownStarted);
        assert_eq!(l.phase(), Phase::Upgrading);
        assert!(l.is_draining());
    }
}
