//! The claim loop, heartbeats and outcome bookkeeping.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{run_job, JobError};
use crate::catalog::{within, ClaimedJob, JobSource, VideoStatus};
use crate::failure::FailureKind;

/// Longest wait for a claim; past it the loop tries again (a claim that
/// committed anyway just expires its lease and is claimed once more).
const CLAIM_LIMIT: Duration = Duration::from_secs(30);
use crate::state::AppState;

/// Runs one claimed job to its end: heartbeats keep the lease, the outcome
/// is recorded, and on shutdown the job is handed back uncounted.
pub async fn process_job(
    state: &AppState,
    job: ClaimedJob,
    shutdown: CancellationToken,
    on_progress: Option<Arc<dyn Fn(VideoStatus, f64) + Send + Sync>>,
) -> Result<(), JobError> {
    let lease = Duration::from_secs(state.config.worker.lease_s);
    let max_attempts = state.config.worker.max_attempts;
    let (base, cap) = (
        Duration::from_secs(state.config.worker.retry_backoff_s),
        Duration::from_secs(state.config.worker.retry_backoff_max_s),
    );
    let cancel = shutdown.child_token();
    let lost = CancellationToken::new();
    let beat = {
        let (catalog, job, cancel, lost) = (
            state.catalog.jobs.clone(),
            job.clone(),
            cancel.clone(),
            lost.clone(),
        );
        tokio::spawn(async move {
            let every = (lease / 3).max(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                // Bounded by the beat interval: a hung call must not keep
                // the lease from being renewed on the next beat.
                match within(every, "a lease renewal", catalog.renew(&job, lease)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Also happens harmlessly right after a publish
                        // ended the lease; the outcome below tells which.
                        tracing::debug!(job = %job.id, "lease no longer held");
                        lost.cancel();
                        cancel.cancel();
                        return;
                    }
                    // A blip in the catalog is not a lost lease; try again next beat.
                    Err(e) => tracing::warn!(job = %job.id, "heartbeat failed: {e}"),
                }
            }
        })
    };
    tracing::info!(job = %job.id, video = %job.video_id, attempt = job.attempt, "job claimed");
    let result = run_job(state, &job, cancel.clone(), on_progress).await;
    cancel.cancel();
    let _ = beat.await;
    let result = match result {
        Err(JobError::Cancelled) if lost.is_cancelled() => Err(JobError::LeaseLost),
        other => other,
    };
    match &result {
        Ok(()) => tracing::info!(job = %job.id, video = %job.video_id, "video published"),
        Err(JobError::LeaseLost) => {
            tracing::warn!(job = %job.id, "lease lost (deleted, or re-claimed elsewhere); stopped")
        }
        Err(JobError::Cancelled) => {
            tracing::info!(job = %job.id, "releasing job on shutdown");
            state.catalog.jobs.release(&job).await?;
        }
        Err(e) => {
            let kind = e.kind();
            let retry_in = (kind == FailureKind::Transient && job.attempt < max_attempts)
                .then(|| backoff(job.attempt, base, cap));
            tracing::warn!(
                job = %job.id, code = e.code(), ?kind, ?retry_in,
                "attempt {} failed: {e}", job.attempt
            );
            let message = e.user_message();
            if retry_in.is_some() {
                state.catalog.jobs.fail(&job, &message, retry_in).await?;
            } else {
                // For good: announced in the same transaction.
                let a = crate::webhooks::failed_announcement(state, &job.video_id, &message).await;
                state
                    .catalog
                    .jobs
                    .give_up(&job, &message, a.as_ref())
                    .await?;
            }
            if let (None, JobSource::Stored(key)) = (retry_in, &job.source) {
                // Failed for good: the staged upload has no further use.
                state.store.delete(key).await?;
            }
        }
    }
    result
}

/// Wait before retrying after failed attempt number `attempt` (1-based):
/// `base` × 2^(attempt−1), at most `cap`, so a source server or disk that
/// is down gets more room each time instead of a burst of attempts.
pub(crate) fn backoff(attempt: i64, base: Duration, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).clamp(0, 31) as u32;
    base.saturating_mul(1u32 << doublings).min(cap)
}

/// Claims and runs jobs until `shutdown` fires, then waits for running jobs
/// to hand themselves back.
pub async fn run_worker(state: AppState, shutdown: CancellationToken) {
    let lease = Duration::from_secs(state.config.worker.lease_s);
    let max_attempts = state.config.worker.max_attempts;
    let idle = Duration::from_millis(state.config.worker.poll_ms);
    let slots = Arc::new(Semaphore::new(state.config.worker.concurrency));
    let mut running = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        while running.try_join_next().is_some() {}
        if state.is_draining() {
            break;
        }
        match within(
            CLAIM_LIMIT,
            "a claim",
            state.catalog.jobs.claim(lease, max_attempts),
        )
        .await
        {
            Ok(Some(job)) => {
                let (state, shutdown) = (state.clone(), shutdown.clone());
                running.spawn(async move {
                    let _permit = permit;
                    if let Err(e) = process_job(&state, job, shutdown, None).await {
                        tracing::debug!("job ended: {e}");
                    }
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(idle) => {}
                }
            }
            Err(e) => {
                drop(permit);
                tracing::warn!("claiming a job failed: {e}");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(idle * 3) => {}
                }
            }
        }
    }
    while running.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(30), Duration::from_secs(900));
        let waits: Vec<u64> = (1..=7).map(|a| backoff(a, base, cap).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(backoff(0, base, cap), base);
        assert_eq!(backoff(i64::MAX, base, cap), cap);
        assert_eq!(backoff(3, Duration::ZERO, cap), Duration::ZERO);
    }
}
