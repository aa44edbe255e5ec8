//! Live state of one backend: health streaks, in-flight count and served
//! total. The state outlives configuration reloads so a node keeps its
//! health and counters when the backend list is rewritten around it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// Counters and health of one backend address.
#[derive(Debug)]
pub struct BackendState {
    address: SocketAddr,
    label: String,
    /// Configured name; swapped on reload because the state outlives the
    /// configuration that named it.
    name: ArcSwap<String>,
    healthy: AtomicBool,
    ok_streak: AtomicU32,
    fail_streak: AtomicU32,
    in_flight: AtomicUsize,
    served: AtomicU64,
}

/// What a health check result did to a backend's rotation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Status unchanged.
    None,
    /// The backend entered rotation.
    Up,
    /// The backend left rotation.
    Down,
}

impl BackendState {
    /// A new backend starts in rotation so a fresh balancer serves at once;
    /// the first failing checks take a dead one out.
    pub fn new(address: SocketAddr) -> Self {
        BackendState {
            address,
            label: address.to_string(),
            name: ArcSwap::from_pointee(address.to_string()),
            healthy: AtomicBool::new(true),
            ok_streak: AtomicU32::new(0),
            fail_streak: AtomicU32::new(0),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
        }
    }

    /// The backend's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address as text, the stable key for hashing.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The configured name, shown to viewers and used as the metrics label.
    pub fn name(&self) -> Arc<String> {
        self.name.load_full()
    }

    /// Renames the backend (on start-up and reload).
    pub fn set_name(&self, name: String) {
        if *self.name.load_full() != name {
            self.name.store(Arc::new(name));
        }
    }

    /// Whether the backend is in rotation.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Requests currently being served by this backend.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Responses this backend has completed.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Counts one completed response.
    pub fn mark_served(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one active check result, applying the thresholds.
    ///
    /// Only the health checker calls this, so streak updates need no
    /// compare-and-swap loop.
    pub fn record_check(
        &self,
        success: bool,
        healthy_after: u32,
        unhealthy_after: u32,
    ) -> Transition {
        if success {
            self.fail_streak.store(0, Ordering::Relaxed);
            let ok = self
                .ok_streak
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            if !self.is_healthy() && ok >= healthy_after {
                self.healthy.store(true, Ordering::Release);
                return Transition::Up;
            }
        } else {
            self.ok_streak.store(0, Ordering::Relaxed);
            let fails = self
                .fail_streak
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            if self.is_healthy() && fails >= unhealthy_after {
                self.healthy.store(false, Ordering::Release);
                return Transition::Down;
            }
        }
        Transition::None
    }

    /// Reserves an in-flight slot if fewer than `limit` are taken.
    pub fn try_acquire(self: &Arc<Self>, limit: usize) -> Option<Lease> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Lease {
                backend: Arc::clone(self),
            })
    }
}

/// An in-flight slot on one backend, released on drop so every exit path
/// of a request (success, error, retry elsewhere) gives it back.
#[derive(Debug)]
pub struct Lease {
    backend: Arc<BackendState>,
}

impl Lease {
    /// The backend this slot belongs to.
    pub fn backend(&self) -> &Arc<BackendState> {
        &self.backend
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.backend.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The balancer-wide in-flight counter, shared by all configurations.
#[derive(Debug, Default)]
pub struct TotalInFlight(AtomicUsize);

impl TotalInFlight {
    /// Requests in flight across all backends.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Reserves a slot if fewer than `limit` are taken.
    pub fn try_acquire(self: &Arc<Self>, limit: usize) -> Option<TotalLease> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| TotalLease(Arc::clone(self)))
    }
}

/// A balancer-wide in-flight slot, released on drop.
#[derive(Debug)]
pub struct TotalLease(Arc<TotalInFlight>);

impl Drop for TotalLease {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Arc<BackendState> {
        Arc::new(BackendState::new("127.0.0.1:1".parse().unwrap()))
    }

    #[test]
    fn thresholds_need_consecutive_results() {
        let b = state();
        assert_eq!(b.record_check(false, 2, 2), Transition::None);
        assert_eq!(b.record_check(true, 2, 2), Transition::None);
        assert_eq!(b.record_check(false, 2, 2), Transition::None);
        assert_eq!(b.record_check(false, 2, 2), Transition::Down);
        assert!(!b.is_healthy());
        assert_eq!(b.record_check(true, 2, 2), Transition::None);
        assert_eq!(b.record_check(true, 2, 2), Transition::Up);
    }

    #[test]
    fn leases_respect_limit_and_release() {
        let b = state();
        let l1 = b.try_acquire(2).unwrap();
        let _l2 = b.try_acquire(2).unwrap();
        assert!(b.try_acquire(2).is_none());
        drop(l1);
        assert_eq!(b.in_flight(), 1);
        assert!(b.try_acquire(2).is_some());
    }
}
