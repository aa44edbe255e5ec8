//! One attempt at turning a source into a published HLS video.
//!
//! Every step writes only into a scratch directory named after the job and
//! lease; nothing is visible until the tree is stored under a new version and the
//! catalog flips to it, so a
//! crash at any point leaves nothing half-written for viewers. A re-run
//! starts from scratch, which makes each step idempotent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::extras;
use super::reporter::Reporter;
use super::JobError;
use crate::catalog::{new_version, ClaimedJob, FinishOutcome, JobSource, Published, VideoStatus};
use crate::ingest::download;
use crate::media::{self, LadderOptions, MediaTools};
use crate::state::AppState;

/// Share of overall progress given to fetching the source.
const FETCH_SHARE: f64 = 0.1;
/// Share given to the transcode; the rest is extras and publishing.
const TRANSCODE_SHARE: f64 = 0.85;

/// Media tool settings from the configuration.
pub fn tools(state: &AppState) -> MediaTools {
    let m = &state.config.media;
    MediaTools {
        ffmpeg: m.ffmpeg.clone(),
        ffprobe: m.ffprobe.clone(),
        timeout: std::time::Duration::from_secs(m.transcode_timeout_s),
        preset: m.preset.clone(),
        max_duration_s: m.max_duration_s,
        ..MediaTools::default()
    }
}

/// Scratch directory of one job attempt.
fn workdir(state: &AppState, job: &ClaimedJob) -> PathBuf {
    state
        .config
        .tmp_dir()
        .join(format!("job-{}-{}", job.id, &job.lease_token[..8]))
}

/// Removes scratch left by earlier attempts of this job (their workers are
/// gone: we hold the lease now).
async fn sweep_stale(state: &AppState, job: &ClaimedJob) {
    let prefix = format!("job-{}-", job.id);
    let Ok(mut rd) = tokio::fs::read_dir(state.config.tmp_dir()).await else {
        return;
    };
    while let Ok(Some(e)) = rd.next_entry().await {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = tokio::fs::remove_dir_all(e.path()).await;
        }
    }
}

/// Runs one attempt; the caller records the outcome in the catalog.
pub async fn run_job(
    state: &AppState,
    job: &ClaimedJob,
    cancel: CancellationToken,
    on_progress: Option<Arc<dyn Fn(VideoStatus, f64) + Send + Sync>>,
) -> Result<(), JobError> {
    sweep_stale(state, job).await;
    let dir = workdir(state, job);
    tokio::fs::create_dir_all(&dir).await?;
    let (reporter, writer) = Reporter::start(state.catalog.jobs.clone(), job.clone());
    let report = move |s: VideoStatus, p: f64| {
        reporter.set(s, p);
        if let Some(f) = &on_progress {
            f(s, p);
        }
    };
    let result = tokio::select! {
        r = steps(state, job, &dir, &cancel, &report) => r,
        _ = cancel.cancelled() => Err(JobError::Cancelled),
    };
    drop(report);
    let _ = writer.await;
    match tokio::fs::remove_dir_all(&dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(job = %job.id, "scratch not removed: {e}")
        }
        _ => {}
    }
    result
}

async fn steps(
    state: &AppState,
    job: &ClaimedJob,
    dir: &Path,
    cancel: &CancellationToken,
    report: &(dyn Fn(VideoStatus, f64) + Send + Sync),
) -> Result<(), JobError> {
    let tools = tools(state);
    let source = dir.join("source");
    report(VideoStatus::Downloading, 0.0);
    match &job.source {
        JobSource::Url(url) => {
            let cb = |got: u64, total: Option<u64>| {
                if let Some(t) = total.filter(|t| *t > 0) {
                    report(
                        VideoStatus::Downloading,
                        FETCH_SHARE * got as f64 / t as f64,
                    );
                }
            };
            download(&state.downloader, url, &source, &cb).await?;
        }
        JobSource::Stored(key) => state.store.fetch_to_file(key, &source).await?,
    }
    report(VideoStatus::Transcoding, FETCH_SHARE);
    let info = media::probe(&tools, &source).await?;
    let plan = media::plan_ladder(&info, &LadderOptions::default());
    let out = dir.join("out");
    tokio::fs::create_dir_all(&out).await?;
    let started = std::time::Instant::now();
    let cb = |f: f64| report(VideoStatus::Transcoding, FETCH_SHARE + TRANSCODE_SHARE * f);
    let encoded = media::transcode::transcode_with_cancel(
        &tools,
        &source,
        &plan,
        info.duration_s,
        &out,
        &cb,
        Some(cancel.clone()),
    )
    .await;
    let outcome = if encoded.is_ok() { "ok" } else { "error" };
    state
        .metrics
        .transcode_seconds
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    let encoded = encoded?;
    tracing::info!(
        job = %job.id,
        rungs = encoded.renditions.len(),
        seconds = started.elapsed().as_secs_f64(),
        source_seconds = info.duration_s,
        "transcoded"
    );
    let has_poster = extras::poster(&tools, &source, &info, &out, job).await;
    let has_storyboard = extras::storyboard(&tools, &source, &info, &out, job).await;
    let subtitles = extras::subtitles(&tools, &source, &info, &out, job).await;
    report(VideoStatus::Transcoding, FETCH_SHARE + TRANSCODE_SHARE);
    // A fresh version folder: nothing a viewer may already hold a URL for
    // is ever overwritten, and the catalog flip below is the one visible step.
    let version = new_version();
    let prefix = format!("{}/{}", job.video_id, version);
    state.store.put_dir(&prefix, &out).await?;
    // Scratch goes before the catalog flip, so a ready video never has
    // leftovers on disk (run_job also removes it on every other path).
    tokio::fs::remove_dir_all(dir).await?;
    let published = Published {
        version: version.clone(),
        duration_s: info.duration_s,
        width: info.width as i64,
        height: info.height as i64,
        has_poster,
        has_storyboard,
        renditions: encoded.renditions,
        subtitles,
    };
    match state.catalog.jobs.finish(job, &published).await {
        Ok(FinishOutcome::Published { previous }) => {
            if let Some(old) = previous.filter(|v| *v != version) {
                let old = format!("{}/{}", job.video_id, old);
                if let Err(e) = state.store.delete_prefix(&old).await {
                    tracing::warn!(job = %job.id, "old version {old} not removed: {e}");
                }
            }
        }
        Ok(FinishOutcome::LeaseLost) => {
            // Deleted meanwhile, or re-claimed elsewhere: nothing points at
            // this version, so it goes.
            state.store.delete_prefix(&prefix).await?;
            return Err(JobError::LeaseLost);
        }
        Err(e) => {
            // Unknown whether the flip happened; a re-run publishes anew
            // and the sweep of unreferenced versions is safe either way.
            return Err(e.into());
        }
    }
    if let JobSource::Stored(key) = &job.source {
        if let Err(e) = state.store.delete(key).await {
            tracing::warn!(job = %job.id, "staged upload not removed: {e}");
        }
    }
    Ok(())
}
