//! `[cache]`: the edge cache of immutable media in front of the nodes.

use serde::{Deserialize, Serialize};

use super::{at_least, ConfigError};

/// Edge cache settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Whether media is cached at all.
    pub enabled: bool,
    /// Memory budget for cached bodies and headers; least recently used
    /// objects are evicted beyond it. Fixed at start.
    pub max_bytes: u64,
    /// Larger responses are passed through and not kept.
    pub max_object_bytes: u64,
    /// Longest time a request waits for another request's fetch of the
    /// same object before fetching it itself.
    pub lock_timeout_ms: u64,
    /// Cap on how long a playlist is kept, whatever its `max-age`.
    pub playlist_max_age_s: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_bytes: 256 * 1024 * 1024,
            max_object_bytes: 32 * 1024 * 1024,
            lock_timeout_ms: 5000,
            playlist_max_age_s: 2,
        }
    }
}

impl CacheConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least("cache.max_bytes", self.max_bytes, 1024 * 1024)?;
        at_least("cache.max_object_bytes", self.max_object_bytes, 1024)?;
        if self.max_object_bytes > self.max_bytes {
            return Err(ConfigError::invalid(
                "cache.max_object_bytes",
                "must not exceed cache.max_bytes",
            ));
        }
        at_least("cache.lock_timeout_ms", self.lock_timeout_ms, 1)?;
        Ok(())
    }
}
