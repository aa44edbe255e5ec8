//! The edge cache: immutable media kept in memory by the balancer, so a
//! crowd watching one video costs the nodes one request per file.
//!
//! Built on pingora-cache: its memory store, an LRU eviction manager with a
//! byte budget, and its cache lock, which makes concurrent misses for one
//! object wait for a single node fetch (bounded by `cache.lock_timeout_ms`)
//! and then read the stored object, even while it is still arriving
//! (wrapped in [`lock::LingeringLock`] to close a race in that hand-over).
//!
//! pingora-cache's memory store is a plain hash map under a lock (its own
//! documentation calls it a test store); it is used here with the LRU
//! manager bounding its size. A store built for production load (sharded,
//! or on disk) would plug in through the same `Storage` trait.

pub mod lock;
pub mod policy;
pub mod purge;

use std::time::Duration;

use pingora_cache::eviction::lru::Manager;
use pingora_cache::eviction::EvictionManager;
use pingora_cache::lock::CacheKeyLockImpl;
use pingora_cache::{CacheOptionOverrides, HttpCache, MemCache};

use crate::config::CacheConfig;
use lock::LingeringLock;
use purge::Purges;

/// How a cacheable request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// Served from the cache.
    Hit,
    /// Fetched from a node (and stored if it could be).
    Miss,
    /// Waited for another request's fetch of the same object and was
    /// served from it: one node request for many viewers.
    Coalesced,
}

impl CacheResult {
    /// The access log spelling.
    pub fn log_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "HIT",
            CacheResult::Miss => "MISS",
            CacheResult::Coalesced => "COALESCED",
        }
    }

    /// The metrics `result` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Coalesced => "coalesced",
        }
    }
}

/// LRU shards: spreads lock contention across proxy threads.
const SHARDS: usize = 16;
/// Typical object size used to pre-size the LRU tables.
const TYPICAL_OBJECT: u64 = 256 * 1024;

/// The process-wide cache parts. pingora-cache takes them as `&'static`,
/// so they are created once at start and live until the process ends.
pub struct EdgeCache {
    storage: &'static MemCache,
    eviction: &'static Manager<SHARDS>,
    lock: &'static CacheKeyLockImpl,
    /// Per-video purge times.
    pub purges: Purges,
    lock_timeout: Duration,
    max_object_bytes: usize,
    /// Cap on playlist lifetimes.
    pub playlist_cap: Duration,
}

impl std::fmt::Debug for EdgeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeCache")
            .field("bytes", &self.bytes())
            .field("purges", &self.purges.len())
            .finish()
    }
}

impl EdgeCache {
    /// Creates the cache parts for `config`. Its budget is fixed for the
    /// life of the process.
    pub fn new(config: &CacheConfig) -> EdgeCache {
        let budget = usize::try_from(config.max_bytes).unwrap_or(usize::MAX);
        let items = (config.max_bytes / TYPICAL_OBJECT).max(1024) as usize;
        // Readers waiting on a fetch give up after the lock timeout; a
        // writer holding the lock longer than twice that is presumed dead.
        let lock_timeout = Duration::from_millis(config.lock_timeout_ms);
        let lock: Box<CacheKeyLockImpl> = Box::new(LingeringLock::new(lock_timeout * 2));
        EdgeCache {
            storage: Box::leak(Box::new(MemCache::new())),
            eviction: Box::leak(Box::new(Manager::with_capacity(budget, items))),
            lock: Box::leak(lock),
            purges: Purges::default(),
            lock_timeout,
            max_object_bytes: usize::try_from(config.max_object_bytes).unwrap_or(usize::MAX),
            playlist_cap: Duration::from_secs(config.playlist_max_age_s),
        }
    }

    /// Turns caching on for one request.
    pub fn enable(&self, cache: &mut HttpCache) {
        let mut overrides = CacheOptionOverrides::default();
        overrides.wait_timeout = Some(self.lock_timeout);
        overrides.max_lock_retries = Some(2);
        cache.enable(
            self.storage,
            Some(self.eviction),
            None,
            Some(self.lock),
            Some(overrides),
        );
        cache.set_max_file_size_bytes(self.max_object_bytes);
    }

    /// Bytes held, as the eviction manager counts them.
    pub fn bytes(&self) -> u64 {
        self.eviction.total_size() as u64
    }
}
