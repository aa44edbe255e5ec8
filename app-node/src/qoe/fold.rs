//! How reports change a session. A report closes the interval since the
//! previous one, which is credited to the state the player was in (playing,
//! stalled, …), then moves the session to the state it reports.
//!
//! Reports are applied in sequence-number order; one that arrives after a
//! later one was applied (or twice, when a player retries a send) is skipped,
//! so a retry never counts twice.

use super::cmcd::{PlayerState, Report};
use crate::catalog::QoeSession;

/// Longest interval credited between two reports. Players report at least
/// every 10 s while playing; a longer gap is a sleeping tab or a lost
/// report, not minutes of viewing.
pub const MAX_GAP_MS: i64 = 60_000;
/// Longest startup believed; beyond it the viewer most likely left the tab.
pub const MAX_STARTUP_MS: i64 = 300_000;
/// Viewing time a fold may credit beyond the time that passed on the node's
/// clock since the session's last fold: a report is delayed by the network
/// and the player's queue, and nodes' clocks differ a little.
pub const CLOCK_SLACK_MS: i64 = 5_000;
/// The custom event (`cen`) our player sends when the viewer leaves the
/// page.
pub const LEAVE_EVENT: &str = "leave";

/// What folding some reports changed, for the node's metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// Reports applied.
    pub applied: u64,
    /// Reports skipped: duplicates, out of order, or of another video.
    pub stale: u64,
    /// Sessions seen for the first time.
    pub new_sessions: u64,
    /// Startup times found, milliseconds.
    pub startups_ms: Vec<i64>,
    /// Stalls begun.
    pub rebuffers: i64,
    /// Milliseconds stalled.
    pub rebuffer_ms: i64,
    /// Milliseconds played.
    pub played_ms: i64,
    /// Kilobits of media played.
    pub played_kbit: f64,
    /// Sessions that hit their first fatal error.
    pub failures: u64,
}

impl Delta {
    /// Adds another delta to this one.
    pub fn add(&mut self, o: Delta) {
        self.applied += o.applied;
        self.stale += o.stale;
        self.new_sessions += o.new_sessions;
        self.startups_ms.extend(o.startups_ms);
        self.rebuffers += o.rebuffers;
        self.rebuffer_ms += o.rebuffer_ms;
        self.played_ms += o.played_ms;
        self.played_kbit += o.played_kbit;
        self.failures += o.failures;
    }
}

/// A session as its first report opens it, at `now_ms` on the node's
/// clock: nothing credited yet.
pub fn open(first: &Report, now_ms: i64) -> QoeSession {
    QoeSession {
        sid: first.sid.clone(),
        video_id: first.cid.clone(),
        last_sn: -1,
        last_ts: first.ts,
        seen_ms: now_ms,
        last_state: PlayerState::Preloading.token().to_string(),
        bitrate_kbps: 0.0,
        started_ts: None,
        startup_ms: None,
        rebuffers: 0,
        rebuffer_ms: 0,
        played_ms: 0,
        played_kbit: 0.0,
        seek_wait: false,
        failed: false,
    }
}

/// Applies `reports` (all of this session, any order) to `s`, at `now_ms`
/// on the node's clock.
pub fn fold(s: &mut QoeSession, reports: &[&Report], now_ms: i64) -> Delta {
    let mut sorted: Vec<&Report> = reports.to_vec();
    sorted.sort_by_key(|r| r.sn);
    let mut d = Delta::default();
    // However the player's clock runs, a session gains no more time than
    // passed here (plus a little): made-up reports cannot add hours.
    let mut budget = (now_ms - s.seen_ms).max(0) + CLOCK_SLACK_MS;
    for r in sorted {
        if r.sn <= s.last_sn {
            d.stale += 1;
            continue;
        }
        apply(s, r, &mut budget, &mut d);
        d.applied += 1;
    }
    if d.applied > 0 {
        s.seen_ms = s.seen_ms.max(now_ms);
    }
    d
}

/// Whether writing `after` over `before` would change anything that counts:
/// only the last report's number and time moved, in a state that credits
/// nothing (so the next interval measured from the older time credits
/// nothing either). Such folds are not written, which spares the database
/// the reports of paused and idle players.
pub fn worth_writing(before: &QoeSession, after: &QoeSession) -> bool {
    let idle = match PlayerState::parse(&after.last_state) {
        Some(PlayerState::Playing) => false,
        Some(PlayerState::Rebuffering) => after.seek_wait,
        _ => true,
    };
    let same = QoeSession {
        last_sn: before.last_sn,
        last_ts: before.last_ts,
        seen_ms: before.seen_ms,
        ..after.clone()
    } == *before;
    !(idle && same && before.last_state == after.last_state)
}

fn apply(s: &mut QoeSession, r: &Report, budget: &mut i64, d: &mut Delta) {
    let before = PlayerState::parse(&s.last_state).unwrap_or(PlayerState::Preloading);
    // A clock that went backwards credits nothing for that step.
    let dt = (r.ts - s.last_ts).clamp(0, MAX_GAP_MS).min(*budget);
    match before {
        PlayerState::Playing => {
            *budget -= dt;
            s.played_ms += dt;
            d.played_ms += dt;
            #[allow(clippy::cast_precision_loss)]
            let kbit = s.bitrate_kbps * dt as f64 / 1000.0;
            s.played_kbit += kbit;
            d.played_kbit += kbit;
        }
        PlayerState::Rebuffering if !s.seek_wait => {
            *budget -= dt;
            s.rebuffer_ms += dt;
            d.rebuffer_ms += dt;
        }
        _ => {}
    }
    let after = if r.custom_event.as_deref() == Some(LEAVE_EVENT) {
        PlayerState::Quit
    } else {
        r.state.unwrap_or(before)
    };
    match after {
        // Each request to play before the first frame starts the clock
        // again: a viewer who pressed play, paused and came back later did
        // not wait all that time.
        PlayerState::Starting if s.startup_ms.is_none() && before != PlayerState::Starting => {
            s.started_ts = Some(r.ts);
        }
        PlayerState::Playing => {
            if let (None, Some(start)) = (s.startup_ms, s.started_ts) {
                let ms = (r.ts - start).clamp(0, MAX_STARTUP_MS);
                s.startup_ms = Some(ms);
                d.startups_ms.push(ms);
            }
        }
        PlayerState::Rebuffering if before != PlayerState::Rebuffering => {
            // The wait that follows a seek is the seek's, not a stall.
            s.seek_wait = before == PlayerState::Seeking;
            if !s.seek_wait {
                s.rebuffers += 1;
                d.rebuffers += 1;
            }
        }
        _ => {}
    }
    if after != PlayerState::Rebuffering {
        s.seek_wait = false;
    }
    let fatal = after == PlayerState::Fatal || r.event == "e";
    if fatal && !s.failed {
        s.failed = true;
        d.failures += 1;
    }
    if let Some(br) = r.bitrate_kbps {
        s.bitrate_kbps = br;
    }
    s.last_state = after.token().to_string();
    s.last_ts = r.ts;
    s.last_sn = r.sn;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sn: i64, ts: i64, sta: Option<&str>, br: Option<f64>) -> Report {
        Report {
            sid: "s1".into(),
            cid: "0123456789abcdef".into(),
            event: if sta.is_some() { "ps" } else { "t" }.into(),
            ts,
            sn,
            state: sta.map(|t| PlayerState::parse(t).unwrap()),
            bitrate_kbps: br,
            custom_event: None,
        }
    }

    /// Node clock far enough on that only the player's times count.
    const LATER: i64 = 10_000_000;

    fn run(reports: &[Report]) -> (QoeSession, Delta) {
        let mut s = open(&reports[0], 0);
        let refs: Vec<&Report> = reports.iter().collect();
        let d = fold(&mut s, &refs, LATER);
        (s, d)
    }

    #[test]
    fn startup_play_stall_and_bitrate() {
        let (s, d) = run(&[
            r(0, 1_000, Some("d"), None),
            r(1, 2_000, Some("s"), Some(3000.0)),
            r(2, 2_250, Some("p"), None),
            r(3, 12_250, None, Some(1000.0)), // 10 s at 3000 kbit/s
            r(4, 17_250, Some("r"), None),    // 5 s at 1000 kbit/s
            r(5, 18_750, Some("p"), None),    // a 1.5 s stall
            r(6, 20_750, Some("a"), None),    // 2 s more at 1000
            r(7, 80_000, Some("p"), None),    // paused: nothing credited
        ]);
        assert_eq!(s.startup_ms, Some(250));
        assert_eq!(d.startups_ms, vec![250]);
        assert_eq!(s.played_ms, 17_000);
        assert!((s.played_kbit - (30_000.0 + 5_000.0 + 2_000.0)).abs() < 1e-6);
        assert_eq!((s.rebuffers, s.rebuffer_ms), (1, 1_500));
        assert_eq!(
            (d.rebuffers, d.rebuffer_ms, d.played_ms),
            (1, 1_500, 17_000)
        );
        assert_eq!(s.last_state, "p");
        assert_eq!(s.last_sn, 7);
        assert!(!s.failed);
    }

    #[test]
    fn waits_after_a_seek_are_not_stalls() {
        let (s, _) = run(&[
            r(0, 0, Some("s"), Some(500.0)),
            r(1, 100, Some("p"), None),
            r(2, 1_100, Some("k"), None),
            r(3, 1_150, Some("r"), None),
            r(4, 2_150, Some("p"), None),
        ]);
        assert_eq!((s.rebuffers, s.rebuffer_ms), (0, 0));
        assert_eq!(s.played_ms, 1_000);
    }

    #[test]
    fn duplicates_and_late_reports_are_skipped_and_order_within_a_batch_is_fixed() {
        let reports = [
            r(2, 1_250, Some("p"), None),
            r(0, 0, Some("d"), None),
            r(1, 1_000, Some("s"), Some(800.0)),
        ];
        let (mut s, d) = run(&reports);
        assert_eq!((d.applied, d.stale), (3, 0));
        assert_eq!(s.startup_ms, Some(250));
        // A retried send of the same reports changes nothing.
        let again: Vec<&Report> = reports.iter().collect();
        let d2 = fold(&mut s, &again, LATER + 1);
        assert_eq!((d2.applied, d2.stale), (0, 3));
        assert_eq!(d2.played_ms, 0);
    }

    #[test]
    fn gaps_are_capped_and_a_clock_going_back_loses_one_step_only() {
        let (s, _) = run(&[
            r(0, 1, Some("s"), Some(1000.0)),
            r(1, 10, Some("p"), None),
            r(2, 10 + 3_600_000, None, None),
            r(3, 5, None, None),
            r(4, 1_005, None, None),
        ]);
        assert_eq!(s.played_ms, MAX_GAP_MS + 1_000);
        assert_eq!(s.last_ts, 1_005);
    }

    #[test]
    fn no_more_time_is_credited_than_passed_on_the_node() {
        // Ten reports claiming ten minutes of play, all arriving within one
        // second of the session's first fold.
        let mut reports = vec![r(0, 1, Some("s"), Some(1000.0)), r(1, 2, Some("p"), None)];
        reports.extend((2..12).map(|n| r(n, n * 60_000, None, None)));
        let mut s = open(&reports[0], 0);
        let refs: Vec<&Report> = reports.iter().collect();
        let d = fold(&mut s, &refs, 1_000);
        assert_eq!(d.applied, 12);
        assert_eq!(s.played_ms, 1_000 + CLOCK_SLACK_MS);
        assert_eq!(s.seen_ms, 1_000);
    }

    #[test]
    fn startup_counts_from_the_last_request_to_play() {
        let (s, _) = run(&[
            r(0, 1_000, Some("s"), None),
            r(1, 2_000, Some("a"), None),
            r(2, 90_000, Some("s"), None),
            r(3, 90_300, Some("p"), None),
        ]);
        assert_eq!(s.startup_ms, Some(300));
    }

    #[test]
    fn leaving_ends_the_playing_interval() {
        let mut leave = r(3, 5_000, Some("p"), None);
        leave.event = "ce".into();
        leave.custom_event = Some(LEAVE_EVENT.into());
        let (s, _) = run(&[
            r(0, 1, Some("s"), Some(1000.0)),
            r(1, 1_000, Some("p"), None),
            r(2, 3_000, None, None),
            leave,
            // Back from the page cache: the time away is not viewing.
            r(4, 50_000, Some("p"), None),
            r(5, 51_000, None, None),
        ]);
        assert_eq!(s.played_ms, 4_000 + 1_000);
    }

    #[test]
    fn idle_reports_are_not_worth_a_write() {
        let (s, _) = run(&[
            r(0, 1, Some("s"), None),
            r(1, 500, Some("p"), None),
            r(2, 900, Some("a"), None),
        ]);
        let mut later = s.clone();
        let refs = [r(3, 10_900, None, None)];
        fold(&mut later, &refs.iter().collect::<Vec<_>>(), LATER + 10_000);
        assert!(!worth_writing(&s, &later), "a paused player's timer report");
        let mut resumed = s.clone();
        let refs = [r(3, 10_900, Some("p"), None)];
        fold(
            &mut resumed,
            &refs.iter().collect::<Vec<_>>(),
            LATER + 10_000,
        );
        assert!(worth_writing(&s, &resumed), "a change of state");
        let mut playing = resumed.clone();
        let refs = [r(4, 20_900, None, None)];
        fold(
            &mut playing,
            &refs.iter().collect::<Vec<_>>(),
            LATER + 20_000,
        );
        assert!(worth_writing(&resumed, &playing), "time played");
    }

    #[test]
    fn a_fatal_error_fails_the_session_once() {
        let mut reports = vec![r(0, 0, Some("s"), None), r(1, 10, Some("f"), None)];
        let mut err = r(2, 20, None, None);
        err.event = "e".into();
        reports.push(err);
        let (s, d) = run(&reports);
        assert!(s.failed);
        assert_eq!(d.failures, 1);
        assert_eq!(s.startup_ms, None);
    }
}
