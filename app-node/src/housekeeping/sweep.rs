//! The sweeper.

use std::collections::HashSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::delete::clear_media;
use super::HousekeepingError;
use crate::catalog::VideoStatus;
use crate::state::AppState;

/// Prefix of staged sources in the store (see `catalog::staged_key`).
/// How long a viewer session that never played is kept after its last
/// report (players that opened a page and left, or made-up sessions).
const UNPLAYED_KEEP: Duration = Duration::from_secs(24 * 3600);
const STAGED_PREFIX: &str = "incoming";

/// What one sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Deletes that had stopped half-way and are now finished.
    pub deletes_finished: usize,
    /// Store work files (staging, trash) of dead processes.
    pub work_files: usize,
    /// Staged sources nobody will read again.
    pub staged_sources: usize,
    /// Scratch entries of this node older than the scratch age limit.
    pub scratch: usize,
    /// Viewer sessions with no report for `qoe.keep_days` (a day for
    /// those that never played).
    pub qoe_sessions: u64,
    /// Webhook deliveries unchanged for `webhooks.keep_days`.
    pub webhook_deliveries: u64,
    /// Resumable uploads finished, expired or forgotten.
    pub uploads: crate::uploads::UploadSweep,
}

/// State kept between sweeps.
#[derive(Debug, Default)]
pub struct Sweeper {
    /// Staged sources without a video row at the last sweep: removed if
    /// still orphaned at the next one. An upload stores its source a moment
    /// before the row exists, so one sighting is not proof.
    orphans_seen: HashSet<String>,
}

/// Runs a sweep at start and then every `housekeeping.interval_s` until
/// `stop` is cancelled. Failures are logged and retried at the next round.
pub async fn run_sweeper(state: AppState, stop: CancellationToken) {
    let every = Duration::from_secs(state.config.housekeeping.interval_s);
    let mut sweeper = Sweeper::default();
    loop {
        match sweep_once(&state, &mut sweeper).await {
            Ok(r) if r != SweepReport::default() => tracing::info!(?r, "swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(code = e.code(), "sweep failed: {e}"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One sweep.
pub async fn sweep_once(
    state: &AppState,
    sweeper: &mut Sweeper,
) -> Result<SweepReport, HousekeepingError> {
    let hk = &state.config.housekeeping;
    let abandoned = Duration::from_secs(hk.abandoned_after_s);
    let mut report = SweepReport::default();

    // A worker that held a deleted video's job stops at its next lease
    // renewal; after two leases it has surely stopped writing.
    let settle = Duration::from_secs(state.config.worker.lease_s * 2 + 5);
    for id in state.catalog.videos.stale_deletes(settle).await? {
        clear_media(state.store.as_ref(), &id).await?;
        // Its `video.deleted` event was queued with the tombstone.
        if state.catalog.videos.purge(&id).await? {
            report.deletes_finished += 1;
        }
    }

    report.work_files = state.store.sweep_work_files(abandoned).await?;

    // Before staged sources: finishing an upload stages one.
    match crate::uploads::sweep_uploads(
        &state.catalog,
        state.store.as_ref(),
        &state.config.tmp_dir(),
        Duration::from_secs(state.config.ingest.upload_lock_s),
    )
    .await
    {
        Ok(r) => report.uploads = r,
        Err(e) => tracing::warn!(code = e.code(), "sweeping uploads failed: {e}"),
    }

    let mut still_orphaned = HashSet::new();
    for obj in state.store.list(STAGED_PREFIX).await? {
        let Some(id) = obj
            .key
            .strip_prefix("incoming/")
            .and_then(|k| k.strip_suffix(".src"))
        else {
            continue;
        };
        let gone = match state.catalog.videos.get(id).await? {
            // Read again only by a job that is queued or running.
            Some(v) => matches!(
                v.status,
                VideoStatus::Ready | VideoStatus::Failed | VideoStatus::Deleting
            ),
            None => {
                still_orphaned.insert(obj.key.clone());
                sweeper.orphans_seen.contains(&obj.key)
            }
        };
        if gone {
            state.store.delete(&obj.key).await?;
            report.staged_sources += 1;
        }
    }
    sweeper.orphans_seen = still_orphaned;

    report.scratch = crate::tidy::remove_entries(
        &state.config.tmp_dir(),
        Some(Duration::from_secs(hk.scratch_max_age_s)),
    )
    .await;

    // Last, and not fatal to the sweep: old deliveries and viewer sessions
    // are the least important things here.
    let keep = Duration::from_secs(state.config.webhooks.keep_days.saturating_mul(86_400));
    match state.catalog.webhooks.prune_deliveries(keep).await {
        Ok(n) => report.webhook_deliveries = n,
        Err(e) => tracing::warn!(code = e.code(), "pruning webhook deliveries failed: {e}"),
    }
    let keep = Duration::from_secs(state.config.qoe.keep_days.saturating_mul(86_400));
    match state
        .catalog
        .qoe
        .prune_qoe_sessions(keep, UNPLAYED_KEEP)
        .await
    {
        Ok(n) => report.qoe_sessions = n,
        Err(e) => tracing::warn!(code = e.code(), "pruning viewer sessions failed: {e}"),
    }
    Ok(report)
}
