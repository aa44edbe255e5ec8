//! The visibility of videos as `/media` needs it on every request, kept
//! for a moment.
//!
//! Plain media of a private video is refused, so every `/media` request
//! asks the catalog for its video's visibility; without this copy that is
//! one catalog round trip per segment (measured at about 60 µs on SQLite
//! in a debug build, more over a network to PostgreSQL or MySQL). A crowd
//! asks about the same few videos, so each node keeps the answer for
//! `http.visibility_cache_ms` (1 s by default; 0 asks every time).
//!
//! The node that changes a visibility forgets its own copy at once; other
//! nodes may answer from theirs until it expires. A video made private
//! is therefore refused everywhere within that time, and the balancers'
//! caches are purged once more after it (see `api::forget_public_copies`),
//! so nothing a node served meanwhile stays cached.

use std::time::Duration;

use super::error::ApiError;
use crate::catalog::Visibility;
use crate::state::AppState;

/// Most videos kept at once.
const CAPACITY: u64 = 100_000;

/// The node's kept visibilities; cheap to clone.
#[derive(Clone)]
pub struct VisibilityCache {
    kept: Option<moka::future::Cache<String, Visibility>>,
}

impl VisibilityCache {
    /// Keeps answers for `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        let kept = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build()
        });
        VisibilityCache { kept }
    }

    /// The visibility of video `id`, `None` if it does not exist (never
    /// kept: ids nobody issued must not fill the cache).
    pub async fn get(&self, state: &AppState, id: &str) -> Result<Option<Visibility>, ApiError> {
        if let Some(c) = &self.kept {
            if let Some(v) = c.get(id).await {
                return Ok(Some(v));
            }
        }
        let found = state.catalog.videos.access(id).await?.map(|(_, v)| v);
        if let (Some(c), Some(v)) = (&self.kept, found) {
            c.insert(id.to_string(), v).await;
        }
        Ok(found)
    }

    /// Forgets what is kept for `id`: its visibility just changed here.
    pub async fn forget(&self, id: &str) {
        if let Some(c) = &self.kept {
            c.invalidate(id).await;
        }
    }
}
