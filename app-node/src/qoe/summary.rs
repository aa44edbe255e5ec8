//! One video's viewer experience in a few numbers, from its stored sessions.

use serde::Serialize;

use crate::catalog::QoeSession;

/// Startup time percentiles, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Startup {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Mean.
    pub mean: f64,
}

/// The answer of `GET /api/videos/{id}/qoe`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// The video.
    pub video_id: String,
    /// Sessions counted (the newest ones, up to the limit).
    pub sessions: u64,
    /// Sessions that showed a first frame.
    pub plays: u64,
    /// Sessions stopped by a fatal error.
    pub failures: u64,
    /// Sessions that asked to play, then ended without a frame or an error.
    pub exits_before_start: u64,
    /// Time from the request to play until the first frame.
    pub startup_s: Option<Startup>,
    /// Seconds of playback over all sessions.
    pub played_s: f64,
    /// Stalls after playback started (waits after seeks excluded).
    pub rebuffers: i64,
    /// Seconds stalled.
    pub rebuffer_s: f64,
    /// Stalls per minute of playback.
    pub rebuffers_per_minute: Option<f64>,
    /// Seconds stalled per minute of playback.
    pub rebuffer_s_per_minute: Option<f64>,
    /// Average encoded bitrate of what was played, kbit/s, weighted by time.
    pub average_bitrate_kbps: Option<f64>,
}

/// The value at fraction `q` of sorted `v` (nearest rank).
fn percentile(v: &[f64], q: f64) -> f64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Sums up `sessions` of `video_id`.
#[allow(clippy::cast_precision_loss)]
pub fn summarize(video_id: &str, sessions: &[QoeSession]) -> Summary {
    let mut startups: Vec<f64> = sessions
        .iter()
        .filter_map(|s| s.startup_ms)
        .map(|ms| ms as f64 / 1000.0)
        .collect();
    startups.sort_by(f64::total_cmp);
    let played_ms: i64 = sessions.iter().map(|s| s.played_ms).sum();
    let played_kbit: f64 = sessions.iter().map(|s| s.played_kbit).sum();
    let rebuffers: i64 = sessions.iter().map(|s| s.rebuffers).sum();
    let rebuffer_ms: i64 = sessions.iter().map(|s| s.rebuffer_ms).sum();
    let minutes = played_ms as f64 / 60_000.0;
    let count = |f: &dyn Fn(&QoeSession) -> bool| sessions.iter().filter(|s| f(s)).count() as u64;
    Summary {
        video_id: video_id.to_string(),
        sessions: sessions.len() as u64,
        plays: count(&|s| s.startup_ms.is_some() || s.played_ms > 0),
        failures: count(&|s| s.failed),
        exits_before_start: count(&|s| {
            s.started_ts.is_some() && s.startup_ms.is_none() && s.played_ms == 0 && !s.failed
        }),
        startup_s: (!startups.is_empty()).then(|| Startup {
            p50: percentile(&startups, 0.5),
            p95: percentile(&startups, 0.95),
            mean: startups.iter().sum::<f64>() / startups.len() as f64,
        }),
        played_s: played_ms as f64 / 1000.0,
        rebuffers,
        rebuffer_s: rebuffer_ms as f64 / 1000.0,
        rebuffers_per_minute: (minutes > 0.0).then(|| rebuffers as f64 / minutes),
        rebuffer_s_per_minute: (minutes > 0.0).then(|| rebuffer_ms as f64 / 1000.0 / minutes),
        average_bitrate_kbps: (played_ms > 0).then(|| played_kbit / (played_ms as f64 / 1000.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(startup: Option<i64>, played_ms: i64, kbit: f64) -> QoeSession {
        QoeSession {
            sid: "s".into(),
            video_id: "v".into(),
            last_sn: 0,
            last_ts: 0,
            seen_ms: 0,
            last_state: "p".into(),
            bitrate_kbps: 0.0,
            started_ts: Some(0),
            startup_ms: startup,
            rebuffers: 1,
            rebuffer_ms: 500,
            played_ms,
            played_kbit: kbit,
            seek_wait: false,
            failed: false,
        }
    }

    #[test]
    fn sums_and_percentiles() {
        let mut v: Vec<QoeSession> = (1..=20)
            .map(|i| session(Some(i * 100), 30_000, 30.0 * 2000.0))
            .collect();
        v.push(session(None, 0, 0.0));
        let s = summarize("v", &v);
        assert_eq!((s.sessions, s.plays, s.exits_before_start), (21, 20, 1));
        let st = s.startup_s.unwrap();
        assert!(
            (st.p50 - 1.0).abs() < 1e-9 && (st.p95 - 1.9).abs() < 1e-9,
            "{st:?}"
        );
        assert!((st.mean - 1.05).abs() < 1e-9);
        assert_eq!(s.played_s, 600.0);
        assert_eq!(s.rebuffers, 21);
        assert!((s.rebuffers_per_minute.unwrap() - 2.1).abs() < 1e-9);
        assert!((s.average_bitrate_kbps.unwrap() - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_played_gives_no_rates() {
        let s = summarize("v", &[]);
        assert_eq!(s.sessions, 0);
        assert!(s.startup_s.is_none() && s.average_bitrate_kbps.is_none());
        assert!(s.rebuffers_per_minute.is_none());
    }
}
