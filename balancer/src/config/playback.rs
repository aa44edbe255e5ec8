//! `[playback]`: the keys that check signed playback URLs of private
//! videos before the edge cache.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Signed playback settings.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaybackConfig {
    /// The nodes' `playback.keys`, `id1:base64secret,id2:…` (every listed
    /// key verifies). A secret: read only from `REEL_PLAYBACK__KEYS`.
    /// Empty: the balancer cannot check tokens, so it passes `/v/…`
    /// requests to the nodes (which check them) and never caches them.
    pub keys: String,
}

impl std::fmt::Debug for PlaybackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: the secrets never reach a log.
        f.debug_struct("PlaybackConfig")
            .field("keys", &self.parsed())
            .finish()
    }
}

impl PlaybackConfig {
    /// The parsed keys (validated at load, so a failure here is empty).
    pub fn parsed(&self) -> reel_playback::Keys {
        reel_playback::Keys::parse(&self.keys).unwrap_or_default()
    }

    /// Checks the key list.
    pub fn validate(&self) -> Result<(), ConfigError> {
        reel_playback::Keys::parse(&self.keys)
            .map(|_| ())
            .map_err(|e| ConfigError::invalid("playback.keys", e.to_string()))
    }
}
