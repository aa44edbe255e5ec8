//! Live state of one backend: health streaks, passive failure streak and
//! ejection, slow-start ramp, in-flight count and served total. The state
//! outlives configuration reloads so a node keeps its health and counters
//! when the backend list is rewritten around it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwap;

/// Milliseconds on a process-wide monotonic clock; never 0, so 0 can mean
/// "unset" in the atomics below.
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

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
    /// Consecutive failed proxied responses (passive checks).
    failures: AtomicU32,
    /// Ejected from selection until this instant ([`now_ms`]); 0 = not.
    ejected_until: AtomicU64,
    /// Times ejected in a row; lengthens the next ejection.
    ejections: AtomicU32,
    /// When the backend (re-)entered rotation, for the slow-start ramp; 0 = no ramp.
    ramp_from: AtomicU64,
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
    /// the first failing checks take a dead one out. `ramp` starts its
    /// slow-start period now (for backends added by a reload).
    pub fn new(address: SocketAddr, ramp: bool) -> Self {
        BackendState {
            address,
            label: address.to_string(),
            name: ArcSwap::from_pointee(address.to_string()),
            healthy: AtomicBool::new(true),
            ok_streak: AtomicU32::new(0),
            fail_streak: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            ramp_from: AtomicU64::new(if ramp { now_ms() } else { 0 }),
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

    /// Whether the active health check has the backend in rotation.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Whether passive checks have ejected the backend at `now` ([`now_ms`]).
    pub fn is_ejected(&self, now: u64) -> bool {
        self.ejected_until.load(Ordering::Acquire) > now
    }

    /// Share of full traffic the backend takes at `now` during its
    /// slow-start ramp: from 10 % up to 100 % over `ramp_ms`.
    pub fn ramp_factor(&self, now: u64, ramp_ms: u64) -> f64 {
        let from = self.ramp_from.load(Ordering::Relaxed);
        if from == 0 || ramp_ms == 0 {
            return 1.0;
        }
        let elapsed = now.saturating_sub(from);
        if elapsed >= ramp_ms {
            // Settled: later calls skip the arithmetic.
            self.ramp_from.store(0, Ordering::Relaxed);
            return 1.0;
        }
        (elapsed as f64 / ramp_ms as f64).max(0.1)
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
    /// compare-and-swap loop. Entering rotation starts the slow-start ramp.
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
                // Back from a real outage: a passive ejection from before it
                // no longer says anything; the ramp protects it instead.
                self.ejected_until.store(0, Ordering::Release);
                self.ejections.store(0, Ordering::Relaxed);
                self.failures.store(0, Ordering::Relaxed);
                self.ramp_from.store(now_ms(), Ordering::Relaxed);
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

    /// Records a proxied response that went well: clears the failure streak.
    pub fn record_success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.ejections.load(Ordering::Relaxed) != 0 && !self.is_ejected(now_ms()) {
            self.ejections.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failed proxied response (gateway error, reset or timeout)
    /// and returns the failure streak so far.
    pub fn record_failure(&self) -> u32 {
        self.failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1)
    }

    /// Takes the backend out of selection for `base_ms` times the number of
    /// ejections in a row (capped at 8×), starting a ramp when it returns.
    /// Returns false if another request ejected it first.
    pub fn eject(&self, now: u64, base_ms: u64) -> bool {
        let n = self
            .ejections
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let until = now + base_ms.saturating_mul(u64::from(n.min(8)));
        let prev = self.ejected_until.swap(until, Ordering::AcqRel);
        self.failures.store(0, Ordering::Relaxed);
        self.ramp_from.store(until, Ordering::Relaxed);
        prev <= now
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
        Arc::new(BackendState::new("127.0.0.1:1".parse().unwrap(), false))
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

    #[test]
    fn recovery_ramps_up() {
        let b = state();
        assert_eq!(b.ramp_factor(now_ms(), 10_000), 1.0);
        b.record_check(false, 1, 1);
        b.record_check(true, 1, 1);
        let now = now_ms();
        let f = b.ramp_factor(now, 10_000);
        assert!((0.1..0.2).contains(&f), "{f}");
        assert!((b.ramp_factor(now + 5_000, 10_000) - 0.5).abs() < 0.01);
        assert_eq!(b.ramp_factor(now + 10_001, 10_000), 1.0);
    }

    #[test]
    fn ejection_grows_and_expires() {
        let b = state();
        let now = now_ms();
        assert!(b.eject(now, 1000));
        assert!(b.is_ejected(now + 999));
        assert!(!b.is_ejected(now + 1000));
        assert!(b.eject(now + 1000, 1000));
        assert!(b.is_ejected(now + 2999));
    }
}
