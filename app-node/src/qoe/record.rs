//! Folding a body's reports into the stored sessions, one session at a
//! time, without locks: read, fold, write back only if nobody else wrote
//! since the read, else read again.

use std::collections::BTreeMap;

use super::cmcd::Report;
use super::fold::{fold, open, Delta};
use crate::catalog::{CatalogError, Qoe, Result};

/// Read-fold-write rounds before a session's reports are given up on (only
/// reached when several nodes fold the same session at the same moment,
/// over and over).
const ROUNDS: usize = 5;

/// Folds `reports` into their sessions. A report naming another video than
/// its session's first one is skipped as stale. `NotFound` means a new
/// session named a video that does not exist.
pub async fn record(store: &dyn Qoe, reports: &[Report]) -> Result<Delta> {
    let mut by_sid: BTreeMap<&str, Vec<&Report>> = BTreeMap::new();
    for r in reports {
        by_sid.entry(r.sid.as_str()).or_default().push(r);
    }
    let mut total = Delta::default();
    for (sid, mut mine) in by_sid {
        mine.sort_by_key(|r| r.sn);
        total.add(record_session(store, sid, &mine).await?);
    }
    Ok(total)
}

async fn record_session(store: &dyn Qoe, sid: &str, reports: &[&Report]) -> Result<Delta> {
    for _ in 0..ROUNDS {
        match store.qoe_session(sid).await? {
            Some(mut s) => {
                let (same, other): (Vec<&Report>, Vec<&Report>) =
                    reports.iter().partition(|r| r.cid == s.video_id);
                let expected = s.last_sn;
                let mut d = fold(&mut s, &same);
                d.stale += other.len() as u64;
                if d.applied == 0 || store.update_qoe_session(&s, expected).await? {
                    return Ok(d);
                }
            }
            None => {
                let first = reports[0];
                let mut s = open(first);
                let same: Vec<&Report> = reports
                    .iter()
                    .copied()
                    .filter(|r| r.cid == first.cid)
                    .collect();
                let mut d = fold(&mut s, &same);
                d.stale += (reports.len() - same.len()) as u64;
                d.new_sessions = 1;
                match store.insert_qoe_session(&s).await {
                    Ok(()) => return Ok(d),
                    // Another node opened it first: fold into theirs.
                    Err(CatalogError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(CatalogError::Busy(format!(
        "session {sid} kept changing while its reports were folded"
    )))
}
