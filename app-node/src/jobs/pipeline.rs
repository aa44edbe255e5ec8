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
use super::progressive::{Layout, Progressive};
use super::reporter::Reporter;
use super::JobError;
use crate::catalog::{
    new_version, valid_version, ClaimedJob, FinishOutcome, JobSource, Playable, Published,
    VideoStatus,
};
use crate::ingest::download;
use crate::media::{self, LadderOptions, MediaTools, ProbeLimits};
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
        timeout_factor: m.transcode_timeout_factor,
        timeout_margin: std::time::Duration::from_secs(m.transcode_timeout_margin_s),
        preset: m.preset.clone(),
        limits: ProbeLimits {
            max_duration_s: m.max_duration_s,
            max_pixels: m.max_pixels,
            max_fps: m.max_fps,
            max_streams: m.max_streams,
        },
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

/// Removes a version that will never be published (best effort: a failed
/// attempt must report its own error, not this one).
async fn discard(state: &AppState, job: &ClaimedJob, prefix: &str) {
    if let Err(e) = state.store.delete_prefix(prefix).await {
        tracing::warn!(job = %job.id, "unpublished version {prefix} not removed: {e}");
    }
}

/// After the flip, removes every other tree of the video: the version it
/// replaced, and partial versions of attempts that died mid-upload (their
/// nodes were killed), so nothing unreferenced stays in the store.
async fn retire_other_versions(state: &AppState, job: &ClaimedJob, current: &str) {
    let objects = match state.store.list(&job.video_id).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(job = %job.id, "old versions not listed: {e}");
            return;
        }
    };
    let mut versions = std::collections::BTreeSet::new();
    for o in objects {
        let rest = o.key[job.video_id.len()..].trim_start_matches('/');
        match rest.split_once('/') {
            Some((v, _)) if valid_version(v) => {
                if v != current {
                    versions.insert(v.to_string());
                }
            }
            // A tree from before versioning, directly under the video.
            _ => discard_key(state, job, &o.key).await,
        }
    }
    for v in versions {
        discard(state, job, &format!("{}/{v}", job.video_id)).await;
    }
}

async fn discard_key(state: &AppState, job: &ClaimedJob, key: &str) {
    if let Err(e) = state.store.delete(key).await {
        tracing::warn!(job = %job.id, "old file {key} not removed: {e}");
    }
}

/// Runs one attempt; the caller records the outcome in the catalog.
///
/// Whatever ends the attempt before the catalog flip (an error, shutdown,
/// a lost lease, the video deleted) stops ffmpeg, removes the scratch and
/// every object stored under this attempt's version. The flip itself and
/// what follows it are not interrupted: once asked, the catalog decides.
pub async fn run_job(
    state: &AppState,
    job: &ClaimedJob,
    cancel: CancellationToken,
    on_progress: Option<Arc<dyn Fn(VideoStatus, f64) + Send + Sync>>,
) -> Result<(), JobError> {
    sweep_stale(state, job).await;
    let dir = workdir(state, job);
    tokio::fs::create_dir_all(&dir).await?;
    let lost = CancellationToken::new();
    let (reporter, writer) = Reporter::start(state.catalog.jobs.clone(), job.clone(), lost.clone());
    let report = move |s: VideoStatus, p: f64| {
        reporter.set(s, p);
        if let Some(f) = &on_progress {
            f(s, p);
        }
    };
    // A fresh version folder: nothing a viewer may already hold a URL for
    // is ever overwritten, and the catalog flip is the one visible step.
    let version = new_version();
    let prefix = format!("{}/{}", job.video_id, version);
    // The ladder is published while it is encoded. `prepare` starts the
    // publisher once the ladder is planned; it lives here, not in
    // `prepare`, so it can be stopped for sure before a cleanup.
    let mut publisher: Option<Progressive> = None;
    let attempt = Attempt {
        job,
        dir: &dir,
        version: &version,
        started: std::time::Instant::now(),
    };
    // Dropping `prepare` kills ffmpeg (its process group).
    let prepared = tokio::select! {
        r = prepare(state, &attempt, &mut publisher, &cancel, &report) => r,
        _ = cancel.cancelled() => Err(JobError::Cancelled),
        _ = lost.cancelled() => Err(JobError::LeaseLost),
    };
    drop(report);
    let _ = writer.await;
    let result = match prepared {
        Ok(published) => publish(state, job, published).await,
        Err(e) => {
            if let Some(p) = publisher.take() {
                p.stop().await;
            }
            // Viewers may be watching this version (it was playable):
            // point them away first, then remove what the publisher or an
            // interrupted store left of it.
            if let Err(e) = state.catalog.jobs.withdraw(&job.video_id, &version).await {
                tracing::warn!(job = %job.id, "version {version} not withdrawn: {e}");
            }
            discard(state, job, &prefix).await;
            Err(e)
        }
    };
    match tokio::fs::remove_dir_all(&dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(job = %job.id, "scratch not removed: {e}")
        }
        _ => {}
    }
    result
}

/// Flips the catalog to the stored version `published.version`, or, when
/// the lease is gone (lapsed, re-claimed elsewhere, video deleted), removes
/// that version: it never becomes visible.
pub(crate) async fn publish(
    state: &AppState,
    job: &ClaimedJob,
    published: Published,
) -> Result<(), JobError> {
    let mut published = published;
    published.announce =
        crate::webhooks::ready_announcement(state, &job.video_id, &published).await;
    let version = &published.version;
    match state.catalog.jobs.finish(job, &published).await {
        Ok(FinishOutcome::Published) => {
            if let Some(t) = published.time_to_playable_s {
                state.metrics.time_to_playable.observe(t);
            }
            retire_other_versions(state, job, version).await
        }
        Ok(FinishOutcome::LeaseLost) => {
            discard(state, job, &format!("{}/{version}", job.video_id)).await;
            return Err(JobError::LeaseLost);
        }
        Err(e) => {
            // Unknown whether the flip happened, so the version stays; a
            // re-run publishes anew and retires every version but its own.
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

/// One attempt at a job: where it works and what it publishes under.
struct Attempt<'a> {
    job: &'a ClaimedJob,
    /// Scratch folder.
    dir: &'a Path,
    /// Version folder the ladder is stored under.
    version: &'a str,
    /// When the attempt began (for the time until playable).
    started: std::time::Instant,
}

/// Points the catalog at the version being encoded. A lost lease ends the
/// attempt; a catalog failure only delays the video until it is ready.
/// Whether it was.
async fn make_playable(state: &AppState, job: &ClaimedJob, p: &Playable) -> Result<bool, JobError> {
    match state.catalog.jobs.make_playable(job, p).await {
        Ok(FinishOutcome::Published) => {
            state.metrics.time_to_playable.observe(p.time_to_playable_s);
            tracing::info!(job = %job.id, seconds = p.time_to_playable_s, "playable");
            Ok(true)
        }
        Ok(FinishOutcome::LeaseLost) => Err(JobError::LeaseLost),
        Err(e) => {
            tracing::warn!(job = %job.id, "not made playable early: {e}");
            Ok(false)
        }
    }
}

/// Fetch, probe, transcode (published as it is encoded, and made playable
/// once every rendition has its first segments), extras and the rest of
/// the tree under the video's `version`: everything before the final
/// catalog flip.
async fn prepare(
    state: &AppState,
    attempt: &Attempt<'_>,
    publisher: &mut Option<Progressive>,
    cancel: &CancellationToken,
    report: &(dyn Fn(VideoStatus, f64) + Send + Sync),
) -> Result<Published, JobError> {
    let (job, dir, version) = (attempt.job, attempt.dir, attempt.version);
    let prefix = &format!("{}/{version}", job.video_id);
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
    let planned = media::transcode::planned_renditions(&plan);
    let (running, playable) = Progressive::start(
        state.store.clone(),
        Layout {
            prefix: prefix.clone(),
            out: out.clone(),
            renditions: media::transcode::rendition_dirs(&plan),
            master: media::transcode::master_playlist(&plan, planned.clone()).render(),
        },
    );
    let running = publisher.insert(running);
    let cb = |f: f64| report(VideoStatus::Transcoding, FETCH_SHARE + TRANSCODE_SHARE * f);
    let encode = media::transcode::transcode_with_cancel(
        &tools,
        &source,
        &plan,
        info.duration_s,
        &out,
        &cb,
        Some(cancel.clone()),
    );
    tokio::pin!(encode);
    let mut playable = Some(playable);
    let mut made_playable = false;
    let encoded = loop {
        tokio::select! {
            r = &mut encode => break r,
            told = async { playable.as_mut().expect("guarded").await }, if playable.is_some() => {
                playable = None;
                if told.is_ok() {
                    let p = Playable {
                        version: version.to_string(),
                        duration_s: info.duration_s,
                        width: info.width as i64,
                        height: info.height as i64,
                        renditions: planned.clone(),
                        time_to_playable_s: attempt.started.elapsed().as_secs_f64(),
                    };
                    made_playable = make_playable(state, job, &p).await?;
                }
            }
        }
    };
    let outcome = if encoded.is_ok() { "ok" } else { "error" };
    state
        .metrics
        .transcode_seconds
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    // On error the caller stops the publisher and removes the version.
    let encoded = encoded?;
    tracing::info!(
        job = %job.id,
        rungs = encoded.renditions.len(),
        seconds = started.elapsed().as_secs_f64(),
        source_seconds = info.duration_s,
        "transcoded"
    );
    // The poster and the storyboard came from the ladder's own decode;
    // missing ones are logged, never fatal.
    for problem in &encoded.picture_problems {
        tracing::warn!(job = %job.id, "{problem}");
    }
    let has_poster = encoded.poster;
    let has_storyboard = encoded.storyboard.is_some();
    let subtitles = extras::subtitles(&tools, &source, &info, &out, job).await;
    report(VideoStatus::Transcoding, FETCH_SHARE + TRANSCODE_SHARE);
    let sent = running.finish().await?;
    state.store.finish_dir(prefix, &out, &sent).await?;
    // Scratch goes before the catalog flip, so a ready video never has
    // leftovers on disk (run_job also removes it on every other path).
    tokio::fs::remove_dir_all(dir).await?;
    Ok(Published {
        version: version.to_string(),
        duration_s: info.duration_s,
        width: info.width as i64,
        height: info.height as i64,
        has_poster,
        has_storyboard,
        renditions: encoded.renditions,
        subtitles,
        time_to_playable_s: (!made_playable).then(|| attempt.started.elapsed().as_secs_f64()),
        announce: None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalog::{new_id, NewVideo};
    use crate::config::{self, Overrides};

    async fn state(dir: &Path) -> AppState {
        let pairs = [
            ("data_dir", dir.display().to_string()),
            ("node_name", "t".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let cfg = config::load(None, Vec::new(), &Overrides { pairs }).unwrap();
        AppState::open(cfg).await.unwrap()
    }

    fn published(version: &str) -> Published {
        Published {
            version: version.into(),
            duration_s: 2.0,
            width: 320,
            height: 180,
            has_poster: false,
            has_storyboard: false,
            renditions: Vec::new(),
            subtitles: Vec::new(),
            time_to_playable_s: None,
            announce: None,
        }
    }

    /// The worker whose lease lapsed (and was claimed by another) stored
    /// its version and then tries to publish: nothing flips, its version is
    /// removed, and the holder of the lease publishes normally.
    #[tokio::test]
    async fn a_lapsed_lease_never_publishes_and_its_version_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        let id = new_id();
        let nv = NewVideo {
            id: id.clone(),
            title: "lapsed".into(),
            source: "test".into(),
            owner_id: None,
            visibility: crate::catalog::Visibility::Public,
        };
        let src = JobSource::Url("http://127.0.0.1/x.mp4".into());
        state.catalog.videos.create(&nv, &src).await.unwrap();
        let jobs = &state.catalog.jobs;
        let short = Duration::from_millis(200);
        let slow = jobs.claim_for(&id, short, 3).await.unwrap().unwrap();
        tokio::time::sleep(short * 2).await;
        let holder = jobs
            .claim_for(&id, Duration::from_secs(30), 3)
            .await
            .unwrap();
        let holder = holder.expect("the lapsed job is claimable");

        let stale_version = new_version();
        let key = format!("{id}/{stale_version}/master.m3u8");
        state.store.put_bytes(&key, b"#EXTM3U\n").await.unwrap();
        let err = publish(&state, &slow, published(&stale_version))
            .await
            .unwrap_err();
        assert!(matches!(err, JobError::LeaseLost), "{err}");
        assert!(state.store.list(&id).await.unwrap().is_empty());
        let v = state.catalog.videos.get(&id).await.unwrap().unwrap();
        assert_ne!(v.status, VideoStatus::Ready);
        assert_eq!(v.media_version, None);

        let version = new_version();
        let key = format!("{id}/{version}/master.m3u8");
        state.store.put_bytes(&key, b"#EXTM3U\n").await.unwrap();
        publish(&state, &holder, published(&version)).await.unwrap();
        let v = state.catalog.videos.get(&id).await.unwrap().unwrap();
        assert_eq!(
            (v.status, v.media_version),
            (VideoStatus::Ready, Some(version))
        );
        assert_eq!(state.store.list(&id).await.unwrap().len(), 1);
    }
}
