//! Viewer sessions as their players report them, independent of the SQL
//! backend. How reports change a session is decided above the catalog (in
//! `crate::qoe`); the catalog only stores the result.

/// One viewer session: where the last folded report left it, and its
/// running totals.
#[derive(Debug, Clone, PartialEq)]
pub struct QoeSession {
    /// The player's session id (CMCD `sid`).
    pub sid: String,
    /// The video watched (CMCD `cid`).
    pub video_id: String,
    /// Sequence number of the last report folded in.
    pub last_sn: i64,
    /// Player's clock at the last report, Unix milliseconds.
    pub last_ts: i64,
    /// The folding node's clock when the last report was folded, Unix
    /// milliseconds: no more viewing time is credited between two folds
    /// than passed in between.
    pub seen_ms: i64,
    /// Player state since the last report (a CMCD `sta` token).
    pub last_state: String,
    /// Encoded bitrate of the rung playing since the last report, kbit/s.
    pub bitrate_kbps: f64,
    /// When the viewer asked to play (player's clock), once known.
    pub started_ts: Option<i64>,
    /// Milliseconds from the request to play until the first frame played.
    pub startup_ms: Option<i64>,
    /// Times playback stalled for want of data after it had started
    /// (waits right after a seek are not counted).
    pub rebuffers: i64,
    /// Milliseconds spent in those stalls.
    pub rebuffer_ms: i64,
    /// Milliseconds spent playing.
    pub played_ms: i64,
    /// Kilobits of media played, at the playing rung's encoded bitrate.
    pub played_kbit: f64,
    /// Whether the current wait began with a seek.
    pub seek_wait: bool,
    /// Whether the player reported a fatal error (it may have recovered
    /// since: see `last_state`).
    pub failed: bool,
}
