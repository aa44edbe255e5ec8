//! `[outlier]` and `[admission]`: passive ejection of failing nodes, and
//! who gets in when the cluster is full.

use serde::{Deserialize, Serialize};

use super::{at_least, ConfigError};

/// Passive checks on proxied responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    /// Gateway failures in a row (reset, timeout, 502/504) that eject
    /// a node; 0 turns ejection off.
    pub consecutive_failures: u32,
    /// First ejection length; each further ejection in a row adds as much
    /// again (up to 8×).
    pub eject_s: u64,
    /// Never eject more than this share of the nodes at once.
    pub max_ejected_pct: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            eject_s: 10,
            max_ejected_pct: 50,
        }
    }
}

impl OutlierConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least("outlier.eject_s", self.eject_s, 1)?;
        if self.max_ejected_pct > 100 {
            return Err(ConfigError::invalid(
                "outlier.max_ejected_pct",
                format!("must be at most 100, got {}", self.max_ejected_pct),
            ));
        }
        Ok(())
    }
}

/// Playback-aware admission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    /// Share of the in-flight limits kept for viewers already watching:
    /// new sessions (pages, master playlists, API) are refused once the
    /// rest is in use.
    pub playback_reserve_pct: u32,
    /// How long an admitted viewer keeps priority after its last
    /// admitted request (the admission cookie's lifetime, renewed on use).
    pub session_ttl_s: u64,
    /// At most this many sessions admitted at once (0 = no budget); new
    /// ones get the fast 503 beyond it. Size it from measured capacity.
    pub max_sessions: usize,
    /// A session counts against `max_sessions` while it has fetched
    /// within this many seconds.
    pub session_idle_s: u64,
    /// Key for the admission cookie's signature; environment only
    /// (`REEL_ADMISSION__SECRET`). Empty: a random key per process.
    #[serde(skip_serializing)]
    pub secret: String,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            playback_reserve_pct: 20,
            session_ttl_s: 600,
            max_sessions: 0,
            session_idle_s: 60,
            secret: String::new(),
        }
    }
}

impl AdmissionConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.playback_reserve_pct > 90 {
            return Err(ConfigError::invalid(
                "admission.playback_reserve_pct",
                format!("must be at most 90, got {}", self.playback_reserve_pct),
            ));
        }
        at_least("admission.session_ttl_s", self.session_ttl_s, 10)?;
        at_least("admission.session_idle_s", self.session_idle_s, 5)?;
        Ok(())
    }
}
