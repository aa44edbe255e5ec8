//! Folding a body's reports into the stored sessions, one session at a
//! time, without locks: read, fold, write back only if nobody else wrote
//! since the read, else read again.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cmcd::Report;
use super::fold::{fold, open, worth_writing, Delta};
use crate::catalog::{CatalogError, Qoe};
use crate::failure::FailureKind;

/// Read-fold-write rounds before a session's reports are given up on. Each
/// lost round means another report of the same session was folded first
/// (its sequence number only grows), so this is only reached by many
/// concurrent sends for one session.
const ROUNDS: usize = 20;

/// Why reports could not be folded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A new session names a video that does not exist.
    #[error("no video {0}")]
    UnknownVideo(String),
    /// The caller may not open another session now.
    #[error("too many new sessions from this client")]
    TooManySessions,
    /// The session kept changing under concurrent folds.
    #[error("session {0} kept changing while its reports were folded")]
    Contended(String),
}

impl RecordError {
    /// Stable code for logs and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Catalog(e) => e.code(),
            RecordError::UnknownVideo(_) => "video-not-found",
            RecordError::TooManySessions => "too-many-sessions",
            RecordError::Contended(_) => "session-contended",
        }
    }

    /// Whether sending the same reports again may succeed.
    pub fn kind(&self) -> FailureKind {
        match self {
            RecordError::Catalog(e) => e.kind(),
            RecordError::UnknownVideo(_) => FailureKind::Permanent,
            RecordError::TooManySessions | RecordError::Contended(_) => FailureKind::Transient,
        }
    }
}

/// Folds `reports` into their sessions at `now_ms` on this node's clock.
/// `may_open` is asked before a new session is stored. A report naming
/// another video than its session's first one is skipped as stale.
pub async fn record(
    store: &dyn Qoe,
    reports: &[Report],
    now_ms: i64,
    may_open: &(dyn Fn() -> bool + Send + Sync),
) -> Result<Delta, RecordError> {
    let mut by_sid: BTreeMap<&str, Vec<&Report>> = BTreeMap::new();
    for r in reports {
        by_sid.entry(r.sid.as_str()).or_default().push(r);
    }
    let mut total = Delta::default();
    for (sid, mut mine) in by_sid {
        mine.sort_by_key(|r| r.sn);
        total.add(record_session(store, sid, &mine, now_ms, may_open).await?);
    }
    Ok(total)
}

async fn record_session(
    store: &dyn Qoe,
    sid: &str,
    reports: &[&Report],
    now_ms: i64,
    may_open: &(dyn Fn() -> bool + Send + Sync),
) -> Result<Delta, RecordError> {
    for round in 0..ROUNDS {
        if round > 0 {
            // Let the winner's neighbours finish before reading again.
            let jitter = rand::random::<u64>() % 10;
            tokio::time::sleep(Duration::from_millis(jitter + 2 * round as u64)).await;
        }
        match store.qoe_session(sid).await? {
            Some(before) => {
                let (same, other): (Vec<&Report>, Vec<&Report>) =
                    reports.iter().partition(|r| r.cid == before.video_id);
                let mut s = before.clone();
                let mut d = fold(&mut s, &same, now_ms);
                d.stale += other.len() as u64;
                if d.applied == 0 || !worth_writing(&before, &s) {
                    return Ok(d);
                }
                if store.update_qoe_session(&s, before.last_sn).await? {
                    return Ok(d);
                }
            }
            None => {
                if !may_open() {
                    return Err(RecordError::TooManySessions);
                }
                let first = reports[0];
                let mut s = open(first, now_ms);
                let same: Vec<&Report> = reports
                    .iter()
                    .copied()
                    .filter(|r| r.cid == first.cid)
                    .collect();
                let mut d = fold(&mut s, &same, now_ms);
                d.stale += (reports.len() - same.len()) as u64;
                d.new_sessions = 1;
                match store.insert_qoe_session(&s).await {
                    Ok(()) => return Ok(d),
                    // Another node opened it first: fold into theirs.
                    Err(CatalogError::Conflict(_)) => {}
                    Err(CatalogError::NotFound(_)) => {
                        return Err(RecordError::UnknownVideo(first.cid.clone()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(RecordError::Contended(sid.to_string()))
}
