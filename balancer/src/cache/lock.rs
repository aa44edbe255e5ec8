//! The cache lock, closed against a race that lets a crowd make a second
//! node request for one object.
//!
//! pingora-cache looks an object up and, on a miss, takes the key's lock in
//! a second step. With the memory store, the writer releases the lock as
//! soon as its (partial) object is readable. A request whose lookup missed
//! just before that, and whose lock attempt comes just after, finds no lock
//! and becomes a second writer: one more node request, seen about once in
//! six crowds of 200 on one segment.
//!
//! So a finished fill leaves a short-lived marker: a lock attempt on that
//! key within [`LINGER`] gets a lock that is already released, which makes
//! pingora look the object up again and find it. A lookup that still finds
//! nothing (the fill failed after the object became readable) gives up
//! caching for that request after pingora's lock retries and goes to a node
//! uncached, which bounds the cost of a failed fill to one linger window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::Extensions;
use pingora_cache::key::CacheHashKey;
use pingora_cache::lock::{CacheKeyLock, CacheLock, LockStatus, LockStub, Locked, WritePermit};
use pingora_cache::CacheKey;

/// How long a finished fill keeps answering lock attempts. The race it
/// closes spans two statements on one thread, so this only has to outlast
/// a thread being descheduled between them.
pub const LINGER: Duration = Duration::from_secs(1);
/// Markers kept before expired ones are swept.
const SWEEP_AT: usize = 4096;

/// A [`CacheLock`] whose released fills linger for [`LINGER`].
pub struct LingeringLock {
    inner: CacheLock,
    done: Mutex<HashMap<u128, (Instant, LockStub)>>,
}

impl std::fmt::Debug for LingeringLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LingeringLock").finish_non_exhaustive()
    }
}

impl LingeringLock {
    /// A lock whose writers are presumed dead after `age_timeout`.
    pub fn new(age_timeout: Duration) -> LingeringLock {
        LingeringLock {
            inner: CacheLock::new(age_timeout),
            done: Mutex::new(HashMap::new()),
        }
    }

    fn slot(key: &CacheKey) -> u128 {
        u128::from_be_bytes(key.combined_bin())
    }

    /// A marker for `slot` if one is still fresh; drops a stale one.
    fn lingering(&self, slot: u128, now: Instant) -> Option<LockStub> {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        match done.get(&slot) {
            Some((at, stub)) if now.duration_since(*at) < LINGER => Some(LockStub(stub.0.clone())),
            Some(_) => {
                done.remove(&slot);
                None
            }
            None => None,
        }
    }
}

impl CacheKeyLock for LingeringLock {
    fn lock(&self, key: &CacheKey, stale_writer: bool) -> Locked {
        // A revalidation of an expired object must get its writer: the
        // marker is only for misses that raced a finished fill.
        if !stale_writer {
            if let Some(stub) = self.lingering(Self::slot(key), Instant::now()) {
                return Locked::Read(stub.read_lock());
            }
        }
        self.inner.lock(key, stale_writer)
    }

    fn release(&self, key: &CacheKey, permit: WritePermit, reason: LockStatus) {
        self.inner.release(key, permit, reason);
        if reason != LockStatus::Done {
            return;
        }
        // A lock that is already released with `Done`: readers given it
        // look the object up again at once.
        let (mut marker, stub) = WritePermit::new(LINGER, false, Extensions::new());
        marker.unlock(LockStatus::Done);
        let now = Instant::now();
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if done.len() >= SWEEP_AT {
            done.retain(|_, (at, _)| now.duration_since(*at) < LINGER);
        }
        done.insert(Self::slot(key), (now, stub));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(lock: &LingeringLock, key: &CacheKey, stale: bool) -> WritePermit {
        match lock.lock(key, stale) {
            Locked::Write(p) => p,
            Locked::Read(_) => panic!("expected to write"),
        }
    }

    #[test]
    fn a_finished_fill_turns_racing_writers_into_readers() {
        let lock = LingeringLock::new(Duration::from_secs(5));
        let key = CacheKey::new("/media/a/v0123456789ab/x.m4s", "");
        let permit = write(&lock, &key, false);
        assert!(!lock.lock(&key, false).is_write(), "fill in progress");
        lock.release(&key, permit, LockStatus::Done);
        match lock.lock(&key, false) {
            Locked::Read(r) => assert_eq!(r.lock_status(), LockStatus::Done),
            Locked::Write(_) => panic!("a miss racing a finished fill must read"),
        }
        // Revalidation and other keys are not affected.
        let p = write(&lock, &key, true);
        lock.release(&key, p, LockStatus::Done);
        let other = CacheKey::new("/media/a/v0123456789ab/y.m4s", "");
        let p = write(&lock, &other, false);
        lock.release(&other, p, LockStatus::GiveUp);
    }

    #[test]
    fn a_failed_fill_leaves_no_marker() {
        let lock = LingeringLock::new(Duration::from_secs(5));
        let key = CacheKey::new("/k", "");
        let permit = write(&lock, &key, false);
        lock.release(&key, permit, LockStatus::GiveUp);
        let p = write(&lock, &key, false);
        lock.release(&key, p, LockStatus::GiveUp);
    }
}
