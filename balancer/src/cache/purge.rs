//! Purges by video: deleting a video must stop the cache from serving any
//! of its files at once. The memory store cannot list keys by prefix, so
//! instead the time of the purge is recorded per video and every cache hit
//! made before that time is treated as a miss (and then fetched from a node,
//! which answers 404 for a deleted video).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// Purge times are dropped after this long: no object is stored for longer
/// (`policy::MAX_TTL`), so none stored before a forgotten purge remains.
/// Bounds the table's memory.
const KEEP: Duration = super::policy::MAX_TTL;
/// Hard cap on remembered purges.
const MAX_ENTRIES: usize = 100_000;

/// Per-video purge times.
#[derive(Debug, Default)]
pub struct Purges {
    at: RwLock<HashMap<String, SystemTime>>,
}

impl Purges {
    /// Records a purge of every cached file of `video`, effective now.
    pub fn purge(&self, video: &str) {
        let now = SystemTime::now();
        let mut at = self.at.write().unwrap_or_else(|e| e.into_inner());
        if at.len() >= MAX_ENTRIES {
            at.retain(|_, t| now.duration_since(*t).unwrap_or_default() < KEEP);
            if at.len() >= MAX_ENTRIES {
                // Drop the oldest half rather than refuse a purge.
                let mut times: Vec<SystemTime> = at.values().copied().collect();
                times.sort();
                let cut = times[times.len() / 2];
                at.retain(|_, t| *t > cut);
            }
        }
        at.insert(video.to_string(), now);
    }

    /// Whether an object of `video` stored at `created` was purged since.
    pub fn is_purged(&self, video: &str, created: SystemTime) -> bool {
        let at = self.at.read().unwrap_or_else(|e| e.into_inner());
        at.get(video).is_some_and(|t| created <= *t)
    }

    /// Videos with a purge on record.
    pub fn len(&self) -> usize {
        self.at.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no purge is on record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_stored_before_the_purge() {
        let p = Purges::default();
        let before = SystemTime::now() - Duration::from_secs(1);
        p.purge("a");
        assert!(p.is_purged("a", before));
        assert!(!p.is_purged("b", before));
        assert!(!p.is_purged("a", SystemTime::now() + Duration::from_secs(1)));
    }
}
